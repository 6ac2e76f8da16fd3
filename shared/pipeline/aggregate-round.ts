import type { ObjectStore } from '../cloud/ports.js';
import type { ExperimentConfig } from '../config/schema.js';
import { keys } from '../protocol/keys.js';
import { strategyFor } from '../strategies/index.js';
import { decodeModelWeights, encodeModelWeights } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import { requireObject } from './context.js';
import { adoptClientControls, foldControlDeltas } from './control-variates.js';
import { mergeWeights, splitWeights } from './personalization.js';
import { aggregatePrivateRound } from './privacy-round.js';
import type { AcceptedUpdate } from './round-machine.js';
import { combineUpdates } from './robust-round.js';

/**
 * The global model after round r, and the part of it the server averages: all of it, or with personalization its
 * shared layers only. The local layers of the global model are never averaged; they stay as they were at round 0.
 */
export async function readAveragedGlobal(store: ObjectStore, config: ExperimentConfig, experimentId: string, round: number) {
  const model = decodeModelWeights(await requireObject(store, keys.globalModel(experimentId, round)));
  const localLayers = config.personalization?.localLayers;
  const { shared, local } = localLayers ? splitWeights(model, localLayers) : { shared: model, local: [] };
  return { model, averaged: shared, local };
}

/**
 * The round's one aggregation effect: the accepted updates → global model r (and the strategy's server state r, and
 * SCAFFOLD's client control variates). Everything it reads is immutable once the round closes (global model and
 * server state r − 1, the round's updates and control proposals), so a retry after a crash anywhere in it writes the
 * same bytes. Strategy-specific steps live here and only here; the state machine knows only who was accepted.
 * Throws what it cannot use (e.g. an accepted update overwritten since) as the error its decoder raised.
 */
export async function aggregateRound(
  store: ObjectStore,
  config: ExperimentConfig,
  experimentId: string,
  round: number,
  accepted: readonly AcceptedUpdate[],
): Promise<ModelWeights> {
  // DP-FedAvg replaces the weighted mean by a clipped, noised sum over a fixed denominator (privacy-round.ts).
  if (config.privacy) return aggregatePrivateRound(store, config, experimentId, round, accepted);
  const strategy = strategyFor(config.strategy);
  const previous = await readAveragedGlobal(store, config, experimentId, round - 1);
  const global = previous.averaged;
  // Poisson sampling (sampling.method "poisson") can choose nobody: the round then proposes no change.
  const mean = accepted.length > 0 ? await combineUpdates(store, config, experimentId, round, accepted, global) : global;
  const previousServerState = await store.get(keys.serverState(experimentId, round - 1));
  const clients = accepted.map((update) => update.clientId);
  const step = strategy.serverStep({
    round,
    global,
    mean,
    state: previousServerState ? decodeModelWeights(previousServerState) : undefined,
    ...(strategy.controlVariates
      ? { controlVariates: await foldControlDeltas(store, experimentId, round, clients, global, config.clients) }
      : {}),
  });
  const next = previous.local.length ? mergeWeights(previous.model, step.weights, previous.local) : step.weights;
  await store.put(keys.globalModel(experimentId, round), encodeModelWeights(next));
  if (step.state) await store.put(keys.serverState(experimentId, round), encodeModelWeights(step.state));
  if (strategy.controlVariates) await adoptClientControls(store, experimentId, round, clients);
  return next;
}
