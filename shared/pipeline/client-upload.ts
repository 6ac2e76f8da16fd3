import { adversaryClients, attackUpdate, flipShardLabels, needsColludingUpdates, poisonsData, poisonsUpdate } from '../attacks/index.js';
import type { ObjectStore } from '../cloud/ports.js';
import { compress, compressionSeed, encodeCompressedUpdate, weightsDelta } from '../compression/index.js';
import type { ExperimentConfig } from '../config/schema.js';
import type { Dataset } from '../data/types.js';
import { trainLocal } from '../engine/train.js';
import { keys } from '../protocol/keys.js';
import { roundStateSchema } from '../protocol/records.js';
import { deriveSeed } from '../random.js';
import { applyFlatDelta, flatDelta, unflatten } from '../robust/index.js';
import { flattenWeights } from '../secagg/weights-adapter.js';
import type { ClientObjective } from '../strategies/types.js';
import { decodeModelWeights, encodeModelWeights } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import { requireRecord } from './context.js';
import { loadClientData } from './datasets.js';
import { isCompressed } from './update-format.js';
import { clientIds } from './rounds.js';
import { latestKeptState } from './client-state.js';

/** The kept client state slot of compression's error-feedback residual. */
const RESIDUAL = 'residual';

/**
 * The client half's last step, between local training and the upload: the simulated attack (config `adversaries`)
 * and the update's encoding (config `compression`). Without either section the trained weights are uploaded as
 * float32 exactly as before. The attack is the simulation's, never the server's: the server is not told who attacks
 * (the round metrics record it from the config, for the report).
 */

/** Whether this client is one of the experiment's simulated attackers (a seeded choice, the same in every round). */
export function isAttacker(config: ExperimentConfig, clientId: string): boolean {
  return config.adversaries !== undefined && adversaryClients(config.adversaries, clientIds(config), config.seed).includes(clientId);
}

/** The attackers among the clients asked to train a round, in the round's order. */
export function attackersAmong(config: ExperimentConfig, expected: readonly string[]): string[] {
  if (!config.adversaries) return [];
  const attackers = new Set(adversaryClients(config.adversaries, clientIds(config), config.seed));
  return expected.filter((clientId) => attackers.has(clientId));
}

/** Label flipping poisons the data, not the update: an attacker trains on its shard with every label mirrored. */
export function shardToTrainOn(config: ExperimentConfig, clientId: string, shard: Dataset): Dataset {
  return config.adversaries && poisonsData(config.adversaries) && isAttacker(config, clientId) ? flipShardLabels(shard) : shard;
}

export interface UploadInput {
  readonly config: ExperimentConfig;
  /** what the server averages of the global model (all of it, or the shared layers) */
  readonly global: ModelWeights;
  /** the trained weights of the same layout */
  readonly trained: ModelWeights;
  /** the strategy's local objective, for an ALIE attacker recomputing its fellow attackers' honest updates */
  readonly objective: ClientObjective;
}

/** The bytes to upload (FLW1 float32 weights, or an FLW2 compressed Δ); saves the error-feedback residual first. */
export async function encodeUpload(store: ObjectStore, message: { experimentId: string; round: number; clientId: string }, input: UploadInput): Promise<Uint8Array> {
  const { config, global, trained } = input;
  const { round, clientId } = message;
  const attacks = poisonsUpload(config, clientId);
  const compression = config.compression;
  if (!attacks && !isCompressed(compression)) return encodeModelWeights(trained);

  let delta: ModelWeights = weightsDelta(trained, global);
  if (attacks) {
    const honest = flatDelta(trained, global);
    const colluding = needsColludingUpdates(config.adversaries!) ? await colludingHonestDeltas(store, message, input, honest) : undefined;
    const attacked = attackUpdate(config.adversaries!, honest, {
      seed: attackSeed(config, round, clientId),
      colluding: colluding?.deltas,
      roundUpdates: colluding?.roundUpdates,
    });
    if (!isCompressed(compression)) return encodeModelWeights(applyFlatDelta(global, attacked));
    delta = unflatten(attacked, global);
  }
  return encodeCompressedDelta(store, message, config, delta, global);
}

/** Whether this client is a simulated attacker whose attack acts on its upload (not on its labels). */
function poisonsUpload(config: ExperimentConfig, clientId: string): boolean {
  return config.adversaries !== undefined && poisonsUpdate(config.adversaries) && isAttacker(config, clientId);
}

const attackSeed = (config: ExperimentConfig, round: number, clientId: string) => deriveSeed(config.seed, 'attack', round, clientId);

/**
 * What a DP client uploads: its clipped Δ, attacked if it is one of the simulated attackers (a poisoned update is
 * clipped again by the aggregator, which bounds what it can do: docs/privacy.md), then compressed if configured.
 * "A little is enough" is refused with privacy: its attackers would need their fellows' unclipped updates.
 */
export async function encodePrivateUpload(
  store: ObjectStore,
  message: { experimentId: string; round: number; clientId: string },
  config: ExperimentConfig,
  clippedDelta: ModelWeights,
  global: ModelWeights,
): Promise<Uint8Array> {
  const { round, clientId } = message;
  const delta = poisonsUpload(config, clientId)
    ? unflatten(attackUpdate(config.adversaries!, flattenWeights(clippedDelta).vector, { seed: attackSeed(config, round, clientId) }), global)
    : clippedDelta;
  return encodeCompressedDelta(store, message, config, delta, global);
}

/**
 * An update Δ as the configured compression encodes it (FLW2), with error feedback's residual added first and the
 * new residual saved before the update. Also what a DP client sends: its clipped Δ, compressed; the aggregator clips
 * the decoded Δ again, so the guarantee holds whatever the compression did to it.
 */
export async function encodeCompressedDelta(
  store: ObjectStore,
  message: { experimentId: string; round: number; clientId: string },
  config: ExperimentConfig,
  delta: ModelWeights,
  global: ModelWeights,
): Promise<Uint8Array> {
  const { experimentId, round, clientId } = message;
  const compression = config.compression;
  if (!isCompressed(compression)) return encodeModelWeights(delta);
  const residual = compression.errorFeedback ? await readLatestResidual(store, experimentId, clientId, round, global) : undefined;
  const compressed = compress(delta, residual, compression, compressionSeed(config.seed, round, clientId));
  // Saved before the update: a retried round finds the residual of round r and still starts from round r − 1's.
  if (compressed.residual) await store.put(keys.keptState(experimentId, clientId, RESIDUAL, round), encodeModelWeights(compressed.residual));
  return encodeCompressedUpdate(compressed.payload);
}

/** The residual the client kept after the last round before `round` it trained in (kept client state "residual"). */
async function readLatestResidual(store: ObjectStore, experimentId: string, clientId: string, round: number, global: ModelWeights): Promise<ModelWeights | undefined> {
  const saved = await latestKeptState(store, { experimentId, round, clientId }, RESIDUAL);
  return saved && decodeModelWeights(saved.bytes, global);
}

/**
 * "A little is enough" needs the honest updates of the round's attackers (the paper's colluding attackers, who see
 * each other's updates but no honest client's). Trainers are independent invocations, so the simulation makes each
 * attacker omniscient about its fellows: it reads who was sampled (the round state) and retrains every other sampled
 * attacker's shard from the same global model with that client's own seed, which is the update that client computes
 * honestly. Every attacker thus uploads the same μ − z·σ. It costs f trainings per attacker (f² per round): a
 * simulation cost, never paid by honest clients or the server.
 */
async function colludingHonestDeltas(
  store: ObjectStore,
  message: { experimentId: string; round: number; clientId: string },
  input: UploadInput,
  own: Float32Array,
): Promise<{ deltas: Float32Array[]; roundUpdates: number }> {
  const { experimentId, round, clientId } = message;
  const { config, global, objective } = input;
  const state = await requireRecord(store, keys.roundState(experimentId, round), roundStateSchema);
  const deltas: Float32Array[] = [];
  for (const fellow of attackersAmong(config, state.expected)) {
    if (fellow === clientId) {
      deltas.push(own);
      continue;
    }
    const shard = await loadClientData(store, experimentId, config, fellow);
    const result = await trainLocal({
      model: config.model,
      weights: global,
      shard,
      local: config.local,
      seed: deriveSeed(config.seed, 'train', round, fellow),
      objective,
    });
    deltas.push(flatDelta(result.weights, global));
  }
  return { deltas, roundUpdates: state.expected.length };
}
