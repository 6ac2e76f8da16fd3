import type { RandomBytes } from './crypto.js';

/**
 * Shamir t-of-n secret sharing over the prime field GF(p), p = 2²⁵⁶ + 297 (the smallest prime above 2²⁵⁶, so any
 * 32-byte secret is a field element as it stands; test/secagg-shamir.test.ts checks primality with OpenSSL).
 *
 * Why our own and not the audited `shamir-secret-sharing` npm package (Privy; Cure53 and Zellic audits): we
 * checked it (v0.0.4 installs and works on Node 20) and it does not fit the protocol.
 *  - It draws its coefficients and x-coordinates from the system CSPRNG inside `split`. Secure aggregation's stages
 *    must be deterministic functions of the client's persisted secret: a Lambda retried after a crash has to
 *    re-send byte-identical shares, or recipients could hold shares of two different polynomials. Here the
 *    coefficients come from an injected stream (production: AES-CTR keyed by an HKDF output of the client's
 *    secret), so a retry re-creates the same polynomial and any recipient's share lies on it.
 *  - It works byte-wise in GF(2⁸): at most 255 shares, so SecAgg's complete graph would stop at 256 clients,
 *    and it picks the x-coordinates itself, where the protocol addresses shares by recipient.
 * The field arithmetic is BigInt and not constant-time: timing leaks about a secret need an attacker who can time
 * the client's Lambda at sub-microsecond resolution, outside the semi-honest-server model documented in
 * docs/secure-aggregation.md.
 */
export const SHAMIR_PRIME = (1n << 256n) + 297n;
export const SECRET_BYTES = 32;
/** A share's value y < p < 2²⁵⁷ as 33 big-endian bytes; its x is the recipient's position, never sent. */
export const SHARE_BYTES = 33;

export interface Share {
  /** the evaluation point: 1 … p − 1, never 0 (f(0) is the secret) */
  readonly x: number;
  readonly y: bigint;
}

export class ShamirError extends Error {
  override name = 'ShamirError';
}

const mod = (value: bigint, prime: bigint): bigint => {
  const r = value % prime;
  return r < 0n ? r + prime : r;
};

function modInverse(value: bigint, prime: bigint): bigint {
  let [oldR, r] = [mod(value, prime), prime];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const quotient = oldR / r;
    [oldR, r] = [r, oldR - quotient * r];
    [oldS, s] = [s, oldS - quotient * s];
  }
  if (oldR !== 1n) throw new ShamirError('no inverse: two shares have the same x');
  return mod(oldS, prime);
}

function bitLength(value: bigint): number {
  return value.toString(2).length;
}

/** A uniform element of [0, prime) by rejection: draw just enough bits, retry above the prime (< 2 tries expected). */
function randomFieldElement(random: RandomBytes, prime: bigint): bigint {
  const bits = bitLength(prime - 1n);
  const bytes = Math.ceil(bits / 8);
  const topMask = (1 << (bits - 8 * (bytes - 1))) - 1;
  for (;;) {
    const draw = random(bytes);
    draw[0]! &= topMask;
    let value = 0n;
    for (const byte of draw) value = (value << 8n) | BigInt(byte);
    if (value < prime) return value;
  }
}

/** f(x) for f = coefficients[0] + coefficients[1]·x + …, by Horner's rule. */
export function evaluatePolynomial(coefficients: readonly bigint[], x: number, prime = SHAMIR_PRIME): bigint {
  const point = BigInt(x);
  let value = 0n;
  for (let i = coefficients.length - 1; i >= 0; i--) value = mod(value * point + coefficients[i]!, prime);
  return value;
}

function checkPoints(xs: readonly number[], prime: bigint): void {
  const seen = new Set<number>();
  for (const x of xs) {
    if (!Number.isSafeInteger(x) || x < 1 || BigInt(x) >= prime) throw new ShamirError(`share points must be integers from 1 to p − 1 (got ${x})`);
    if (seen.has(x)) throw new ShamirError(`share point ${x} is used twice`);
    seen.add(x);
  }
}

/**
 * Shares of `secret` (a field element) at the points `xs`, any `threshold` of which reconstruct it and fewer reveal
 * nothing: the polynomial's other t − 1 coefficients are uniform draws from `random`.
 */
export function splitValue(secret: bigint, xs: readonly number[], threshold: number, random: RandomBytes, prime = SHAMIR_PRIME): Share[] {
  if (secret < 0n || secret >= prime) throw new ShamirError('the secret must be a field element, 0 ≤ secret < p');
  if (!Number.isSafeInteger(threshold) || threshold < 1) throw new ShamirError(`threshold must be a positive integer (got ${threshold})`);
  if (threshold > xs.length) throw new ShamirError(`threshold ${threshold} is more than the ${xs.length} shares: the secret could never be reconstructed`);
  checkPoints(xs, prime);
  const coefficients = [secret];
  for (let i = 1; i < threshold; i++) coefficients.push(randomFieldElement(random, prime));
  return xs.map((x) => ({ x, y: evaluatePolynomial(coefficients, x, prime) }));
}

/** f(0) of the unique polynomial of degree < shares.length through the shares (Lagrange interpolation). */
export function interpolateAtZero(shares: readonly Share[], prime = SHAMIR_PRIME): bigint {
  checkPoints(
    shares.map((share) => share.x),
    prime,
  );
  let secret = 0n;
  for (let i = 0; i < shares.length; i++) {
    // λ_i = Π_{j≠i} x_j / (x_j − x_i): the x's are small integers, so only one inverse per share.
    let numerator = 1n;
    let denominator = 1n;
    const xi = BigInt(shares[i]!.x);
    for (let j = 0; j < shares.length; j++) {
      if (j === i) continue;
      const xj = BigInt(shares[j]!.x);
      numerator = (numerator * xj) % prime;
      denominator = mod(denominator * (xj - xi), prime);
    }
    secret = (secret + shares[i]!.y * ((numerator * modInverse(denominator, prime)) % prime)) % prime;
  }
  return secret;
}

/**
 * The secret from at least `threshold` shares. With more than `threshold`, a second, disjoint-as-possible subset
 * is interpolated as well: a corrupted share then shows as a mismatch instead of a silently wrong secret.
 */
export function reconstructValue(shares: readonly Share[], threshold: number, prime = SHAMIR_PRIME): bigint {
  if (shares.length < threshold) throw new ShamirError(`${shares.length} shares cannot reconstruct a ${threshold}-of-n secret`);
  const sorted = [...shares].sort((a, b) => a.x - b.x);
  const secret = interpolateAtZero(sorted.slice(0, threshold), prime);
  if (sorted.length > threshold && interpolateAtZero(sorted.slice(sorted.length - threshold), prime) !== secret) {
    throw new ShamirError('the shares are inconsistent: two subsets of them reconstruct different secrets');
  }
  return secret;
}

export function bytesToBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

export function bigIntToBytes(value: bigint, length: number): Uint8Array {
  if (value < 0n || value >> BigInt(8 * length) !== 0n) throw new ShamirError(`${value} does not fit in ${length} bytes`);
  const bytes = new Uint8Array(length);
  let rest = value;
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return bytes;
}

/** Shares of a 32-byte secret (a seed or a raw X25519 private key) at `xs`, each share value as 33 bytes. */
export function splitSecret(secret: Uint8Array, xs: readonly number[], threshold: number, random: RandomBytes): Uint8Array[] {
  if (secret.length !== SECRET_BYTES) throw new ShamirError(`a secret must be ${SECRET_BYTES} bytes (got ${secret.length})`);
  return splitValue(bytesToBigInt(secret), xs, threshold, random).map((share) => bigIntToBytes(share.y, SHARE_BYTES));
}

/** Inverse of splitSecret: `shares` pairs each 33-byte share value with its point. */
export function reconstructSecret(shares: readonly { readonly x: number; readonly value: Uint8Array }[], threshold: number): Uint8Array {
  const decoded = shares.map(({ x, value }) => {
    if (value.length !== SHARE_BYTES) throw new ShamirError(`a share must be ${SHARE_BYTES} bytes (got ${value.length})`);
    const y = bytesToBigInt(value);
    if (y >= SHAMIR_PRIME) throw new ShamirError('a share value is not a field element');
    return { x, y };
  });
  const secret = reconstructValue(decoded, threshold);
  if (secret >> 256n !== 0n) throw new ShamirError('the shares reconstruct a value above 2^256: they are not shares of a 32-byte secret');
  return bigIntToBytes(secret, SECRET_BYTES);
}
