import { addPrgWords, fromBase64, KEY_BYTES, prgStream, type RandomBytes, SecAggCryptoError, sha256Hex, systemRandomBytes, toBase64 } from './crypto.js';
import { deriveClientKeys, envelopesDigest, openEnvelope, pairwiseMaskSeed, publicKeysOf, sealEnvelope, unmaskSplitDigest } from './derive.js';
import {
  type AdvertiseKeys,
  type ClientSecret,
  encodeMaskedInput,
  ENVELOPE_PLAINTEXT_BYTES,
  type IncomingEnvelope,
  type MaskedInputNotice,
  type MaskedInputRequest,
  PROTOCOL,
  type ShareKeys,
  type ShareKeysRequest,
  type UnmaskRequest,
  type UnmaskResponse,
} from './messages.js';
import type { DistributedNoise } from './noise.js';
import { quantizeUpdate } from './quantize.js';
import { SecAggError, type RoundSetup, type Stage } from './setup.js';
import { SHARE_BYTES, splitSecret } from './shamir.js';

/**
 * The client half: one pure function per stage, (setup, secret, request) → message (and the secret to persist
 * before the message is sent). Nothing here reads a clock or a random source except createClientSecret, so a stage
 * retried after a crash sends the same bytes again, and a request that differs from the one already answered is
 * refused rather than answered twice.
 */

/** A fresh root secret for one client and round: the only randomness a client draws. Persist it before advertising. */
export function createClientSecret(setup: RoundSetup, clientId: string, random: RandomBytes = systemRandomBytes): ClientSecret {
  if (!setup.points.has(clientId)) throw new SecAggError('advertise-keys', `${clientId} is not a client of this round`);
  const { experimentId, round } = setup.record;
  return { protocol: PROTOCOL, experimentId, round, kind: 'client-secret', clientId, rootSecret: toBase64(random(KEY_BYTES)) };
}

function checkAddressing(stage: Stage, setup: RoundSetup, secret: ClientSecret, message: { experimentId: string; round: number; clientId: string }): void {
  const { experimentId, round } = setup.record;
  if (secret.experimentId !== experimentId || secret.round !== round) throw new SecAggError(stage, `the client secret is for ${secret.experimentId} round ${secret.round}, not ${experimentId} round ${round}`);
  if (message.experimentId !== experimentId || message.round !== round) throw new SecAggError(stage, `the request is for ${message.experimentId} round ${message.round}, not ${experimentId} round ${round}`);
  if (message.clientId !== secret.clientId) throw new SecAggError(stage, `the request is addressed to ${message.clientId}, not ${secret.clientId}`);
}

/** Neighbour ids must be this client's graph neighbours, each once, and at least t of them. */
function checkNeighbours(stage: Stage, setup: RoundSetup, clientId: string, neighbourIds: readonly string[]): void {
  const mine = new Set(setup.graph.get(clientId));
  const seen = new Set<string>();
  for (const id of neighbourIds) {
    if (!mine.has(id)) throw new SecAggError(stage, `${id} is not a neighbour of ${clientId}`);
    if (seen.has(id)) throw new SecAggError(stage, `${id} is listed twice`);
    seen.add(id);
  }
  if (neighbourIds.length < setup.threshold) {
    throw new SecAggError(
      stage,
      `${clientId} has ${neighbourIds.length} of its ${setup.neighbourCount} neighbours left; its secrets need ${setup.threshold} of them (the threshold) to be recoverable`,
    );
  }
}

/** Stage 1: the client's two public keys. */
export function advertiseKeys(setup: RoundSetup, secret: ClientSecret): AdvertiseKeys {
  checkAddressing('advertise-keys', setup, secret, secret);
  const keys = publicKeysOf(deriveClientKeys(setup.record, secret));
  const { experimentId, round } = setup.record;
  return {
    protocol: PROTOCOL,
    experimentId,
    round,
    kind: 'advertise-keys',
    clientId: secret.clientId,
    cipherPublicKey: toBase64(keys.cipherPublicKey),
    maskPublicKey: toBase64(keys.maskPublicKey),
  };
}

/**
 * Stage 2: Shamir-share b_u and s_u^SK t-of-k among the neighbours that advertised, and encrypt each neighbour's pair
 * of shares to it. The polynomials come from the secret, not from the request, so every share ever sent lies on the
 * same two polynomials, whichever neighbours a (retried) request lists.
 */
export function shareKeys(setup: RoundSetup, secret: ClientSecret, request: ShareKeysRequest): ShareKeys {
  checkAddressing('share-keys', setup, secret, request);
  const self = secret.clientId;
  checkNeighbours('share-keys', setup, self, request.neighbours.map((n) => n.clientId));
  const keys = deriveClientKeys(setup.record, secret);
  const own = publicKeysOf(keys);
  const ownKeys = new Set([toBase64(own.cipherPublicKey), toBase64(own.maskPublicKey)]);
  for (const n of request.neighbours) {
    if (ownKeys.has(n.cipherPublicKey) || ownKeys.has(n.maskPublicKey)) throw new SecAggError('share-keys', `${n.clientId} advertised one of ${self}'s own public keys`);
  }
  const points = request.neighbours.map((n) => setup.points.get(n.clientId)!);
  const selfMaskShares = splitSecret(keys.selfMaskSeed, points, setup.threshold, prgStream(keys.selfMaskPolynomialSeed));
  const maskKeyShares = splitSecret(keys.maskPrivateKey, points, setup.threshold, prgStream(keys.maskKeyPolynomialSeed));
  const envelopes = request.neighbours.map((neighbour, i) => {
    const plaintext = new Uint8Array(ENVELOPE_PLAINTEXT_BYTES);
    plaintext.set(selfMaskShares[i]!, 0);
    plaintext.set(maskKeyShares[i]!, SHARE_BYTES);
    const recipientKey = fromBase64(neighbour.cipherPublicKey, KEY_BYTES, `${neighbour.clientId}'s cipher key`);
    return { to: neighbour.clientId, ciphertext: toBase64(sealEnvelope(setup.record, keys.cipherPrivateKey, recipientKey, self, neighbour.clientId, plaintext)) };
  });
  const { experimentId, round } = setup.record;
  return { protocol: PROTOCOL, experimentId, round, kind: 'share-keys', clientId: self, envelopes };
}

interface OpenedShares {
  readonly selfMaskShare: Uint8Array;
  readonly maskKeyShare: Uint8Array;
}

function openAll(stage: Stage, setup: RoundSetup, secret: ClientSecret, cipherPrivateKey: Uint8Array, neighbours: readonly IncomingEnvelope[]): Map<string, OpenedShares> {
  const opened = new Map<string, OpenedShares>();
  for (const n of neighbours) {
    let plaintext: Uint8Array;
    try {
      const senderKey = fromBase64(n.cipherPublicKey, KEY_BYTES, `${n.clientId}'s cipher key`);
      plaintext = openEnvelope(setup.record, cipherPrivateKey, senderKey, n.clientId, secret.clientId, fromBase64(n.ciphertext));
    } catch (error) {
      if (error instanceof SecAggCryptoError) throw new SecAggError(stage, `the envelope from ${n.clientId} does not open: ${error.message}`);
      throw error;
    }
    opened.set(n.clientId, { selfMaskShare: plaintext.subarray(0, SHARE_BYTES), maskKeyShare: plaintext.subarray(SHARE_BYTES) });
  }
  return opened;
}

export interface MaskedInputOptions {
  /** distributed DP: the client's share of the noise, added to the update before quantization */
  readonly noise?: DistributedNoise | undefined;
}

export interface MaskedInputResult {
  readonly notice: MaskedInputNotice;
  /** the masked words: upload encodeMaskedInput(vector) */
  readonly vector: Uint32Array;
  /** persist before uploading: it records the envelopes masked with */
  readonly secret: ClientSecret;
}

/**
 * The words the client masks: its update (plus its noise share) quantized and weighted, as quantizeUpdate defines.
 * Exported so a test can compare the unmasked sum with the plain sum of exactly these.
 */
export function quantizedInput(setup: RoundSetup, secret: ClientSecret, update: Float32Array, sampleCount: number, options: MaskedInputOptions = {}): Uint32Array {
  const { vectorLength, maxWeight, quantization } = setup.record;
  if (update.length !== vectorLength) throw new SecAggError('masked-input', `the update has ${update.length} values; the round's vector has ${vectorLength}`);
  const keys = deriveClientKeys(setup.record, secret);
  let values = update;
  if (options.noise !== undefined) {
    values = update.slice();
    options.noise.addTo(values, prgStream(keys.noiseSeed));
  }
  try {
    return quantizeUpdate(values, sampleCount, maxWeight, quantization, prgStream(keys.roundingSeed));
  } catch (error) {
    throw new SecAggError('masked-input', error instanceof Error ? error.message : String(error));
  }
}

/**
 * Stage 3: y_u = q(x_u) + PRG(b_u) + Σ_{v<u} PRG(s_uv) − Σ_{v>u} PRG(s_uv) mod 2³², over the neighbours that shared
 * keys (order by Shamir point). Opening every envelope first proves each one is intact before anything is sent.
 */
export function maskedInput(
  setup: RoundSetup,
  secret: ClientSecret,
  request: MaskedInputRequest,
  update: Float32Array,
  sampleCount: number,
  options: MaskedInputOptions = {},
): MaskedInputResult {
  checkAddressing('masked-input', setup, secret, request);
  const self = secret.clientId;
  checkNeighbours('masked-input', setup, self, request.neighbours.map((n) => n.clientId));
  const digest = envelopesDigest(request.neighbours);
  if (secret.maskedInputFor !== undefined && secret.maskedInputFor !== digest) {
    throw new SecAggError('masked-input', `${self} already sent a masked input for a different set of neighbours; a second one would leak the difference`);
  }
  const keys = deriveClientKeys(setup.record, secret);
  openAll('masked-input', setup, secret, keys.cipherPrivateKey, request.neighbours);
  const vector = quantizedInput(setup, secret, update, sampleCount, options);
  addPrgWords(vector, keys.selfMaskSeed, 1);
  const ownPoint = setup.points.get(self)!;
  for (const n of request.neighbours) {
    const seed = pairwiseMaskSeed(setup.record, keys.maskPrivateKey, fromBase64(n.maskPublicKey, KEY_BYTES, `${n.clientId}'s mask key`), self, n.clientId);
    addPrgWords(vector, seed, ownPoint < setup.points.get(n.clientId)! ? 1 : -1);
  }
  const { experimentId, round } = setup.record;
  return {
    notice: { protocol: PROTOCOL, experimentId, round, kind: 'masked-input', clientId: self, words: vector.length, sha256: sha256Hex(encodeMaskedInput(vector)) },
    vector,
    secret: { ...secret, maskedInputFor: digest },
  };
}

export interface UnmaskResult {
  readonly response: UnmaskResponse;
  /** persist before sending: it records which split was answered */
  readonly secret: ClientSecret;
}

/**
 * Stage 4: for each neighbour, its self-mask share if its masked input is in the sum, its mask-key share if it
 * dropped — never both. A second request with a different split is refused: answering it could hand the server both
 * shares of one neighbour, i.e. that neighbour's update.
 */
export function unmask(setup: RoundSetup, secret: ClientSecret, request: UnmaskRequest): UnmaskResult {
  checkAddressing('unmask', setup, secret, request);
  const self = secret.clientId;
  if (secret.maskedInputFor === undefined) throw new SecAggError('unmask', `${self} sent no masked input this round, so it has nothing to unmask`);
  if (envelopesDigest(request.neighbours) !== secret.maskedInputFor) throw new SecAggError('unmask', `the envelopes differ from those ${self} masked with`);
  if (request.contributorCount < setup.minContributors) {
    const which = setup.minContributors === setup.threshold ? `the threshold, ${setup.threshold}` : `${setup.minContributors}, the fewest contributors this round's noise was sized for`;
    throw new SecAggError('unmask', `only ${request.contributorCount} masked inputs are in the sum; revealing shares needs at least ${which}`);
  }
  const survivors = new Set(request.survivors);
  const dropped = new Set(request.dropped);
  const envelopeSenders = request.neighbours.map((n) => n.clientId);
  for (const id of request.survivors) if (dropped.has(id)) throw new SecAggError('unmask', `${id} is listed both as surviving and as dropped`);
  if (survivors.size !== request.survivors.length || dropped.size !== request.dropped.length) throw new SecAggError('unmask', 'a neighbour is listed twice');
  if (survivors.size + dropped.size !== envelopeSenders.length || envelopeSenders.some((id) => !survivors.has(id) && !dropped.has(id))) {
    throw new SecAggError('unmask', 'every neighbour that shared keys must be listed exactly once, as surviving or dropped');
  }
  const split = unmaskSplitDigest(request.survivors, request.dropped);
  if (secret.unmaskedFor !== undefined && secret.unmaskedFor !== split) {
    throw new SecAggError('unmask', `${self} already revealed shares for a different survivor/dropped split; answering again could reveal both shares of a neighbour`);
  }
  const opened = openAll('unmask', setup, secret, deriveClientKeys(setup.record, secret).cipherPrivateKey, request.neighbours);
  const selfMaskShares: UnmaskResponse['selfMaskShares'] = [];
  const maskKeyShares: UnmaskResponse['maskKeyShares'] = [];
  for (const id of envelopeSenders) {
    const shares = opened.get(id)!;
    if (survivors.has(id)) selfMaskShares.push({ owner: id, share: toBase64(shares.selfMaskShare) });
    else maskKeyShares.push({ owner: id, share: toBase64(shares.maskKeyShare) });
  }
  const { experimentId, round } = setup.record;
  return {
    response: { protocol: PROTOCOL, experimentId, round, kind: 'unmask', clientId: self, selfMaskShares, maskKeyShares },
    secret: { ...secret, unmaskedFor: split },
  };
}
