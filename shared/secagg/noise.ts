import type { RandomBytes } from './crypto.js';

/**
 * The hook for distributed differential privacy: each client adds its share of the Gaussian noise before masking, so
 * the unmasked sum carries noise of variance σ² that no single party (the server included) can remove. The pipeline's
 * distributed DP (shared/pipeline/secagg-privacy.ts, shared/config/distributed-privacy.ts) clips, sizes the share for
 * the threshold, checks the quantizer's range and runs the accountant; docs/privacy.md states what it assumes.
 *
 * Maths: independent N(0, σ²/m) draws from m contributors sum to N(0, σ²). Clients do not know how many of the round
 * will contribute, so the share is sized for the fewest contributors the round can close with (the threshold, or the
 * DP module's own minimum): with more contributors the sum is noisier than σ², never less noisy.
 *
 * Where it runs: on the float update, after the DP clipping and before quantization. Quantization clamps every
 * coordinate to [−clippingRange, clippingRange] and rounds; both change the noise's distribution, so config requires
 * clippingRange ≥ C + 8 standard deviations of the share, and the rounding stays outside the DP proof (docs/privacy.md).
 */
export interface DistributedNoise {
  /** adds this client's share of the noise to `values` in place, drawing from `random` only */
  addTo(values: Float32Array, random: RandomBytes): void;
}

/** σ_client = σ / √minContributors: the per-client standard deviation whose sum over ≥ minContributors has ≥ σ. */
export function perClientNoiseStd(sigma: number, minContributors: number): number {
  if (!(Number.isFinite(sigma) && sigma >= 0)) throw new RangeError(`sigma must be a non-negative number (got ${sigma})`);
  if (!Number.isSafeInteger(minContributors) || minContributors < 1) throw new RangeError(`minContributors must be a positive integer (got ${minContributors})`);
  return sigma / Math.sqrt(minContributors);
}

/** A uniform double strictly inside (0, 1) from 7 bytes at `offset`: 53 of their 56 bits, centred in the cell. */
function uniformOpen(bytes: Uint8Array, offset: number): number {
  const high = (bytes[offset]! << 16) | (bytes[offset + 1]! << 8) | bytes[offset + 2]!;
  const low = ((bytes[offset + 3]! << 24) | (bytes[offset + 4]! << 16) | (bytes[offset + 5]! << 8) | bytes[offset + 6]!) >>> 0;
  // 24 + 29 bits, each part exact in a double; + 0.5 keeps the result off 0 and 1.
  return (high * 2 ** 29 + Math.floor(low / 8) + 0.5) / 2 ** 53;
}

/**
 * Continuous Gaussian noise N(0, σ²/minContributors) per coordinate, Box–Muller over the injected stream. A reference
 * implementation of the hook: floating-point Gaussian samplers have known gaps in their DP guarantees (Mironov 2012
 * for Laplace; the discrete Gaussian of Canonne, Kamath and Steinke 2020 avoids them), so the DP module decides
 * whether to use this or its own sampler.
 */
export function gaussianNoiseShare(sigma: number, minContributors: number): DistributedNoise {
  const std = perClientNoiseStd(sigma, minContributors);
  return {
    addTo(values, random) {
      if (std === 0) return;
      addNormals(values, std, random);
    },
  };
}

/** Adds N(0, std²) to every entry of `target`, Box–Muller over 14 bytes of `random` per pair. */
function addNormals(target: Float32Array | Float64Array, std: number, random: RandomBytes): void {
  const pairs = Math.ceil(target.length / 2);
  const bytes = random(14 * pairs);
  for (let i = 0; i < target.length; i += 2) {
    const offset = 7 * i;
    const radius = Math.sqrt(-2 * Math.log(uniformOpen(bytes, offset))) * std;
    const angle = 2 * Math.PI * uniformOpen(bytes, offset + 7);
    target[i] = target[i]! + radius * Math.cos(angle);
    if (i + 1 < target.length) target[i + 1] = target[i + 1]! + radius * Math.sin(angle);
  }
}

/**
 * The share the pipeline's distributed DP adds: as gaussianNoiseShare, but each draw is the sum of four independent
 * normals divided by 2 (still N(0, 1)), the hardening the central sampler uses (shared/privacy/noise.ts, after
 * Holohan & Braghin, arXiv:2107.10138 §5.1) against attacks on the low bits of floating-point Gaussians. A mitigation,
 * not a proof; costs four times the stream (56 bytes per pair of coordinates).
 */
export function hardenedGaussianNoiseShare(sigma: number, minContributors: number): DistributedNoise {
  const std = perClientNoiseStd(sigma, minContributors);
  return {
    addTo(values, random) {
      if (std === 0) return;
      const draws = new Float64Array(values.length);
      for (let k = 0; k < 4; k++) addNormals(draws, 1, random);
      for (let i = 0; i < values.length; i++) values[i] = values[i]! + (draws[i]! / 2) * std;
    },
  };
}
