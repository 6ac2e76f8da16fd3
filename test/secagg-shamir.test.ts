import { checkPrimeSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hkdfSha256, prgStream, utf8 } from '../shared/secagg/crypto.js';
import {
  evaluatePolynomial,
  interpolateAtZero,
  reconstructSecret,
  reconstructValue,
  SHAMIR_PRIME,
  ShamirError,
  splitSecret,
  splitValue,
} from '../shared/secagg/shamir.js';

const stream = (label: string) => prgStream(hkdfSha256(utf8(label), new Uint8Array(0), new Uint8Array(0), 32));

/** Every k-subset of `items`, in lexicographic order. */
function* subsets<T>(items: readonly T[], k: number, start = 0): Generator<T[]> {
  if (k === 0) {
    yield [];
    return;
  }
  for (let i = start; i <= items.length - k; i++) for (const rest of subsets(items, k - 1, i + 1)) yield [items[i]!, ...rest];
}

describe('the field', () => {
  it('p = 2^256 + 297 is prime (OpenSSL) and the smallest prime above 2^256, so every 32-byte secret fits', () => {
    expect(checkPrimeSync(SHAMIR_PRIME, { checks: 64 })).toBe(true);
    for (let candidate = (1n << 256n) + 1n; candidate < SHAMIR_PRIME; candidate += 2n) expect(checkPrimeSync(candidate)).toBe(false);
  });
});

describe("Shamir's example over GF(1613) (Wikipedia, \"Shamir's secret sharing\", the finite-field example)", () => {
  // Secret 1234, t = 3, f(x) = 1234 + 166x + 94x² mod 1613: the page lists the six shares below.
  const prime = 1613n;
  const published = [
    { x: 1, y: 1494n },
    { x: 2, y: 329n },
    { x: 3, y: 965n },
    { x: 4, y: 176n },
    { x: 5, y: 1188n },
    { x: 6, y: 775n },
  ];

  it('splitValue draws the coefficients from the injected stream and gives the published shares', () => {
    // 11 bits of each 2-byte draw are kept: 0x00a6 = 166, 0x005e = 94, both below p, so both are accepted.
    const draws = [Uint8Array.of(0x00, 0xa6), Uint8Array.of(0x00, 0x5e)];
    const shares = splitValue(1234n, [1, 2, 3, 4, 5, 6], 3, () => draws.shift()!, prime);
    expect(shares).toEqual(published);
    expect(evaluatePolynomial([1234n, 166n, 94n], 0, prime)).toBe(1234n);
  });

  it('every 3 of the 6 published shares reconstruct 1234', () => {
    let count = 0;
    for (const three of subsets(published, 3)) {
      expect(reconstructValue(three, 3, prime)).toBe(1234n);
      count++;
    }
    expect(count).toBe(20);
  });

  it('2 shares say nothing: each of the 1613 candidate secrets completes them to a different polynomial', () => {
    // (0, s) and the two shares fix one polynomial of degree 2 per candidate s. Its value at a third point, f_s(6),
    // is then a bijection of s: without a third share every secret is equally possible.
    // f_s(6) is interpolated as g(0) for g(x) = f(x + 6), whose points sit at x − 6 mod p.
    const [a, b] = [published[0]!, published[3]!];
    const shift = (x: number) => (x - 6 + Number(prime)) % Number(prime);
    const completions = new Set<bigint>();
    for (let s = 0n; s < prime; s++) {
      completions.add(
        interpolateAtZero(
          [
            { x: shift(0), y: s },
            { x: shift(a.x), y: a.y },
            { x: shift(b.x), y: b.y },
          ],
          prime,
        ),
      );
    }
    expect(completions.size).toBe(Number(prime));
    // and the true secret's completion is the published sixth share
    expect(interpolateAtZero([{ x: shift(0), y: 1234n }, { x: shift(a.x), y: a.y }, { x: shift(b.x), y: b.y }], prime)).toBe(775n);
  });
});

describe('32-byte secrets over p = 2^256 + 297', () => {
  const secret = hkdfSha256(utf8('a secret'), new Uint8Array(0), new Uint8Array(0), 32);
  const xs = [3, 7, 8, 12, 20, 21, 40];

  it('any t of n shares reconstruct the secret exactly', () => {
    const threshold = 4;
    const values = splitSecret(secret, xs, threshold, stream('coefficients'));
    expect(values.every((value) => value.length === 33)).toBe(true);
    const shares = xs.map((x, i) => ({ x, value: values[i]! }));
    let count = 0;
    for (const subset of subsets(shares, threshold)) {
      expect(Buffer.from(reconstructSecret(subset, threshold)).equals(Buffer.from(secret))).toBe(true);
      count++;
    }
    expect(count).toBe(35);
    // all 7 at once: the second subset agrees with the first
    expect(Buffer.from(reconstructSecret(shares, threshold)).equals(Buffer.from(secret))).toBe(true);
  });

  it('t − 1 shares are refused, and interpolating them anyway gives an unrelated value', () => {
    const threshold = 4;
    const values = splitSecret(secret, xs, threshold, stream('coefficients'));
    const three = xs.slice(0, 3).map((x, i) => ({ x, value: values[i]! }));
    expect(() => reconstructSecret(three, threshold)).toThrow('3 shares cannot reconstruct a 4-of-n secret');
    const forced = interpolateAtZero(three.map(({ x, value }) => ({ x, y: BigInt('0x' + Buffer.from(value).toString('hex')) })));
    expect(forced).not.toBe(BigInt('0x' + Buffer.from(secret).toString('hex')));
  });

  it('the same stream gives the same shares (what lets a retried client re-send byte-identical shares)', () => {
    const first = splitSecret(secret, xs, 3, stream('same'));
    const again = splitSecret(secret, xs, 3, stream('same'));
    const other = splitSecret(secret, xs, 3, stream('other'));
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    // Shares at a subset of the points come from the same polynomial: a recipient set that shrinks stays consistent.
    const subset = splitSecret(secret, [7, 20, 21], 3, stream('same'));
    expect(subset).toEqual([first[1], first[4], first[5]]);
  });

  it('detects a corrupted share when more than t are given, and refuses malformed input', () => {
    const values = splitSecret(secret, xs, 3, stream('coefficients'));
    const shares = xs.map((x, i) => ({ x, value: values[i]! }));
    const corrupted = shares.map((share, i) => (i === 5 ? { ...share, value: share.value.map((byte, j) => (j === 32 ? byte ^ 1 : byte)) } : share));
    expect(() => reconstructSecret(corrupted, 3)).toThrow('the shares are inconsistent');
    expect(() => splitSecret(secret, [1, 1, 2], 2, stream('x'))).toThrow('share point 1 is used twice');
    expect(() => splitSecret(secret, [0, 1, 2], 2, stream('x'))).toThrow('share points must be integers from 1 to p − 1 (got 0)');
    expect(() => splitSecret(secret, [1, 2], 3, stream('x'))).toThrow(ShamirError);
    expect(() => splitSecret(secret.subarray(1), [1, 2], 2, stream('x'))).toThrow('a secret must be 32 bytes (got 31)');
  });
});
