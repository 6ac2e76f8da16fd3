import { describe, expect, it } from 'vitest';
import { clientIdFor } from '../shared/protocol/keys.js';
import { quantizedInput } from '../shared/secagg/client.js';
import { simulateRound } from '../shared/secagg/simulate.js';

/**
 * One masked input, as the server and anyone reading the bucket see it, must look like uniform noise mod 2^32 whatever
 * the update. The test: Pearson's chi-square over 256 buckets, on the vector's bytes and, separately, on each word's
 * top byte (where a quantized value's structure would show: with 16 bits it is always 0).
 *
 * Critical value: df = 255, α = 0.001, by the Wilson–Hilferty approximation χ²_p ≈ df·(1 − 2/(9df) + z_p·√(2/(9df)))³
 * with z_0.999 = 3.0902 → 330.5. A truly uniform vector exceeds it with probability 0.1 % per test; the two tests on
 * one vector exceed either with at most 0.2 %. The seed is fixed, so the outcome is deterministic: the false-positive
 * rate is what a change of seed would risk, and the seed was not chosen by trying seeds.
 */
const DF = 255;
const Z_0999 = 3.0902;
const CRITICAL = DF * (1 - 2 / (9 * DF) + Z_0999 * Math.sqrt(2 / (9 * DF))) ** 3;

function chiSquare(values: Iterable<number>, buckets = 256): number {
  const counts = new Float64Array(buckets);
  let total = 0;
  for (const value of values) {
    counts[value]! += 1;
    total++;
  }
  const expected = total / buckets;
  let statistic = 0;
  for (const count of counts) statistic += (count - expected) ** 2 / expected;
  return statistic;
}

const bytesOf = (words: Uint32Array) => new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
const topBytes = (words: Uint32Array) => Array.from(words, (word) => word >>> 24);

describe('a masked input is indistinguishable from uniform', () => {
  const vectorLength = 16_383; // + the weight word: 16,384 words, 65,536 bytes, 256 expected per byte bucket
  const zeros = () => new Float32Array(vectorLength);

  it('the critical value is the chi-square 99.9 % quantile for 255 degrees of freedom', () => {
    // Tables give 330.52 for χ²(255) at 0.999; the approximation is good to a few hundredths here.
    expect(CRITICAL).toBeGreaterThan(330.3);
    expect(CRITICAL).toBeLessThan(330.7);
  });

  it('passes on a masked all-zero update, which carries no entropy of its own', () => {
    const report = simulateRound({ clients: 5, vectorLength, threshold: 3, quantizationBits: 16, update: zeros, rounding: 'nearest' });
    expect(report.outcome.ok).toBe(true);
    const masked = report.maskedInputs.get(clientIdFor(2))!;
    expect(chiSquare(bytesOf(masked))).toBeLessThan(CRITICAL);
    expect(chiSquare(topBytes(masked))).toBeLessThan(CRITICAL);
  });

  it('and the test has power: the same client\'s unmasked quantized input fails it by far', () => {
    const report = simulateRound({ clients: 5, vectorLength, threshold: 3, quantizationBits: 16, update: zeros, rounding: 'nearest' });
    const plain = quantizedInput(report.setup, report.secrets.get(clientIdFor(2))!, zeros(), 107);
    expect(chiSquare(bytesOf(plain))).toBeGreaterThan(100 * CRITICAL);
    expect(chiSquare(topBytes(plain))).toBeGreaterThan(100 * CRITICAL);
  });

  it('passes for every client of a SecAgg+ round with a structured update', () => {
    const ramp = () => Float32Array.from({ length: vectorLength }, (_, i) => (i % 100) / 100);
    const report = simulateRound({ clients: 12, vectorLength, threshold: 3, neighbours: 4, quantizationBits: 16, update: ramp });
    expect(report.outcome.ok).toBe(true);
    // 12 vectors × 2 tests at α = 0.001: a 2.4 % chance that a uniform source fails one; fixed seed, so deterministic.
    for (const masked of report.maskedInputs.values()) {
      expect(chiSquare(bytesOf(masked))).toBeLessThan(CRITICAL);
      expect(chiSquare(topBytes(masked))).toBeLessThan(CRITICAL);
    }
  });
});
