import { createWeightedMean, type WeightedMean } from '../aggregate/weighted-mean.js';
import type { ObjectStore } from '../cloud/ports.js';
import { decodeUpdate, decodeUpdateWeights } from '../compression/index.js';
import type { ExperimentConfig } from '../config/schema.js';
import { keys } from '../protocol/keys.js';
import { aggregateUpdates, applyFlatDelta, flatLength, holdsAllUpdates, type RobustUpdate } from '../robust/index.js';
import { RobustAggregationError } from '../robust/types.js';
import { decodeModelWeights, encodeModelWeights, WeightsError } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import { readClientWeights, requireObject } from './context.js';
import type { AcceptedUpdate } from './round-machine.js';
import { forEachInOrder, mapInOrder } from './ordered-reads.js';

/**
 * The server half's combine step, between the accepted updates and the strategy's server step: what the strategy gets
 * as its "mean". The plain mean folds one update at a time (float32 weights as before, or a compressed Δ decoded onto
 * the global model); a robust aggregator (config `aggregator`) decodes every update to its Δ, holds them all, and
 * returns global + its robust Δ, so every strategy's server step moves along it as it would along the mean.
 * Everything it reads is immutable once the round closes, so a retry returns the same weights. `folded`: the plain
 * mean of the first `count` accepted updates, summed by a warm aggregator as it checked them (round-memory.ts): the
 * fold goes on from there, with the same additions in the same order as one from scratch.
 */
export async function combineUpdates(
  store: ObjectStore,
  config: ExperimentConfig,
  experimentId: string,
  round: number,
  accepted: readonly AcceptedUpdate[],
  global: ModelWeights,
  weightOf: (update: AcceptedUpdate) => number,
  folded?: { readonly mean: WeightedMean; readonly count: number },
): Promise<ModelWeights> {
  const aggregator = config.aggregator;
  const compression = config.compression;
  if (!aggregator || !holdsAllUpdates(aggregator)) {
    return (await foldUpdates(store, config, experimentId, round, accepted, global, weightOf, folded)).result();
  }

  const updates: RobustUpdate[] = await mapInOrder(accepted, async (update) => {
    const { clientId } = update;
    const key = keys.update(experimentId, round, clientId);
    const { flat } = decodeUpdate(await requireObject(store, key), global, { compression, context: `${clientId}'s ${key}` });
    // The strategy's combine weight (FedAvg's: the sample count) is what sample-weighted robust rules weigh by.
    return { delta: flat, samples: weightOf(update) };
  });
  const previousAggregate = aggregator.kind === 'centered-clipping' ? await readCentre(store, experimentId, round - 1, global) : undefined;
  let outcome;
  try {
    outcome = aggregateUpdates(aggregator, updates, { previousAggregate });
  } catch (error) {
    if (error instanceof RobustAggregationError) {
      throw new RobustAggregationError(`aggregator "${aggregator.kind}" cannot combine the ${updates.length} accepted updates of round ${round}: ${error.message}`, { cause: error });
    }
    throw error;
  }
  if (aggregator.kind === 'centered-clipping') {
    await store.put(keys.robustState(experimentId, round), encodeModelWeights([{ name: 'centre', shape: [outcome.delta.length], values: outcome.delta }]));
  }
  return applyFlatDelta(global, outcome.delta);
}

/**
 * The plain mean's running sums over `accepted`, folded in that order after `folded` (the first `folded.count` of
 * them, summed earlier): reads overlap (bounded), the fold keeps the order, so its float result is the same on every
 * retry. A split round's group (round-groups.ts) writes these sums as its partial.
 */
export async function foldUpdates(
  store: ObjectStore,
  config: Pick<ExperimentConfig, 'compression'>,
  experimentId: string,
  round: number,
  accepted: readonly AcceptedUpdate[],
  global: ModelWeights,
  weightOf: (update: AcceptedUpdate) => number,
  folded?: { readonly mean: WeightedMean; readonly count: number },
): Promise<WeightedMean> {
  const compression = config.compression;
  const mean = folded?.mean ?? createWeightedMean(global);
  await forEachInOrder(
    folded ? accepted.slice(folded.count) : accepted,
    async ({ clientId }) => {
      const key = keys.update(experimentId, round, clientId);
      return compression
        ? decodeUpdateWeights(await requireObject(store, key), global, { compression, context: `${clientId}'s ${key}` })
        : readClientWeights(store, key, clientId, global);
    },
    (weights, update) => mean.add(weights, weightOf(update)),
  );
  return mean;
}

/** Centered clipping's centre: the previous round's aggregated Δ (zeros before the first round, or after a mean round). */
async function readCentre(store: ObjectStore, experimentId: string, round: number, global: ModelWeights): Promise<Float32Array | undefined> {
  if (round < 1) return undefined;
  const bytes = await store.get(keys.robustState(experimentId, round));
  if (!bytes) return undefined;
  const [centre] = decodeModelWeights(bytes);
  if (!centre || centre.values.length !== flatLength(global)) {
    throw new WeightsError(`${keys.robustState(experimentId, round)}: the centered-clipping centre does not have the model's ${flatLength(global)} values`);
  }
  return centre.values;
}
