import { describe, expect, it } from 'vitest';
import { createRandom, deriveSeed, MAX_SEED } from '../shared/random.js';

const draws = (seed: number, count: number) => {
  const random = createRandom(seed);
  return Array.from({ length: count }, () => random.nextFloat());
};

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
const variance = (values: readonly number[]) => {
  const m = mean(values);
  return values.reduce((sum, value) => sum + (value - m) ** 2, 0) / (values.length - 1);
};

describe('seeded random streams', () => {
  it('repeat exactly for the same seed and differ for nearby seeds', () => {
    expect(draws(42, 100)).toEqual(draws(42, 100));
    const [a, b] = [draws(42, 100), draws(43, 100)];
    expect(a.filter((value, i) => value === b[i])).toHaveLength(0);
    // Seeded naively, xoroshiro's first output is ~seed: consecutive seeds would start with nearly equal draws.
    const firstDrawOfEachSeed = Array.from({ length: 1_000 }, (_, seed) => createRandom(seed).nextFloat());
    expect(mean(firstDrawOfEachSeed)).toBeCloseTo(0.5, 1);
    expect(variance(firstDrawOfEachSeed)).toBeCloseTo(1 / 12, 2);
  });

  it('nextFloat is in [0, 1) with the moments of a uniform', () => {
    const values = draws(7, 20_000);
    expect(values.every((value) => value >= 0 && value < 1)).toBe(true);
    expect(mean(values)).toBeCloseTo(0.5, 2);
    expect(variance(values)).toBeCloseTo(1 / 12, 2);
  });

  it('nextInt covers [0, max) evenly', () => {
    const random = createRandom(11);
    const bins = new Array<number>(10).fill(0);
    const n = 20_000;
    for (let i = 0; i < n; i++) bins[random.nextInt(10)]!++;
    const chiSquare = bins.reduce((sum, count) => sum + (count - n / 10) ** 2 / (n / 10), 0);
    // 9 degrees of freedom: 35 is beyond the 0.9999 quantile.
    expect(chiSquare).toBeLessThan(35);
    expect(() => random.nextInt(0)).toThrow(RangeError);
    expect(() => random.nextInt(2.5)).toThrow(/maxExclusive/);
  });

  it('nextGaussian has mean 0 and variance 1', () => {
    const random = createRandom(5);
    const values = Array.from({ length: 20_000 }, () => random.nextGaussian());
    expect(Math.abs(mean(values))).toBeLessThan(0.03);
    expect(variance(values)).toBeCloseTo(1, 1);
  });

  it('shuffleInPlace permutes plain and typed arrays, reproducibly', () => {
    const plain = Array.from({ length: 50 }, (_, i) => i);
    const typed = Uint32Array.from(plain);
    const shuffled = createRandom(3).shuffleInPlace(plain);
    expect(shuffled).toBe(plain);
    expect([...plain].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(plain).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    createRandom(3).shuffleInPlace(typed);
    expect(Array.from(typed)).toEqual(plain);
  });

  it.each([0.1, 0.5, 1, 2.5, 30])('gamma(%s) has mean and variance equal to its shape', (shape) => {
    const random = createRandom(17);
    const values = Array.from({ length: 40_000 }, () => random.gamma(shape));
    expect(values.every((value) => value >= 0 && Number.isFinite(value))).toBe(true);
    expect(Math.abs(mean(values) / shape - 1)).toBeLessThan(0.05);
    expect(Math.abs(variance(values) / shape - 1)).toBeLessThan(0.1);
    expect(() => random.gamma(0)).toThrow(/shape must be a positive/);
  });

  it('dirichlet draws sum to 1; small alpha is concentrated, large alpha is even', () => {
    const random = createRandom(23);
    const largestShare = (alpha: number) =>
      mean(Array.from({ length: 500 }, () => {
        const p = random.dirichlet(alpha, 10);
        expect(p.every((value) => value >= 0 && Number.isFinite(value))).toBe(true);
        expect(p.reduce((sum, value) => sum + value, 0)).toBeCloseTo(1, 12);
        return Math.max(...p);
      }));
    expect(largestShare(0.001)).toBeGreaterThan(0.95);
    expect(largestShare(0.1)).toBeGreaterThan(0.6);
    expect(largestShare(1000)).toBeLessThan(0.12);
    // Each coordinate of a symmetric Dirichlet has mean 1/k.
    const firstShares = Array.from({ length: 4_000 }, () => random.dirichlet(0.5, 4)[0]!);
    expect(mean(firstShares)).toBeCloseTo(0.25, 1);
  });
});

describe('deriveSeed', () => {
  it('is deterministic, in the seed range, and sensitive to every label and its type', () => {
    const seed = deriveSeed(42, 'train', 3, 'client-001');
    expect(deriveSeed(42, 'train', 3, 'client-001')).toBe(seed);
    expect(Number.isInteger(seed) && seed >= 0 && seed <= MAX_SEED).toBe(true);
    const variants = [
      deriveSeed(43, 'train', 3, 'client-001'),
      deriveSeed(42, 'train', 4, 'client-001'),
      deriveSeed(42, 'train', 3, 'client-002'),
      deriveSeed(42, 'train', '3', 'client-001'),
      deriveSeed(42, 'train3', 'client-001'),
      deriveSeed(42),
    ];
    expect(new Set([seed, ...variants]).size).toBe(variants.length + 1);
  });

  it('gives streams that do not track each other', () => {
    const seeds = Array.from({ length: 1_000 }, (_, client) => deriveSeed(42, 'client', client));
    expect(new Set(seeds).size).toBe(seeds.length);
    const firstDraws = seeds.map((seed) => createRandom(seed).nextFloat());
    expect(mean(firstDraws)).toBeCloseTo(0.5, 1);
    expect(() => deriveSeed(-1, 'x')).toThrow(RangeError);
  });
});
