import { performance } from 'node:perf_hooks';
import { clientIdFor } from '../protocol/keys.js';
import { advertiseKeys, createClientSecret, maskedInput, quantizedInput, shareKeys, unmask } from './client.js';
import { hkdfSha256, prgStream, prgWords, utf8 } from './crypto.js';
import {
  type AdvertiseKeys,
  type ClientSecret,
  encodedBytes,
  type MaskedInputNotice,
  type MaskedInputRequest,
  type ShareKeys,
  type ShareKeysRequest,
  type UnmaskRequest,
  type UnmaskResponse,
} from './messages.js';
import type { DistributedNoise } from './noise.js';
import { maxQuantizationBits, type Rounding } from './quantize.js';
import { closeAdvertiseKeys, closeMaskedInput, closeShareKeys } from './server.js';
import { createRoundSetup, graphSeedFor, loadRoundSetup, SecAggError, type RoundSetup } from './setup.js';
import { addMaskedInput, emptyMaskedSum, maskedInputProblem, unmaskSum, type UnmaskedAggregate } from './unmask.js';
import type { SecAggFailure, Verdict } from './verdicts.js';

/**
 * An in-memory round: n clients and the server run every stage through the real stage functions, with messages as
 * JSON-shaped records and dropouts injected per stage. Tests use it to check sums; bench/secagg-core.ts uses it to
 * measure bytes and time per stage. Deterministic for a given `seed`: every client's root secret derives from it.
 */

export const CLIENT_STAGES = ['advertise-keys', 'share-keys', 'masked-input', 'unmask'] as const;
export type ClientStage = (typeof CLIENT_STAGES)[number];

/** Hooks over what travels, in delivery order: to duplicate, reorder, drop or tamper with messages. */
export interface Transforms {
  readonly advertiseKeys?: (messages: AdvertiseKeys[]) => AdvertiseKeys[];
  readonly shareKeysRequests?: (requests: ShareKeysRequest[]) => ShareKeysRequest[];
  readonly shareKeys?: (messages: ShareKeys[]) => ShareKeys[];
  readonly maskedInputRequests?: (requests: MaskedInputRequest[]) => MaskedInputRequest[];
  readonly maskedInputs?: (notices: MaskedInputNotice[]) => MaskedInputNotice[];
  readonly unmaskRequests?: (requests: UnmaskRequest[]) => UnmaskRequest[];
  readonly unmaskResponses?: (responses: UnmaskResponse[]) => UnmaskResponse[];
}

export interface SimulationOptions {
  readonly clients: number;
  readonly vectorLength: number;
  readonly threshold: number;
  /** omitted or null: the complete graph */
  readonly neighbours?: number | null;
  readonly clippingRange?: number;
  /** default: the most the round's client count allows, at most 16 */
  readonly quantizationBits?: number;
  readonly rounding?: Rounding;
  readonly seed?: string;
  /** client ids that go silent at a stage (they send nothing from that stage on) */
  readonly dropouts?: Partial<Record<ClientStage, readonly string[]>>;
  /** client i's update; default: seeded values in [−1.2c, 1.2c], so some are clipped */
  readonly update?: (clientId: string, index: number) => Float32Array;
  /** client i's samples; default: 100 + 7i mod 50 */
  readonly sampleCount?: (clientId: string, index: number) => number;
  readonly noise?: DistributedNoise;
  /** the fewest masked inputs to unmask (distributed DP's m); default: the threshold */
  readonly minContributors?: number;
  readonly transforms?: Transforms;
}

export interface StageMeasure {
  /** bytes each client that took part received (the request) and sent (its message, plus the masked vector) */
  readonly downBytes: readonly number[];
  readonly upBytes: readonly number[];
  /** summed over clients, and the server's close */
  readonly clientMs: number;
  readonly serverMs: number;
}

export interface SimulationReport {
  readonly setup: RoundSetup;
  readonly outcome: { readonly ok: true; readonly aggregate: UnmaskedAggregate } | { readonly ok: false; readonly failure: SecAggFailure };
  /** Σ of the contributors' quantized inputs computed in the clear: what the unmasked sum must equal */
  readonly plainSum: Uint32Array | undefined;
  readonly verdicts: Partial<Record<ClientStage, readonly Verdict[]>>;
  /** client stage functions that refused their request, e.g. a tampered envelope */
  readonly clientErrors: readonly { readonly clientId: string; readonly error: SecAggError }[];
  readonly measures: Partial<Record<'setup' | ClientStage, StageMeasure>>;
  readonly secrets: ReadonlyMap<string, ClientSecret>;
  /** each client's masked vector as it was uploaded (what the server and anyone reading the bucket see) */
  readonly maskedInputs: ReadonlyMap<string, Uint32Array>;
}

const identity = <T>(value: T) => value;

export function defaultUpdate(seed: string, clippingRange: number, vectorLength: number): (clientId: string) => Float32Array {
  return (clientId) => {
    const words = prgWords(hkdfSha256(utf8(seed), new Uint8Array(0), utf8(`update|${clientId}`), 32), vectorLength);
    return Float32Array.from(words, (word) => ((word / 2 ** 32) * 2 - 1) * 1.2 * clippingRange);
  };
}

const DEFAULT_SEED = 'flambda secagg simulation';
const defaultSampleCount = (_: string, i: number) => 100 + ((7 * i) % 50);

/** The round a simulation with these options runs (clients client-000 …, graph seeded by `seed`), without running it. */
export function simulationSetup(options: SimulationOptions): RoundSetup {
  const seed = options.seed ?? DEFAULT_SEED;
  const clientIds = Array.from({ length: options.clients }, (_, i) => clientIdFor(i));
  const sampleCount = options.sampleCount ?? defaultSampleCount;
  const record = createRoundSetup(
    {
      experimentId: 'simulation',
      round: 1,
      clients: clientIds,
      threshold: options.threshold,
      neighbours: options.neighbours,
      clippingRange: options.clippingRange ?? 1,
      quantizationBits: options.quantizationBits ?? Math.min(16, maxQuantizationBits(options.clients)),
      rounding: options.rounding ?? 'stochastic',
      vectorLength: options.vectorLength,
      maxWeight: Math.max(...clientIds.map((id, i) => sampleCount(id, i))),
      minContributors: options.minContributors,
    },
    graphSeedFor(0, seed, 1),
  );
  return loadRoundSetup(record);
}

export function simulateRound(options: SimulationOptions): SimulationReport {
  const seed = options.seed ?? DEFAULT_SEED;
  const setup = simulationSetup(options);
  const { record } = setup;
  const clientIds = record.clients;
  const clippingRange = record.quantization.clippingRange;
  const sampleCount = options.sampleCount ?? defaultSampleCount;
  const samples = new Map(clientIds.map((id, i) => [id, sampleCount(id, i)]));
  const update = options.update ?? defaultUpdate(seed, clippingRange, options.vectorLength);
  const transforms = options.transforms ?? {};
  const silentFrom = new Map<string, number>();
  CLIENT_STAGES.forEach((stage, order) => {
    for (const id of options.dropouts?.[stage] ?? []) if (!silentFrom.has(id)) silentFrom.set(id, order);
  });
  const active = (id: string, stage: ClientStage) => (silentFrom.get(id) ?? Infinity) > CLIENT_STAGES.indexOf(stage);

  const measures: Record<string, StageMeasure> = {};
  const verdicts: Partial<Record<ClientStage, readonly Verdict[]>> = {};
  const clientErrors: { clientId: string; error: SecAggError }[] = [];
  const secrets = new Map<string, ClientSecret>();
  const vectors = new Map<string, Uint32Array>();
  const setupBytes = encodedBytes(record);
  measures.setup = { downBytes: clientIds.map(() => setupBytes), upBytes: [], clientMs: 0, serverMs: 0 };

  /** Runs each client's stage function, timing it; a SecAggError is the client refusing (it drops out). */
  function clientsRun<R, M>(requests: readonly R[], who: (request: R) => string, run: (request: R) => M): { messages: M[]; clientMs: number } {
    const messages: M[] = [];
    let clientMs = 0;
    for (const request of requests) {
      const clientId = who(request);
      const started = performance.now();
      try {
        messages.push(run(request));
      } catch (error) {
        if (!(error instanceof SecAggError)) throw error;
        clientErrors.push({ clientId, error });
      } finally {
        clientMs += performance.now() - started;
      }
    }
    return { messages, clientMs };
  }
  const timed = <T>(work: () => T): [T, number] => {
    const started = performance.now();
    const value = work();
    return [value, performance.now() - started];
  };
  const fail = (failure: SecAggFailure, plainSum?: Uint32Array): SimulationReport => ({ setup, outcome: { ok: false, failure }, plainSum, verdicts, clientErrors, measures, secrets, maskedInputs: vectors });

  // advertise keys
  const advertising = clientIds.filter((id) => active(id, 'advertise-keys'));
  const advertised = clientsRun(advertising, identity, (clientId) => {
    const secret = createClientSecret(setup, clientId, prgStream(hkdfSha256(utf8(seed), new Uint8Array(0), utf8(`root secret|${clientId}`), 32)));
    secrets.set(clientId, secret);
    return advertiseKeys(setup, secret);
  });
  const advertiseMessages = (transforms.advertiseKeys ?? identity)(advertised.messages);
  const [afterAdvertise, advertiseMs] = timed(() => closeAdvertiseKeys(setup, advertiseMessages));
  verdicts['advertise-keys'] = afterAdvertise.verdicts;
  measures['advertise-keys'] = { downBytes: [], upBytes: advertised.messages.map(encodedBytes), clientMs: advertised.clientMs, serverMs: advertiseMs };
  if (!afterAdvertise.ok) return fail(afterAdvertise.failure);
  const { roster } = afterAdvertise.value;

  // share keys
  const shareRequests = (transforms.shareKeysRequests ?? identity)([...afterAdvertise.value.requests]).filter((r) => active(r.clientId, 'share-keys'));
  const shared = clientsRun(shareRequests, (r) => r.clientId, (request) => shareKeys(setup, secrets.get(request.clientId)!, request));
  const [afterShare, shareMs] = timed(() => closeShareKeys(setup, roster, (transforms.shareKeys ?? identity)(shared.messages)));
  verdicts['share-keys'] = afterShare.verdicts;
  measures['share-keys'] = { downBytes: shareRequests.map(encodedBytes), upBytes: shared.messages.map(encodedBytes), clientMs: shared.clientMs, serverMs: shareMs };
  if (!afterShare.ok) return fail(afterShare.failure);

  // masked input
  const maskRequests = (transforms.maskedInputRequests ?? identity)([...afterShare.value.requests]).filter((r) => active(r.clientId, 'masked-input'));
  const masked = clientsRun(maskRequests, (r) => r.clientId, (request) => {
    const index = setup.points.get(request.clientId)! - 1;
    const result = maskedInput(setup, secrets.get(request.clientId)!, request, update(request.clientId, index), samples.get(request.clientId)!, { noise: options.noise });
    secrets.set(request.clientId, result.secret);
    if (!vectors.has(request.clientId)) vectors.set(request.clientId, result.vector);
    return result.notice;
  });
  const [afterMasked, maskedMs] = timed(() => {
    const closing = closeMaskedInput(setup, afterShare.value.requests, (transforms.maskedInputs ?? identity)(masked.messages));
    if (!closing.ok) return { closing, sum: undefined };
    const sum = emptyMaskedSum(setup);
    for (const { clientId } of closing.value.closed.contributors) {
      const vector = vectors.get(clientId)!;
      const problem = maskedInputProblem(closing.value.closed, clientId, vector);
      if (problem !== undefined) throw new Error(`simulation: ${problem}`);
      addMaskedInput(sum, vector);
    }
    return { closing, sum };
  });
  verdicts['masked-input'] = afterMasked.closing.verdicts;
  measures['masked-input'] = {
    downBytes: maskRequests.map(encodedBytes),
    upBytes: masked.messages.map((notice) => encodedBytes(notice) + 4 * notice.words),
    clientMs: masked.clientMs,
    serverMs: maskedMs,
  };
  if (!afterMasked.closing.ok) return fail(afterMasked.closing.failure);
  const { closed } = afterMasked.closing.value;
  const plainSum = emptyMaskedSum(setup);
  for (const { clientId } of closed.contributors) {
    const index = setup.points.get(clientId)! - 1;
    addMaskedInput(plainSum, quantizedInput(setup, secrets.get(clientId)!, update(clientId, index), samples.get(clientId)!, { noise: options.noise }));
  }

  // unmask
  const unmaskRequests = (transforms.unmaskRequests ?? identity)([...afterMasked.closing.value.requests]).filter((r) => active(r.clientId, 'unmask'));
  const answered = clientsRun(unmaskRequests, (r) => r.clientId, (request) => {
    const result = unmask(setup, secrets.get(request.clientId)!, request);
    secrets.set(request.clientId, result.secret);
    return result.response;
  });
  const [afterUnmask, unmaskMs] = timed(() => unmaskSum(setup, roster, closed, afterMasked.sum!, (transforms.unmaskResponses ?? identity)(answered.messages)));
  verdicts.unmask = afterUnmask.verdicts;
  measures.unmask = { downBytes: unmaskRequests.map(encodedBytes), upBytes: answered.messages.map(encodedBytes), clientMs: answered.clientMs, serverMs: unmaskMs };
  if (!afterUnmask.ok) return fail(afterUnmask.failure, plainSum);
  return { setup, outcome: { ok: true, aggregate: afterUnmask.value }, plainSum, verdicts, clientErrors, measures, secrets, maskedInputs: vectors };
}
