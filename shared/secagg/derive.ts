import { aesGcmDecrypt, aesGcmEncrypt, fromBase64, GCM_NONCE_BYTES, hkdfSha256, KEY_BYTES, sha256Hex, utf8, x25519, x25519PublicKey } from './crypto.js';
import { PROTOCOL, type ClientSecret, type IncomingEnvelope, type RoundSetupRecord } from './messages.js';

/**
 * Every key of the protocol, derived with HKDF-SHA256 and bound to its purpose, experiment, round and parties.
 * A client keeps one 32-byte root secret per round; its two X25519 private keys, its self-mask seed and the
 * randomness of its share polynomials, stochastic rounding and noise all derive from it. That makes each client
 * stage a deterministic function of (root secret, request): a retried stage re-sends byte-identical output.
 */

const roundContext = (setup: RoundSetupRecord) => utf8(`${PROTOCOL}|${setup.experimentId}|${setup.round}`);

export interface ClientKeys {
  /** c_u^SK: X25519 key the client's incoming shares are encrypted to */
  readonly cipherPrivateKey: Uint8Array;
  /** s_u^SK: X25519 key its pairwise masks are agreed with; Shamir-shared, revealed if it drops */
  readonly maskPrivateKey: Uint8Array;
  /** b_u: the self-mask seed; Shamir-shared, revealed if it survives */
  readonly selfMaskSeed: Uint8Array;
  /** seeds of the PRG streams that draw the two share polynomials' coefficients */
  readonly selfMaskPolynomialSeed: Uint8Array;
  readonly maskKeyPolynomialSeed: Uint8Array;
  /** seed of the stream stochastic rounding draws from */
  readonly roundingSeed: Uint8Array;
  /** seed of the stream distributed DP noise draws from */
  readonly noiseSeed: Uint8Array;
}

export function deriveClientKeys(setup: RoundSetupRecord, secret: ClientSecret): ClientKeys {
  const root = fromBase64(secret.rootSecret, KEY_BYTES, 'rootSecret');
  const salt = utf8(`${PROTOCOL}|${setup.experimentId}|${setup.round}|${secret.clientId}`);
  // One HKDF expansion cut into seven 32-byte keys (as TLS cuts its key block): each slice is independent.
  const block = hkdfSha256(root, salt, utf8('client keys: cipher, mask, self-mask seed, two share polynomials, rounding, noise'), 7 * KEY_BYTES);
  const key = (index: number) => block.slice(index * KEY_BYTES, (index + 1) * KEY_BYTES);
  return {
    cipherPrivateKey: key(0),
    maskPrivateKey: key(1),
    selfMaskSeed: key(2),
    selfMaskPolynomialSeed: key(3),
    maskKeyPolynomialSeed: key(4),
    roundingSeed: key(5),
    noiseSeed: key(6),
  };
}

export function publicKeysOf(keys: ClientKeys): { cipherPublicKey: Uint8Array; maskPublicKey: Uint8Array } {
  return { cipherPublicKey: x25519PublicKey(keys.cipherPrivateKey), maskPublicKey: x25519PublicKey(keys.maskPrivateKey) };
}

/**
 * The pairwise mask seed s_uv, the same for u and v: X25519 of one's mask private key with the other's mask public
 * key, through HKDF bound to the round and the (ordered) pair. The server computes it too, for a dropped client
 * whose mask private key it reconstructed.
 */
export function pairwiseMaskSeed(setup: RoundSetupRecord, privateKey: Uint8Array, peerPublicKey: Uint8Array, clientA: string, clientB: string): Uint8Array {
  const [first, second] = clientA < clientB ? [clientA, clientB] : [clientB, clientA];
  return hkdfSha256(x25519(privateKey, peerPublicKey), roundContext(setup), utf8(`pairwise mask|${first}|${second}`), KEY_BYTES);
}

/**
 * The associated data of an envelope: protocol, experiment, round, stage, sender and recipient. A ciphertext moved to
 * another pair, round or experiment fails authentication.
 */
function envelopeAssociatedData(setup: RoundSetupRecord, from: string, to: string): Uint8Array {
  return utf8(`${PROTOCOL}|${setup.experimentId}|${setup.round}|share-keys|${from}|${to}`);
}

/**
 * Key and nonce of the envelope from → to. u → v and v → u share one X25519 secret, so the direction is part of the
 * HKDF info: each key seals exactly one plaintext (a retry seals the same bytes again), and the nonce can be derived
 * with it instead of sent.
 */
function envelopeKey(setup: RoundSetupRecord, sharedSecret: Uint8Array, from: string, to: string): { key: Uint8Array; nonce: Uint8Array } {
  const okm = hkdfSha256(sharedSecret, roundContext(setup), utf8(`share-keys envelope|${from}|${to}`), KEY_BYTES + GCM_NONCE_BYTES);
  return { key: okm.subarray(0, KEY_BYTES), nonce: okm.subarray(KEY_BYTES) };
}

export function sealEnvelope(setup: RoundSetupRecord, cipherPrivateKey: Uint8Array, recipientPublicKey: Uint8Array, from: string, to: string, plaintext: Uint8Array): Uint8Array {
  const { key, nonce } = envelopeKey(setup, x25519(cipherPrivateKey, recipientPublicKey), from, to);
  return aesGcmEncrypt(key, nonce, plaintext, envelopeAssociatedData(setup, from, to));
}

export function openEnvelope(setup: RoundSetupRecord, cipherPrivateKey: Uint8Array, senderPublicKey: Uint8Array, from: string, to: string, sealed: Uint8Array): Uint8Array {
  const { key, nonce } = envelopeKey(setup, x25519(cipherPrivateKey, senderPublicKey), from, to);
  return aesGcmDecrypt(key, nonce, sealed, envelopeAssociatedData(setup, from, to));
}

/** A digest of the envelopes a client was given, order-independent: what it records having masked with. */
export function envelopesDigest(neighbours: readonly IncomingEnvelope[]): string {
  const lines = neighbours.map((n) => `${n.clientId}:${n.cipherPublicKey}:${n.maskPublicKey}:${n.ciphertext}`).sort();
  return sha256Hex(lines.join('\n'));
}

/** A digest of an unmask request's survivor/dropped split: what a client records having answered. */
export function unmaskSplitDigest(survivors: readonly string[], dropped: readonly string[]): string {
  return sha256Hex(`survivors:${[...survivors].sort().join(',')}\ndropped:${[...dropped].sort().join(',')}`);
}
