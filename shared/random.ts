import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

/** The largest seed `deriveSeed` returns, and the top of the config's `seed` range: derived seeds are valid seeds. */
export const MAX_SEED = 2 ** 31 - 1;

/** An array whose elements can be swapped in place: plain arrays and every typed array. */
export interface MutableArrayLike<T> {
  readonly length: number;
  [index: number]: T;
}

/**
 * A seeded random stream. Every random choice in flambda (partitions, subsets, initial weights) comes from one of
 * these, so an experiment is a pure function of its config's `seed`.
 */
export interface Random {
  /** uniform in [0, 1), 53 random bits */
  nextFloat(): number;
  /** uniform integer in [0, maxExclusive) */
  nextInt(maxExclusive: number): number;
  /** standard normal N(0, 1) */
  nextGaussian(): number;
  /** Fisher–Yates; returns the same array */
  shuffleInPlace<A extends MutableArrayLike<unknown>>(array: A): A;
  /** Gamma(shape, 1) */
  gamma(shape: number): number;
  /** one draw from the symmetric Dirichlet Dir(alpha, …, alpha) over k categories: k non-negative numbers summing to 1 */
  dirichlet(alpha: number, k: number): Float64Array;
}

/**
 * splitmix32's finaliser (the murmur3 fmix constants): a bijection on 32-bit integers that spreads every input bit
 * over the whole output, so nearby seeds (42, 43) give unrelated generator states.
 */
function mix32(value: number): number {
  let z = value | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

const GOLDEN_GAMMA = 0x9e3779b9;

function assertSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed must be a non-negative safe integer (got ${seed})`);
  }
}

/**
 * pure-rand's own `xoroshiro128plus(seed)` puts the seed into the state almost verbatim (its first output is `~seed`),
 * so the 128-bit state is filled through splitmix32 instead.
 */
function generatorFor(seed: number): RandomGenerator {
  assertSeed(seed);
  let counter = mix32(seed ^ mix32(Math.floor(seed / 2 ** 32)));
  const state: number[] = Array.from({ length: 4 }, () => {
    counter = (counter + GOLDEN_GAMMA) >>> 0;
    return mix32(counter) | 0;
  });
  // xoroshiro's one forbidden state; splitmix32 over four consecutive counters cannot produce it, but a guard is cheap.
  if (!state.some((word) => word !== 0)) state[0] = 1;
  return xoroshiro128plusFromState(state);
}

/**
 * A seed for an independent stream, derived from a parent seed and labels, e.g.
 * `deriveSeed(config.seed, 'train', round, clientId)`. Labels are typed: `('x', 1)` and `('x', '1')` differ.
 * Returns an integer in [0, MAX_SEED].
 */
export function deriveSeed(seed: number, ...labels: readonly (string | number)[]): number {
  assertSeed(seed);
  const text = JSON.stringify(labels);
  // FNV-1a over the UTF-16 code units of the labels' JSON, started from the mixed parent seed.
  let hash = mix32(seed ^ mix32(Math.floor(seed / 2 ** 32)) ^ 0x811c9dc5);
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  }
  return mix32(hash) & MAX_SEED;
}

class SeededRandom implements Random {
  readonly #generator: RandomGenerator;
  /** Marsaglia's polar method makes normals in pairs: the second one is kept for the next call. */
  #spareGaussian: number | undefined;

  constructor(seed: number) {
    this.#generator = generatorFor(seed);
  }

  nextFloat(): number {
    return uniformFloat64(this.#generator);
  }

  nextInt(maxExclusive: number): number {
    if (!Number.isSafeInteger(maxExclusive) || maxExclusive < 1) {
      throw new RangeError(`nextInt: maxExclusive must be a positive safe integer (got ${maxExclusive})`);
    }
    return uniformInt(this.#generator, 0, maxExclusive - 1);
  }

  nextGaussian(): number {
    if (this.#spareGaussian !== undefined) {
      const spare = this.#spareGaussian;
      this.#spareGaussian = undefined;
      return spare;
    }
    for (;;) {
      const u = 2 * this.nextFloat() - 1;
      const v = 2 * this.nextFloat() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const factor = Math.sqrt((-2 * Math.log(s)) / s);
        this.#spareGaussian = v * factor;
        return u * factor;
      }
    }
  }

  shuffleInPlace<A extends MutableArrayLike<unknown>>(array: A): A {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const held = array[i];
      array[i] = array[j];
      array[j] = held;
    }
    return array;
  }

  gamma(shape: number): number {
    return Math.exp(this.#logGamma(shape));
  }

  dirichlet(alpha: number, k: number): Float64Array {
    if (!Number.isSafeInteger(k) || k < 1) throw new RangeError(`dirichlet: k must be a positive integer (got ${k})`);
    // Normalising in log space: for small alpha the gamma draws underflow to 0 and a plain g/Σg would be 0/0.
    const logs = Float64Array.from({ length: k }, () => this.#logGamma(alpha));
    const largest = logs.reduce((a, b) => Math.max(a, b), -Infinity);
    const proportions = new Float64Array(k);
    if (largest === -Infinity) {
      // Only reachable for an alpha so small that 1/alpha overflows; the limit of Dir(alpha→0) is one category.
      proportions[this.nextInt(k)] = 1;
      return proportions;
    }
    let total = 0;
    for (let i = 0; i < k; i++) {
      proportions[i] = Math.exp(logs[i]! - largest);
      total += proportions[i]!;
    }
    for (let i = 0; i < k; i++) proportions[i]! /= total;
    return proportions;
  }

  /** log of a Gamma(shape, 1) draw: Marsaglia & Tsang (2000), boosted by U^(1/shape) for shape < 1. */
  #logGamma(shape: number): number {
    if (!(shape > 0) || !Number.isFinite(shape)) {
      throw new RangeError(`gamma: shape must be a positive finite number (got ${shape})`);
    }
    if (shape < 1) {
      const uniformInOpenZeroOne = 1 - this.nextFloat();
      return this.#logGamma(shape + 1) + Math.log(uniformInOpenZeroOne) / shape;
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.nextGaussian();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.nextFloat();
      if (u < 1 - 0.0331 * x ** 4) return Math.log(d * v);
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return Math.log(d * v);
    }
  }
}

/** A seeded random stream; the same seed always gives the same sequence, on every platform. */
export function createRandom(seed: number): Random {
  return new SeededRandom(seed);
}
