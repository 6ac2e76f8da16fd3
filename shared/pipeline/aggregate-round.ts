import type { ObjectStore } from '../cloud/ports.js';
import type { ExperimentConfig } from '../config/schema.js';
import { keys } from '../protocol/keys.js';
import { experimentStrategy, type Strategy } from '../strategies/index.js';
import { decodeModelWeights, encodeModelWeights } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import { adoptProposals, foldSideUploads } from './client-state.js';
import { requireObject } from './context.js';
import { aggregatePrivateRound } from './privacy-round.js';
import type { AcceptedUpdate } from './round-machine.js';
import { combineUpdates } from './robust-round.js';
import { readUnmaskedMean } from './secagg-round.js';
import { elementwise } from '../strategies/tensor-math.js';
import type { WeightedMean } from '../aggregate/weighted-mean.js';
import type { TensorLayout } from '../weights/codec.js';

/** The plain mean's first updates, summed earlier (round-memory.ts), if they fit the global model's averaged layout. */
export type FoldedStart = (global: readonly TensorLayout[]) => { readonly mean: WeightedMean; readonly count: number } | undefined;

/** The global model after round r, and the part of it the strategy's server half averages and steps. */
export async function readAveragedGlobal(store: ObjectStore, strategy: Strategy, experimentId: string, round: number) {
  const model = decodeModelWeights(await requireObject(store, keys.globalModel(experimentId, round)));
  return { model, averaged: [...strategy.server.averagedPart(model)] };
}

/** The strategy's server state after round r (undefined before round 1, or for a stateless strategy). */
export async function readServerState(store: ObjectStore, experimentId: string, round: number): Promise<ModelWeights | undefined> {
  const bytes = await store.get(keys.serverState(experimentId, round));
  return bytes && decodeModelWeights(bytes);
}

/**
 * The round's one aggregation effect: the accepted updates → global model r, the strategy's server state r, and the
 * accepted clients' adopted state. Everything it reads is immutable once the round closes (global model and server
 * state r − 1, the round's updates and the files sent with them), so a retry after a crash anywhere in it writes the
 * same bytes. The strategy's server half decides what is averaged and how the server steps; the state machine knows
 * only who was accepted. Throws what it cannot use (e.g. an accepted update overwritten since) as its decoder's error.
 */
export async function aggregateRound(
  store: ObjectStore,
  config: ExperimentConfig,
  experimentId: string,
  round: number,
  accepted: readonly AcceptedUpdate[],
  folded?: FoldedStart,
): Promise<ModelWeights> {
  const strategy = experimentStrategy(config);
  // DP-FedAvg replaces the weighted mean by a clipped, noised sum over a fixed denominator (privacy-round.ts).
  if (config.privacy) return aggregatePrivateRound(store, config, strategy, experimentId, round, accepted);
  const previous = await readAveragedGlobal(store, strategy, experimentId, round - 1);
  const global = previous.averaged;
  // Poisson sampling (sampling.method "poisson") can choose nobody: the round then proposes no change.
  // Secure aggregation: the stages already unmasked the weighted mean Δ (secagg-round.ts); no update is read here.
  const mean = config.secureAggregation
    ? elementwise('secure aggregation: unmasked mean', [global, await readUnmaskedMean({ store }, experimentId, round, global)], (w, delta) => w + delta)
    : accepted.length > 0
      ? await combineUpdates(store, config, experimentId, round, accepted, global, (update) => strategy.server.combineWeight(update), folded?.(global))
      : global;
  const clients = accepted.map((update) => update.clientId);
  const step = strategy.server.step({
    round,
    global,
    mean,
    state: await readServerState(store, experimentId, round - 1),
    accepted,
    side: await foldSideUploads(store, strategy, { experimentId, round, clients: config.clients }, clients, global),
  });
  const next = strategy.server.complete(previous.model, step.weights);
  await store.put(keys.globalModel(experimentId, round), encodeModelWeights(next));
  if (step.state) await store.put(keys.serverState(experimentId, round), encodeModelWeights(step.state));
  await adoptProposals(store, strategy, { experimentId, round }, clients);
  return next;
}
