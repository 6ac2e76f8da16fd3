import { z } from 'zod';
import { GCM_TAG_BYTES, KEY_BYTES } from './crypto.js';
import { SHARE_BYTES } from './shamir.js';

/**
 * Every record a secure-aggregation stage writes (S3 objects, or SQS bodies where small), as zod schemas. Binary
 * values are base64 in JSON; the one large value, the masked vector, is a raw binary object (encodeMaskedInput).
 * Records carry the protocol version, experiment and round, so one read out of place is refused, not misused.
 */
export const PROTOCOL = 'flambda-secagg/1';

/** Same rule as the S3 key layout's experiment ids, so an id is always safe inside a key. */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;
const id = z.string().regex(ID_PATTERN, 'must be 1–80 characters of A–Z a–z 0–9 . _ -, starting with a letter or digit');
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Base64 of exactly `bytes` bytes. */
export const base64Bytes = (bytes: number) =>
  z
    .string()
    .length(4 * Math.ceil(bytes / 3), `must be base64 of ${bytes} bytes`)
    .regex(BASE64_PATTERN, 'must be base64');
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 digest as 64 lowercase hex digits');

/** The plaintext of one encrypted share: the share of the self-mask seed b_u, then that of the mask key s_u^SK. */
export const ENVELOPE_PLAINTEXT_BYTES = 2 * SHARE_BYTES;
export const ENVELOPE_BYTES = ENVELOPE_PLAINTEXT_BYTES + GCM_TAG_BYTES;

const header = {
  protocol: z.literal(PROTOCOL),
  experimentId: id,
  round: z.int().min(0).max(1_000_000),
};

export const ROUNDING_MODES = ['stochastic', 'nearest'] as const;

/** setup (server → everyone, public): the round's clients in the order that numbers them, and the parameters. */
export const roundSetupSchema = z.strictObject({
  ...header,
  kind: z.literal('setup'),
  clients: z.array(id).min(1).max(100_000),
  threshold: z.int().min(1),
  /** null: the complete graph (SecAgg); a number: SecAgg+'s k-regular graph */
  neighbours: z.int().min(2).nullable(),
  graphSeed: base64Bytes(32),
  vectorLength: z.int().min(1).max(1_000_000_000),
  /** the largest sample count of any client of the round: weights are samples / maxWeight ∈ [0, 1] */
  maxWeight: z.int().min(1),
  /**
   * the fewest masked inputs the round is unmasked with, when more than the threshold: distributed DP sizes each
   * client's noise share for it (absent: the threshold)
   */
  minContributors: z.int().min(1).optional(),
  quantization: z.strictObject({
    clippingRange: z.number().positive(),
    bits: z.int().min(1).max(31),
    rounding: z.enum(ROUNDING_MODES),
  }),
});

const publicKeys = {
  /** X25519 key the client's shares are encrypted to */
  cipherPublicKey: base64Bytes(KEY_BYTES),
  /** X25519 key its pairwise masks are agreed with */
  maskPublicKey: base64Bytes(KEY_BYTES),
};
const peerKeys = z.strictObject({ clientId: id, ...publicKeys });

/** advertise keys (client → server) */
export const advertiseKeysSchema = z.strictObject({ ...header, kind: z.literal('advertise-keys'), clientId: id, ...publicKeys });

/** the clients that advertised keys and were kept, with their keys (server state after advertise keys) */
export const rosterSchema = z.strictObject({ ...header, kind: z.literal('roster'), clients: z.array(peerKeys) });

/** share keys, asked (server → one client): the keys of its neighbours that advertised */
export const shareKeysRequestSchema = z.strictObject({ ...header, kind: z.literal('share-keys-request'), clientId: id, neighbours: z.array(peerKeys) });

/** share keys (client → server): one AES-GCM envelope per neighbour, readable only by it */
export const shareKeysSchema = z.strictObject({
  ...header,
  kind: z.literal('share-keys'),
  clientId: id,
  envelopes: z.array(z.strictObject({ to: id, ciphertext: base64Bytes(ENVELOPE_BYTES) })),
});

const incomingEnvelope = z.strictObject({ clientId: id, ...publicKeys, ciphertext: base64Bytes(ENVELOPE_BYTES) });

/** masked input, asked (server → one client): the envelopes its neighbours that shared keys addressed to it */
export const maskedInputRequestSchema = z.strictObject({ ...header, kind: z.literal('masked-input-request'), clientId: id, neighbours: z.array(incomingEnvelope) });

/** masked input (client → server): announces the binary object of `words` masked words and its digest */
export const maskedInputNoticeSchema = z.strictObject({ ...header, kind: z.literal('masked-input'), clientId: id, words: z.int().min(2), sha256: sha256Hex });

/** the clients that shared keys (U2) and those whose masked input was accepted (U3) (server state) */
export const maskedInputClosedSchema = z.strictObject({
  ...header,
  kind: z.literal('masked-input-closed'),
  survivors: z.array(id),
  contributors: z.array(z.strictObject({ clientId: id, sha256: sha256Hex })),
});

/** unmask, asked (server → one client): which of its neighbours' inputs are in the sum and which dropped */
export const unmaskRequestSchema = z.strictObject({
  ...header,
  kind: z.literal('unmask-request'),
  clientId: id,
  contributorCount: z.int().min(0),
  survivors: z.array(id),
  dropped: z.array(id),
  /** the same envelopes as in its masked-input request: the client checks they are the ones it masked with */
  neighbours: z.array(incomingEnvelope),
});

const revealedShare = z.strictObject({ owner: id, share: base64Bytes(SHARE_BYTES) });

/** unmask (client → server): a self-mask share per surviving neighbour, a mask-key share per dropped one */
export const unmaskResponseSchema = z.strictObject({
  ...header,
  kind: z.literal('unmask'),
  clientId: id,
  selfMaskShares: z.array(revealedShare),
  maskKeyShares: z.array(revealedShare),
});

/**
 * The client's private state for one round (trainer-only S3 prefix): the root secret every key, seed and share
 * polynomial derives from, and what it has answered, so a retried stage repeats itself and a changed request is
 * refused.
 */
export const clientSecretSchema = z.strictObject({
  ...header,
  kind: z.literal('client-secret'),
  clientId: id,
  rootSecret: base64Bytes(32),
  /** digest of the envelopes it masked with */
  maskedInputFor: sha256Hex.optional(),
  /** digest of the survivor/dropped split it revealed shares for */
  unmaskedFor: sha256Hex.optional(),
});

export type RoundSetupRecord = z.output<typeof roundSetupSchema>;
export type AdvertiseKeys = z.output<typeof advertiseKeysSchema>;
export type Roster = z.output<typeof rosterSchema>;
export type PeerKeys = Roster['clients'][number];
export type ShareKeysRequest = z.output<typeof shareKeysRequestSchema>;
export type ShareKeys = z.output<typeof shareKeysSchema>;
export type MaskedInputRequest = z.output<typeof maskedInputRequestSchema>;
export type IncomingEnvelope = MaskedInputRequest['neighbours'][number];
export type MaskedInputNotice = z.output<typeof maskedInputNoticeSchema>;
export type MaskedInputClosed = z.output<typeof maskedInputClosedSchema>;
export type UnmaskRequest = z.output<typeof unmaskRequestSchema>;
export type UnmaskResponse = z.output<typeof unmaskResponseSchema>;
export type ClientSecret = z.output<typeof clientSecretSchema>;

/** Bytes of a record as stored (compact JSON, UTF-8). */
export function encodedBytes(record: unknown): number {
  return Buffer.byteLength(JSON.stringify(record), 'utf8');
}

/** The masked vector object: its words, little-endian, nothing else (its identity is in its S3 key). */
export function encodeMaskedInput(words: Uint32Array): Uint8Array {
  return new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
}

export function decodeMaskedInput(bytes: Uint8Array, expectedWords: number): Uint32Array {
  if (bytes.byteLength !== 4 * expectedWords) {
    throw new RangeError(`a masked input must be ${4 * expectedWords} bytes (${expectedWords} words); this one is ${bytes.byteLength}`);
  }
  return new Uint32Array(bytes.slice().buffer);
}
