import { createRandom } from '../random.js';
import { normalQuantile } from './normal-quantile.js';

/**
 * Attacks on the uploaded update Δ (flat, as shared/robust/flat.ts lays it out). Each returns a new array and leaves
 * the honest Δ as it was, so the trainer can record both.
 */

export class AttackError extends Error {
  override name = 'AttackError';
}

/** Sign flipping: −k·Δ. */
export function signFlip(delta: Float32Array, factor: number): Float32Array {
  checkPositive('sign-flip factor', factor);
  return scaled(delta, -factor);
}

/** Scaling (a boosted update, Bhagoji et al. 2019): k·Δ. */
export function scale(delta: Float32Array, factor: number): Float32Array {
  checkPositive('scale factor', factor);
  return scaled(delta, factor);
}

function scaled(delta: Float32Array, factor: number): Float32Array {
  const out = new Float32Array(delta.length);
  for (let i = 0; i < out.length; i++) out[i] = factor * delta[i]!;
  return out;
}

/**
 * Gaussian noise N(0, σ²) per value, replacing Δ or added to it. Seeded (e.g. deriveSeed(config.seed, 'attack',
 * round, clientId)), so a rerun sends the same noise.
 */
export function gaussianNoise(delta: Float32Array, options: { readonly sigma: number; readonly mode: 'replace' | 'add'; readonly seed: number }): Float32Array {
  checkPositive('gaussian sigma', options.sigma);
  const random = createRandom(options.seed);
  const out = new Float32Array(delta.length);
  const keep = options.mode === 'add' ? 1 : 0;
  for (let i = 0; i < out.length; i++) out[i] = keep * delta[i]! + options.sigma * random.nextGaussian();
  return out;
}

/**
 * "A little is enough" (Baruch, Baruch, Goldberg 2019), the z it calls z_max: with n updates of which f are
 * malicious, s = ⌊n/2 + 1⌋ − f honest updates must be won over for a majority, and z = Φ⁻¹((n − s)/n) keeps the
 * malicious value within the spread of that many honest ones. s is kept at least 1 (an attacker majority needs no
 * honest votes; the formula would give z = ∞).
 */
export function alieZ(n: number, f: number): number {
  if (!Number.isSafeInteger(n) || n < 2) throw new AttackError(`alie: n must be an integer of at least 2 (got ${n})`);
  if (!Number.isSafeInteger(f) || f < 1 || f > n) throw new AttackError(`alie: f must be an integer from 1 to n = ${n} (got ${f})`);
  const s = Math.max(1, Math.floor(n / 2 + 1) - f);
  return normalQuantile((n - s) / n);
}

/**
 * The update every colluding attacker sends: μ − z·σ per coordinate, where μ and σ are the mean and standard
 * deviation of `honest`, the attackers' own honestly trained updates (the paper's setting, where attackers do not
 * see other clients' updates). σ is the sample standard deviation (divisor m − 1), 0 for a single update.
 */
export function alieUpdate(honest: readonly Float32Array[], z: number): Float32Array {
  if (honest.length === 0) throw new AttackError('alie: needs at least one honest update from the attackers');
  if (!(Number.isFinite(z) && z >= 0)) throw new AttackError(`alie: z must be a non-negative number (got ${z})`);
  const m = honest.length;
  const length = honest[0]!.length;
  honest.forEach((delta, index) => {
    if (delta.length !== length) throw new AttackError(`alie: update ${index} has ${delta.length} values but update 0 has ${length}`);
  });
  const mean = new Float64Array(length);
  for (const delta of honest) for (let i = 0; i < length; i++) mean[i]! += delta[i]!;
  for (let i = 0; i < length; i++) mean[i]! /= m;
  const variance = new Float64Array(length);
  if (m > 1) {
    for (const delta of honest) {
      for (let i = 0; i < length; i++) {
        const d = delta[i]! - mean[i]!;
        variance[i]! += d * d;
      }
    }
    for (let i = 0; i < length; i++) variance[i]! /= m - 1;
  }
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = mean[i]! - z * Math.sqrt(variance[i]!);
  return out;
}

function checkPositive(what: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) throw new AttackError(`${what} must be a positive number (got ${value})`);
}
