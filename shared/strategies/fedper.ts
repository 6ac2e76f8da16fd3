import type { ModelName, PersonalizationConfig } from '../config/schema.js';
import { subset } from '../data/mnist.js';
import type { Dataset } from '../data/types.js';
import { weightSpecs } from '../models/index.js';
import { createRandom, deriveSeed } from '../random.js';
import { assertSameLayout, WeightsError, type TensorLayout } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import { StrategyError } from './errors.js';
import { filledLike } from './tensor-math.js';
import type { ClientHalf, ClientPlan, ServerHalf, Strategy } from './types.js';

/**
 * FedPer (Arivazhagan et al., 2019) as a wrapper around any strategy. The weights whose names start with one of
 * `personalization.localLayers` are local: each client trains them with the rest but keeps them (kept client state
 * "personal", round-stamped) and uploads only the shared weights. The wrapped strategy sees only the shared layers,
 * on both halves. The server leaves the global model's own local layers as they were, so the global model still has
 * a head to be evaluated with. Each client also holds out a fixed, seeded part of its shard, on which its
 * personalized model (global shared layers + its own local layers, after training) is measured.
 */

/** Share of each client's shard held out for personalized accuracy: Arivazhagan et al. evaluate on a client-side split too. */
export const PERSONAL_HOLDOUT_FRACTION = 0.2;
const PERSONAL = 'personal';

export class PersonalizationError extends StrategyError {
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
  return layerProblems(names, personalization.localLayers, `model ${JSON.stringify(model)}`);
}

function layerProblems(names: readonly string[], localLayers: readonly string[], what: string): string[] {
  const layers = [...new Set(names.map((name) => name.split('/')[0]!))];
  const problems: string[] = [];
  localLayers.forEach((prefix, index) => {
    if (!names.some((name) => name.startsWith(prefix))) {
      problems.push(`personalization.localLayers[${index}]: ${JSON.stringify(prefix)} is the start of no weight name of ${what} (its layers: ${layers.join(', ')})`);
    }
  });
  if (names.every((name) => isLocalWeight(name, localLayers))) {
    problems.push(`personalization.localLayers: must leave at least one layer of ${what} shared (it names all of ${layers.join(', ')})`);
  }
  return problems;
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

/** The client's local layers this round starts from: its latest saved ones, or the global model's before it trained. */
function startingLocalLayers(saved: { round: number; weights: ModelWeights } | undefined, globalLocal: ModelWeights): ModelWeights {
  if (!saved) return globalLocal;
  try {
    assertSameLayout(saved.weights, globalLocal, 'local layers');
  } catch (error) {
    throw new PersonalizationError(`the local layers it saved in round ${saved.round} do not fit the model: ${(error as Error).message}`);
  }
  return saved.weights;
}

/** `inner` with FedPer's local layers: both halves of `inner` only ever see the shared layers. */
export function withPersonalization(inner: Strategy, { localLayers }: PersonalizationConfig): Strategy {
  const innerPlans = new WeakMap<ClientPlan, ClientPlan>();
  const split = (model: ModelWeights) => {
    const problems = layerProblems(model.map((tensor) => tensor.name), localLayers, 'the model');
    if (problems.length) throw new PersonalizationError(problems.join('; '));
    return splitWeights(model, localLayers);
  };
  const withoutPersonal = <T>(kept: Readonly<Record<string, T>>) => Object.fromEntries(Object.entries(kept).filter(([slot]) => slot !== PERSONAL));

  const client: ClientHalf = {
    adoptedState: inner.client.adoptedState,
    keptState: [...inner.client.keptState, PERSONAL],
    sideUploads: inner.client.sideUploads,
    readsServerState: inner.client.readsServerState,
    begin(input) {
      const global = split(input.global);
      const saved = input.kept[PERSONAL];
      const local = startingLocalLayers(saved, global.local);
      const { train, holdout } = holdoutSplit(input.shard, deriveSeed(input.seed, 'holdout', input.clientId));
      const innerPlan = inner.client.begin({ ...input, global: global.shared, shard: train, kept: withoutPersonal(input.kept) });
      const correction = innerPlan.objective.gradientCorrection;
      const plan: ClientPlan = {
        ...innerPlan,
        start: mergeWeights(input.global, innerPlan.start, local),
        // The inner strategy's correction covers the shared layers; the local layers, never averaged, train uncorrected.
        objective: correction ? { ...innerPlan.objective, gradientCorrection: mergeWeights(input.global, correction, filledLike(local, 0)) } : innerPlan.objective,
        ...(holdout ? { holdout } : {}),
        log: { ...innerPlan.log, localLayersFrom: saved?.round ?? 'global' },
      };
      innerPlans.set(plan, innerPlan);
      return plan;
    },
    finish(input) {
      assertSameLayout(input.trained, input.global, 'trained model');
      const trained = split(input.trained);
      const innerPlan = innerPlans.get(input.plan);
      if (!innerPlan) throw new Error('personalization: finish was given a plan its begin did not make');
      const result = inner.client.finish({
        ...input,
        global: split(input.global).shared,
        trained: trained.shared,
        plan: innerPlan,
        kept: withoutPersonal(input.kept),
      });
      return { ...result, kept: { ...result.kept, [PERSONAL]: trained.local } };
    },
  };

  const server: ServerHalf = {
    averagedPart: (model) => inner.server.averagedPart(model.filter((tensor) => !isLocalWeight(tensor.name, localLayers))),
    complete: (previous, averaged) => {
      const parts = splitWeights(previous, localLayers);
      return mergeWeights(previous, inner.server.complete([...parts.shared], averaged), parts.local);
    },
    uploadProblem(tensorNames) {
      const leaked = tensorNames.filter((name) => isLocalWeight(name, localLayers));
      if (leaked.length) {
        return (
          `the update holds local-layer tensor(s) ${leaked.map((name) => JSON.stringify(name)).join(', ')}: ` +
          `personalization.localLayers (${localLayers.join(', ')}) must never leave the client`
        );
      }
      return inner.server.uploadProblem(tensorNames);
    },
    combineWeight: (update) => inner.server.combineWeight(update),
    step: (input) => inner.server.step(input),
  };

  return { name: `${inner.name}+fedper`, client, server };
}
