import type { ObjectStore } from '../cloud/ports.js';
import { createWeightedMean } from '../aggregate/weighted-mean.js';
import { keys } from '../protocol/keys.js';
import type { ClientResult, ClientRoundInput, KeptState, SideUploadFold, Strategy } from '../strategies/index.js';
import { filledLike } from '../strategies/tensor-math.js';
import { decodeModelWeights, encodeModelWeights } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import { readClientWeights, requireObject } from './context.js';

/**
 * The I/O around a strategy's pure halves: what its client half declares is read before `begin` and written after
 * `finish`, and what its server half needs of the round's accepted clients is folded and adopted. Adopted state and
 * side uploads have the layout of the averaged part of the model (checked here); kept state is checked by the half.
 */

type RoundOf = { readonly experimentId: string; readonly round: number; readonly clientId: string };

/** How many earlier rounds are probed at once for a client's latest kept state. */
const PROBE_BATCH = 8;

/**
 * The latest round before `round` in which the client saved kept slot `slot`, with its bytes. Probed key by key
 * (newest first) rather than listed: the trainer is granted its own objects, not a listing of the bucket, and a
 * client that trains every round finds round − 1 at the first probe. Reads only rounds before `round`, so a retried
 * round starts from exactly the same state even after its first attempt saved this round's.
 */
export async function latestKeptState(store: ObjectStore, { experimentId, round, clientId }: RoundOf, slot: string) {
  for (let newest = round - 1; newest >= 1; newest -= PROBE_BATCH) {
    const candidates = Array.from({ length: Math.min(PROBE_BATCH, newest) }, (_, offset) => newest - offset);
    const bodies = await Promise.all(candidates.map((candidate) => store.get(keys.keptState(experimentId, clientId, slot, candidate))));
    const index = bodies.findIndex((body) => body !== undefined);
    if (index >= 0) return { round: candidates[index]!, bytes: bodies[index]! };
  }
  return undefined;
}

/** Everything the client half's `begin` is given, read from the store as its declarations ask. */
export async function loadClientInput(
  store: ObjectStore,
  message: RoundOf,
  strategy: Strategy,
  base: Omit<ClientRoundInput, 'round' | 'clientId' | 'serverState' | 'adopted' | 'kept'>,
): Promise<ClientRoundInput> {
  const { experimentId, round, clientId } = message;
  const averaged = strategy.server.averagedPart(base.global);
  const serverStateBytes = strategy.client.readsServerState ? await store.get(keys.serverState(experimentId, round - 1)) : undefined;
  const adopted: Record<string, ModelWeights | undefined> = {};
  for (const slot of strategy.client.adoptedState) {
    const bytes = await store.get(keys.adoptedState(experimentId, clientId, slot));
    adopted[slot] = bytes && decodeModelWeights(bytes, averaged);
  }
  const kept: Record<string, KeptState | undefined> = {};
  for (const slot of strategy.client.keptState) {
    const saved = await latestKeptState(store, message, slot);
    kept[slot] = saved && { round: saved.round, weights: decodeModelWeights(saved.bytes) };
  }
  return { ...base, round, clientId, serverState: serverStateBytes && decodeModelWeights(serverStateBytes), adopted, kept };
}

/**
 * The client state `finish` returned: kept state, proposals and side uploads. Written before the update and its
 * report, so once the report exists they do too; a retry rewrites the same keys of the same round.
 */
export async function saveClientResult(store: ObjectStore, message: RoundOf, strategy: Strategy, result: ClientResult): Promise<void> {
  const { experimentId, round, clientId } = message;
  const written = (kind: string, declared: readonly string[], values: Readonly<Record<string, ModelWeights>>) => {
    const missing = declared.filter((slot) => !Object.hasOwn(values, slot));
    const extra = Object.keys(values).filter((slot) => !declared.includes(slot));
    if (missing.length || extra.length) {
      throw new Error(`strategy ${strategy.name}: finish returned ${kind} ${JSON.stringify(Object.keys(values))}, but its client half declares ${JSON.stringify(declared)}`);
    }
    return declared.map((slot) => [slot, values[slot]!] as const);
  };
  for (const [slot, weights] of written('kept state', strategy.client.keptState, result.kept)) {
    await store.put(keys.keptState(experimentId, clientId, slot, round), encodeModelWeights(weights));
  }
  for (const [slot, weights] of written('proposals', strategy.client.adoptedState, result.proposals)) {
    await store.put(keys.clientUpload(experimentId, round, clientId, slot), encodeModelWeights(weights));
  }
  for (const [slot, weights] of written('side uploads', strategy.client.sideUploads, result.side)) {
    await store.put(keys.clientUpload(experimentId, round, clientId, slot), encodeModelWeights(weights));
  }
}

/** The files a client sends with its update besides the update itself: one per adopted slot and side upload. */
export function clientUploadSlots(strategy: Strategy): readonly string[] {
  return [...strategy.client.adoptedState, ...strategy.client.sideUploads];
}

/** Each side upload's unweighted mean over the accepted clients, folded one client at a time. */
export async function foldSideUploads(
  store: ObjectStore,
  strategy: Strategy,
  where: { experimentId: string; round: number; clients: number },
  accepted: readonly string[],
  averaged: ModelWeights,
): Promise<Record<string, SideUploadFold>> {
  const folds: Record<string, SideUploadFold> = {};
  for (const slot of strategy.client.sideUploads) {
    const mean = createWeightedMean(averaged);
    for (const clientId of accepted) {
      mean.add(await readClientWeights(store, keys.clientUpload(where.experimentId, where.round, clientId, slot), clientId, averaged), 1);
    }
    folds[slot] = { mean: accepted.length ? mean.result() : filledLike(averaged, 0), contributors: accepted.length, clients: where.clients };
  }
  return folds;
}

/** After the server step: the accepted clients' proposals become their adopted state. Idempotent. */
export async function adoptProposals(store: ObjectStore, strategy: Strategy, where: { experimentId: string; round: number }, accepted: readonly string[]) {
  for (const slot of strategy.client.adoptedState) {
    for (const clientId of accepted) {
      const proposal = await requireObject(store, keys.clientUpload(where.experimentId, where.round, clientId, slot));
      await store.put(keys.adoptedState(where.experimentId, clientId, slot), proposal);
    }
  }
}
