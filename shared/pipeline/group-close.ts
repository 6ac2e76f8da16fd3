import { createWeightedMean, type WeightedMean } from '../aggregate/weighted-mean.js';
import type { ExperimentConfig } from '../config/schema.js';
import { keys } from '../protocol/keys.js';
import type { RoundState } from '../protocol/records.js';
import { experimentStrategy } from '../strategies/index.js';
import { assertSameLayout, WeightsError, type TensorLayout } from '../weights/codec.js';
import type { FoldedStart } from './aggregate-round.js';
import { readAveragedGlobal } from './aggregate-round.js';
import { PipelineRecordError, requireObject, type PipelineContext } from './context.js';
import { decodeGroupPartial, encodeGroupPartial, valuesOf, type GroupPartial } from './group-partial.js';
import { mapInOrder } from './ordered-reads.js';
import { groupIndices, type AcceptedUpdate, type Closing, type RoundEvent } from './round-machine.js';
import { foldUpdates } from './robust-round.js';

/**
 * The two closes of a split round (config round.groups, round-groups.ts): a group's, which sums its accepted updates
 * instead of averaging them, and the round's, which adds the groups' sums in group order. Both read only what is
 * immutable once written (updates, the global model r − 1, the partial sums), so every retry writes the same bytes.
 */

/** A group's close: the sum of its accepted updates in `accepted`'s order, after `folded` (a warm aggregator's prefix). */
export async function writeGroupPartial(
  context: PipelineContext,
  config: ExperimentConfig,
  group: RoundState,
  closing: Closing,
  accepted: readonly AcceptedUpdate[],
  folded: FoldedStart,
): Promise<void> {
  const { experimentId, round } = group;
  if (group.group === undefined) throw new Error(`round ${round} of ${experimentId}: a partial sum is a group's close`);
  const strategy = experimentStrategy(config);
  const { averaged } = await readAveragedGlobal(context.store, strategy, experimentId, round - 1);
  const mean = await foldUpdates(context.store, config, experimentId, round, accepted, averaged, (update) => strategy.server.combineWeight(update), folded(averaged));
  const partial: GroupPartial = {
    group: group.group,
    reason: closing.reason,
    ...(closing.lastUpdateAt ? { lastUpdateAt: closing.lastUpdateAt } : {}),
    verdicts: closing.verdicts,
    layout: averaged.map(({ name, shape }) => ({ name, shape: [...shape] })),
    count: mean.count,
    totalSamples: mean.totalSamples,
    sums: mean.sums,
  };
  await context.store.put(keys.groupPartial(experimentId, round, group.group), encodeGroupPartial(partial));
}

/** Every group's partial sum of a split round, in group order (10 read at a time). */
export async function readGroupPartials(context: PipelineContext, round: RoundState): Promise<GroupPartial[]> {
  return mapInOrder(groupIndices(round), async (group) => {
    const key = keys.groupPartial(round.experimentId, round.round, group);
    const partial = decodeGroupPartial(await requireObject(context.store, key), `s3://${context.store.bucket}/${key}`);
    if (partial.group !== group) throw new PipelineRecordError(`s3://${context.store.bucket}/${key} says it is group ${partial.group}'s`);
    return partial;
  });
}

/** The split round's answers, as its groups recorded them: what the round machine decides its close on. */
export function answersFromPartials(partials: readonly GroupPartial[]): Extract<RoundEvent, { type: 'answers' }> {
  const latest = partials.flatMap((partial) => (partial.lastUpdateAt ? [partial.lastUpdateAt] : [])).sort().at(-1);
  return {
    type: 'answers',
    reason: partials.some((partial) => partial.reason === 'deadline') ? 'deadline' : 'all-reported',
    verdicts: partials.flatMap((partial) => partial.verdicts),
    discovered: [],
    ...(latest ? { lastUpdateAt: latest } : {}),
  };
}

/**
 * The groups' partial sums added in group order, as the fold the round's aggregation starts from: every accepted
 * update is in one of them, so nothing more is read.
 */
export function addPartials(partials: readonly GroupPartial[], accepted: readonly AcceptedUpdate[], global: readonly TensorLayout[]): { mean: WeightedMean; count: number } {
  const mean = createWeightedMean(global.map(({ name, shape }) => ({ name, shape: [...shape], values: new Float32Array(valuesOf(shape)) })));
  for (const partial of partials) {
    assertSameLayout(partial.layout, global, `group ${partial.group}'s partial sum`);
    mean.addSums(partial.sums, partial.count, partial.totalSamples);
  }
  if (mean.count !== accepted.length) {
    throw new WeightsError(`the groups' partial sums hold ${mean.count} update(s), their verdicts accept ${accepted.length}`);
  }
  return { mean, count: accepted.length };
}
