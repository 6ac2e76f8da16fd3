import type { ObjectStore } from '../cloud/ports.js';
import type { ExperimentConfig, ModelName, PersonalizationConfig } from '../config/schema.js';
import { subset } from '../data/mnist.js';
import type { Dataset } from '../data/types.js';
import { evaluate } from '../engine/evaluate.js';
import { weightSpecs } from '../models/index.js';
import { keys } from '../protocol/keys.js';
import { createRandom, deriveSeed } from '../random.js';
import { filledLike } from '../strategies/tensor-math.js';
import { assertSameLayout, decodeModelWeights, encodeModelWeights, WeightsError, type TensorLayout } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import { PipelineRecordError } from './context.js';

/**
 * FedPer (Arivazhagan et al., 2019) through the pipeline. The weights whose names start with one of
 * `personalization.localLayers` are local: each client trains them with the rest but keeps them, round-stamped, at
 * experiments/<id>/clients/<client>/personal/RRRR.bin, and uploads only the shared weights. The aggregator averages
 * the shared weights and leaves the global model's own local layers as they were, so the global model still has a
 * head to be evaluated with. Each client also holds out a fixed, seeded part of its shard, on which it measures its
 * personalized model (global shared layers + its own local layers, after training).
 */

/** Share of each client's shard held out for personalized accuracy: Arivazhagan et al. evaluate on a client-side split too. */
export const PERSONAL_HOLDOUT_FRACTION = 0.2;

export class PersonalizationError extends Error {
  override name = 'PersonalizationError';
}

export function isLocalWeight(name: string, localLayers: readonly string[]): boolean {
  return localLayers.some((prefix) => name.startsWith(prefix));
}

export interface WeightSplit<T extends TensorLayout> {
  /** averaged by the server, in the model's order */
  readonly shared: readonly T[];
  /** kept by each client, in the model's order */
  readonly local: readonly T[];
}

/** Splits weights (or just their layout) into shared and local by name prefix; order within each part is kept. */
export function splitWeights<T extends TensorLayout>(weights: readonly T[], localLayers: readonly string[]): WeightSplit<T> {
  const shared: T[] = [];
  const local: T[] = [];
  for (const tensor of weights) (isLocalWeight(tensor.name, localLayers) ? local : shared).push(tensor);
  return { shared, local };
}

/**
 * The tensors of `parts` laid out as `layout` (names and order). Every tensor of the layout must be in exactly one
 * part, and nothing else may be: a merge can neither drop a layer nor smuggle one in.
 */
export function mergeWeights(layout: readonly TensorLayout[], ...parts: readonly ModelWeights[]): ModelWeights {
  const byName = new Map<string, ModelWeights[number]>();
  for (const tensor of parts.flat()) {
    if (byName.has(tensor.name)) throw new WeightsError(`merging weights: tensor ${JSON.stringify(tensor.name)} is given twice`);
    byName.set(tensor.name, tensor);
  }
  const merged = layout.map(({ name }) => {
    const tensor = byName.get(name);
    if (!tensor) throw new WeightsError(`merging weights: tensor ${JSON.stringify(name)} of the model is missing`);
    byName.delete(name);
    return tensor;
  });
  const [extra] = byName.keys();
  if (extra !== undefined) throw new WeightsError(`merging weights: tensor ${JSON.stringify(extra)} is not a weight of the model`);
  assertSameLayout(merged, layout, 'merging weights');
  return merged;
}

/**
 * What is wrong with `personalization` for `model`, one sentence per problem in the config's error style (empty when
 * nothing is): every prefix must name at least one weight, and at least one weight must stay shared. The config schema
 * cannot check this, as it does not know the models' weight names.
 */
export function personalizationProblems(model: ModelName, personalization: PersonalizationConfig | undefined): string[] {
  if (!personalization) return [];
  const names = weightSpecs(model).map((spec) => spec.name);
  const layers = [...new Set(names.map((name) => name.split('/')[0]!))];
  const problems: string[] = [];
  personalization.localLayers.forEach((prefix, index) => {
    if (!names.some((name) => name.startsWith(prefix))) {
      problems.push(
        `personalization.localLayers[${index}]: ${JSON.stringify(prefix)} is the start of no weight name of model ${JSON.stringify(model)} ` +
          `(its layers: ${layers.join(', ')})`,
      );
    }
  });
  if (names.every((name) => isLocalWeight(name, personalization.localLayers))) {
    problems.push(`personalization.localLayers: must leave at least one layer of model ${JSON.stringify(model)} shared (it names all of ${layers.join(', ')})`);
  }
  return problems;
}

function assertUsable(config: ExperimentConfig, personalization: PersonalizationConfig): void {
  const problems = personalizationProblems(config.model, personalization);
  if (problems.length) throw new PersonalizationError(problems.join('; '));
}

export interface HoldoutSplit {
  readonly train: Dataset;
  /** undefined when the shard is too small to spare a sample (fewer than 2) */
  readonly holdout: Dataset | undefined;
}

/**
 * A seeded random split of `shard`: round(fraction · count) samples held out, at least one and never all of them.
 * The shard and the seed are the same every round, so the split is too. Both parts keep the shard's order.
 */
export function holdoutSplit(shard: Dataset, seed: number, fraction = PERSONAL_HOLDOUT_FRACTION): HoldoutSplit {
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`holdout fraction must be between 0 and 1, exclusive (got ${fraction})`);
  if (shard.count < 2) return { train: shard, holdout: undefined };
  const held = Math.min(shard.count - 1, Math.max(1, Math.round(fraction * shard.count)));
  const order = createRandom(seed).shuffleInPlace(Array.from({ length: shard.count }, (_, index) => index));
  const ascending = (a: number, b: number) => a - b;
  return {
    train: subset(shard, order.slice(held).sort(ascending)),
    holdout: subset(shard, order.slice(0, held).sort(ascending)),
  };
}

/** How many earlier rounds are probed at once for a client's latest local layers. */
const PROBE_BATCH = 8;

/**
 * The latest round before `round` in which the client saved its local layers, or undefined. Probed key by key (newest
 * first) rather than listed: the trainer is granted its own objects, not a listing of the bucket, and a client that
 * trains every round finds round − 1 at the first probe.
 */
export async function latestPersonalRound(store: ObjectStore, experimentId: string, clientId: string, round: number): Promise<number | undefined> {
  for (let newest = round - 1; newest >= 1; newest -= PROBE_BATCH) {
    const candidates = Array.from({ length: Math.min(PROBE_BATCH, newest) }, (_, offset) => newest - offset);
    const found = await Promise.all(candidates.map((candidate) => store.exists(keys.personalLayers(experimentId, clientId, candidate))));
    const index = found.indexOf(true);
    if (index >= 0) return candidates[index];
  }
  return undefined;
}

/** One client's personalized round, as prepared before training. */
export interface PersonalRound {
  readonly localLayers: readonly string[];
  /** the global model's layout: the trained model has it too */
  readonly layout: readonly TensorLayout[];
  /** the global model's shared weights: what the update must match, and what SCAFFOLD's controls cover */
  readonly sharedGlobal: ModelWeights;
  /** the client's local layers this round starts from */
  readonly local: ModelWeights;
  /** the round those local layers were saved in; undefined when they are still the global model's */
  readonly localFromRound: number | undefined;
  /** the model the client trains from: the global shared weights and its own local layers */
  readonly start: ModelWeights;
  readonly trainSet: Dataset;
  readonly holdout: Dataset | undefined;
}

/**
 * Round r for one client: its local layers as saved in its latest round before r (the global model's before it ever
 * trained), and its shard split into training and held-out samples. Reads only rounds before r, so a retried round r
 * starts from exactly the same state even after its first attempt saved round r's layers.
 */
export async function beginPersonalRound(
  store: ObjectStore,
  message: { experimentId: string; round: number; clientId: string },
  args: { config: ExperimentConfig; personalization: PersonalizationConfig; global: ModelWeights; shard: Dataset },
): Promise<PersonalRound> {
  const { experimentId, round, clientId } = message;
  const { config, personalization, global } = args;
  assertUsable(config, personalization);
  const { localLayers } = personalization;
  const split = splitWeights(global, localLayers);
  const localFromRound = await latestPersonalRound(store, experimentId, clientId, round);
  let local = split.local;
  if (localFromRound !== undefined) {
    const key = keys.personalLayers(experimentId, clientId, localFromRound);
    const bytes = await store.get(key);
    if (bytes === undefined) throw new PipelineRecordError(`s3://${store.bucket}/${key} disappeared while it was being read`);
    try {
      local = decodeModelWeights(bytes, split.local);
    } catch (error) {
      throw new PipelineRecordError(`s3://${store.bucket}/${key}: ${(error as Error).message}`);
    }
  }
  const { train, holdout } = holdoutSplit(args.shard, deriveSeed(config.seed, 'holdout', clientId));
  return {
    localLayers,
    layout: global,
    sharedGlobal: split.shared,
    local,
    localFromRound,
    start: mergeWeights(global, split.shared, local),
    trainSet: train,
    holdout,
  };
}

/** SCAFFOLD's correction covers the shared weights only; the local layers, never averaged, train uncorrected. */
export function withZeroLocalCorrection(personal: PersonalRound, sharedCorrection: ModelWeights): ModelWeights {
  return mergeWeights(personal.layout, sharedCorrection, filledLike(personal.local, 0));
}

export interface PersonalRoundResult {
  /** the shared weights: the only part of the trained model that leaves the client */
  readonly shared: ModelWeights;
  /** the personalized model on the held-out samples; undefined when there are none */
  readonly personalized: { readonly accuracy: number; readonly samples: number } | undefined;
}

/**
 * After training: measures the personalized model on the held-out samples and saves its local layers under round r.
 * The caller uploads `shared` and writes the update report afterwards, so once the report exists the layers do too.
 */
export async function finishPersonalRound(
  store: ObjectStore,
  message: { experimentId: string; round: number; clientId: string },
  personal: PersonalRound,
  model: ModelName,
  trained: ModelWeights,
): Promise<PersonalRoundResult> {
  assertSameLayout(trained, personal.layout, 'trained model');
  const { shared, local } = splitWeights(trained, personal.localLayers);
  const evaluation = personal.holdout ? await evaluate({ model, weights: trained, testSet: personal.holdout }) : undefined;
  await store.put(keys.personalLayers(message.experimentId, message.clientId, message.round), encodeModelWeights(local));
  return {
    shared,
    personalized: evaluation && { accuracy: evaluation.accuracy, samples: evaluation.samples },
  };
}

/**
 * An update as a personalized round must send it: it decodes, holds no local-layer tensor, and has exactly the shared
 * layout of the global model. The local-layer check comes first so the reason names what went wrong.
 */
export function decodeSharedUpdate(bytes: Uint8Array, global: readonly TensorLayout[], localLayers: readonly string[]): ModelWeights {
  const update = decodeModelWeights(bytes);
  const leaked = update.filter((tensor) => isLocalWeight(tensor.name, localLayers)).map((tensor) => tensor.name);
  if (leaked.length) {
    throw new PersonalizationError(
      `the update holds local-layer tensor(s) ${leaked.map((name) => JSON.stringify(name)).join(', ')}: ` +
        `personalization.localLayers (${localLayers.join(', ')}) must never leave the client`,
    );
  }
  assertSameLayout(update, splitWeights(global, localLayers).shared, 'weights');
  return update;
}
