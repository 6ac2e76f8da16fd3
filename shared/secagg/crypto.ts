import { createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';

/**
 * Every primitive secure aggregation uses, and nothing else: X25519 (RFC 7748), HKDF-SHA256 (RFC 5869),
 * AES-256-GCM for the encrypted shares and AES-256-CTR as the PRG that expands a 32-byte seed into mask words.
 * All of them are Node's built-in `crypto` (OpenSSL); test/secagg-crypto.test.ts checks each call against the
 * published vectors of its RFC or NIST document.
 */

export const KEY_BYTES = 32;
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;

/** A source of random bytes. Production passes `systemRandomBytes`; tests pass a seeded PRG stream. */
export type RandomBytes = (length: number) => Uint8Array;

export const systemRandomBytes: RandomBytes = (length) => new Uint8Array(randomBytes(length));

/** A failure of the cryptography itself: a forged or corrupted ciphertext, a degenerate key. */
export class SecAggCryptoError extends Error {
  override name = 'SecAggCryptoError';
}

// DER wrapper of a raw 32-byte X25519 private key (RFC 8410): the documented import path, used as the fallback.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
/** A placeholder for the JWK's required `x`: Node builds an OKP private key from `d` alone (checked in the tests). */
const UNUSED_X = Buffer.alloc(32).toString('base64url');
let jwkPrivateImport = true;

function assertKeyLength(bytes: Uint8Array, what: string): void {
  if (bytes.length !== KEY_BYTES) throw new SecAggCryptoError(`${what} must be ${KEY_BYTES} bytes (got ${bytes.length})`);
}

// A stage agrees keys with every neighbour using the same private key: import it once.
const privateKeys = new WeakMap<Uint8Array, KeyObject>();

/**
 * Imported as JWK because OpenSSL 3's PKCS#8 decoder costs ~2.7 ms a key on these machines against ~0.3 ms for JWK,
 * and a client imports a key per neighbour per stage. Should a Node release start checking `x`, the import falls
 * back to PKCS#8 for good.
 */
function importPrivateKey(privateKey: Uint8Array): KeyObject {
  assertKeyLength(privateKey, 'an X25519 private key');
  const cached = privateKeys.get(privateKey);
  if (cached !== undefined) return cached;
  const d = Buffer.from(privateKey.buffer, privateKey.byteOffset, privateKey.byteLength).toString('base64url');
  let key: KeyObject | undefined;
  if (jwkPrivateImport) {
    try {
      key = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d, x: UNUSED_X }, format: 'jwk' });
    } catch {
      jwkPrivateImport = false;
    }
  }
  key ??= createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, privateKey]), format: 'der', type: 'pkcs8' });
  privateKeys.set(privateKey, key);
  return key;
}

function importPublicKey(publicKey: Uint8Array): KeyObject {
  assertKeyLength(publicKey, 'an X25519 public key');
  const x = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64url');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' });
}

/**
 * The public key of a raw X25519 private key. Any 32 bytes are a valid private key: X25519 clamps the scalar, so
 * keys derived with HKDF (and reconstructed from Shamir shares) need no further encoding.
 */
export function x25519PublicKey(privateKey: Uint8Array): Uint8Array {
  const { x } = createPublicKey(importPrivateKey(privateKey)).export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(x!, 'base64url'));
}

/**
 * The X25519 shared secret. An all-zero result means the peer sent a low-order point (RFC 7748 §6.1 says to check):
 * it would make every "shared" key public, so it is refused.
 */
export function x25519(privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: importPrivateKey(privateKey), publicKey: importPublicKey(peerPublicKey) });
  } catch (error) {
    throw new SecAggCryptoError(`X25519 agreement failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (shared.every((byte) => byte === 0)) throw new SecAggCryptoError('X25519 agreement gave the all-zero secret: the peer key is a low-order point');
  return new Uint8Array(shared);
}

export function hkdfSha256(inputKey: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', inputKey, salt, info, length));
}

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** AES-256-GCM: the ciphertext with its 16-byte tag appended. `associatedData` is authenticated, not encrypted. */
export function aesGcmEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Uint8Array {
  assertKeyLength(key, 'an AES-256 key');
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(associatedData);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return new Uint8Array(Buffer.concat([body, cipher.getAuthTag()]));
}

/** Inverse of aesGcmEncrypt; a wrong key, nonce, associated data or any flipped bit throws SecAggCryptoError. */
export function aesGcmDecrypt(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array): Uint8Array {
  assertKeyLength(key, 'an AES-256 key');
  if (sealed.length < GCM_TAG_BYTES) throw new SecAggCryptoError(`ciphertext is ${sealed.length} bytes, shorter than its ${GCM_TAG_BYTES}-byte tag`);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
  decipher.setAAD(associatedData);
  decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES));
  try {
    return new Uint8Array(Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - GCM_TAG_BYTES)), decipher.final()]));
  } catch {
    throw new SecAggCryptoError('AES-GCM authentication failed: the ciphertext, its tag or its associated data was altered');
  }
}

/** AES-256-CTR with a 16-byte initial counter block, as NIST SP 800-38A defines it (exported for its test vectors). */
export function aesCtr(key: Uint8Array, initialCounter: Uint8Array, data: Uint8Array): Uint8Array {
  assertKeyLength(key, 'an AES-256 key');
  const cipher = createCipheriv('aes-256-ctr', key, initialCounter);
  return new Uint8Array(Buffer.concat([cipher.update(data), cipher.final()]));
}

const ZERO_COUNTER = new Uint8Array(16);
/** Keystream is produced in chunks of this many bytes, so expanding a seed never allocates the whole stream at once. */
const CHUNK_BYTES = 64 * 1024;
const ZERO_CHUNK = new Uint8Array(CHUNK_BYTES);

/**
 * The PRG: AES-256-CTR keyed by the whole 32-byte seed, counter starting at zero, read as a byte stream. Each seed
 * keys exactly one stream (seeds are HKDF outputs bound to their purpose), so the fixed counter never repeats a
 * (key, counter) pair across streams.
 */
export function prgStream(seed: Uint8Array): RandomBytes {
  assertKeyLength(seed, 'a PRG seed');
  const cipher = createCipheriv('aes-256-ctr', seed, ZERO_COUNTER);
  return (length) => {
    const out = new Uint8Array(length);
    for (let offset = 0; offset < length; offset += CHUNK_BYTES) {
      const size = Math.min(CHUNK_BYTES, length - offset);
      out.set(cipher.update(ZERO_CHUNK.subarray(0, size)), offset);
    }
    return out;
  };
}

const isLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function assertLittleEndian(): void {
  // Mask words are read straight from the keystream's bytes; every platform Node and Lambda run on is little-endian.
  if (!isLittleEndian) throw new SecAggCryptoError('secure aggregation needs a little-endian platform');
}

/** The first `count` words of PRG(seed), each uniform mod 2³² (little-endian 4-byte groups of the keystream). */
export function prgWords(seed: Uint8Array, count: number): Uint32Array {
  assertLittleEndian();
  const bytes = prgStream(seed)(count * 4);
  return new Uint32Array(bytes.buffer, bytes.byteOffset, count);
}

/**
 * target ← target + sign · PRG(seed) mod 2³², word by word, streaming the keystream in chunks: the masks of a
 * million-parameter model never exist as separate arrays.
 */
export function addPrgWords(target: Uint32Array, seed: Uint8Array, sign: 1 | -1): void {
  assertLittleEndian();
  assertKeyLength(seed, 'a PRG seed');
  const cipher = createCipheriv('aes-256-ctr', seed, ZERO_COUNTER);
  const chunkWords = CHUNK_BYTES / 4;
  const keystream = new Uint8Array(CHUNK_BYTES);
  const words = new Uint32Array(keystream.buffer);
  for (let start = 0; start < target.length; start += chunkWords) {
    const count = Math.min(chunkWords, target.length - start);
    keystream.set(cipher.update(ZERO_CHUNK.subarray(0, count * 4)));
    if (sign === 1) {
      for (let i = 0; i < count; i++) target[start + i] = (target[start + i]! + words[i]!) >>> 0;
    } else {
      for (let i = 0; i < count; i++) target[start + i] = (target[start + i]! - words[i]!) >>> 0;
    }
  }
}

/** A uniform integer in [0, bound) from a byte stream, by rejection (no modulo bias). */
export function uniformIndex(random: RandomBytes, bound: number): number {
  if (!Number.isSafeInteger(bound) || bound < 1 || bound > 2 ** 32) throw new RangeError(`bound must be an integer from 1 to 2^32 (got ${bound})`);
  const limit = 2 ** 32 - (2 ** 32 % bound);
  for (;;) {
    const bytes = random(4);
    const value = (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
    if (value < limit) return value % bound;
  }
}

export const toBase64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

export function fromBase64(text: string, expectedBytes?: number, what = 'value'): Uint8Array {
  const bytes = new Uint8Array(Buffer.from(text, 'base64'));
  if (expectedBytes !== undefined && bytes.length !== expectedBytes) {
    throw new SecAggCryptoError(`${what} must be ${expectedBytes} bytes (got ${bytes.length})`);
  }
  return bytes;
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
