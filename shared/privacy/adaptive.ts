import type { GaussianNoise } from './noise.js';

/**
 * Adaptive clipping (Andrew, Thakkar, McMahan & Ramaswamy, "Differentially Private Learning with Adaptive
 * Clipping", NeurIPS 2021): C follows the γ-quantile of the clients' update norms. Each round the server releases,
 * beside the noised sum of updates, a noised count of the updates that were NOT clipped, and moves C geometrically:
 *     b̃ = (Σᵢ (bᵢ − ½) + N(0, σ_b²)) / m + ½,   clipped to [0, 1]
 *     C ← C · exp(−η_C · (b̃ − γ))
 * with bᵢ = 1 when ‖Δᵢ‖ ≤ C, m the expected clients per round. Centering the bits at ½ gives the count query
 * sensitivity ½ instead of 1 (and keeps the actual number of clients, which is private, out of it).
 *
 * Both releases are Gaussian mechanisms on the same sample, so together they are one Gaussian mechanism with
 * 1/σ² = 1/σ_Δ² + 1/(2σ_b)²; the accountant keeps σ, and the updates get the larger
 *     σ_Δ = (σ⁻² − (2σ_b)⁻²)^(−1/2),
 * which exists only when σ_b > σ/2. Andrew et al. suggest σ_b = m/20, η_C = 0.2, γ = 0.5.
 */

/** σ_Δ, the noise multiplier left for the updates when the clipped-count query takes its share of σ. */
export function updateNoiseMultiplier(noiseMultiplier: number, countNoiseStddev: number): number {
  if (!(noiseMultiplier > 0) || noiseMultiplier === Infinity) throw new RangeError(`noise multiplier must be a positive finite number (got ${noiseMultiplier})`);
  if (!(countNoiseStddev > noiseMultiplier / 2) || countNoiseStddev === Infinity) {
    throw new RangeError(
      `the clipped-count noise σ_b must be greater than half the noise multiplier, ${noiseMultiplier / 2} (got ${countNoiseStddev}): otherwise the count alone spends the whole budget`,
    );
  }
  return (noiseMultiplier ** -2 - (2 * countNoiseStddev) ** -2) ** -0.5;
}

/** Andrew et al.'s suggested count noise: m/20 for m expected clients per round. */
export function defaultCountNoiseStddev(expectedClients: number): number {
  return expectedClients / 20;
}

export interface UnclippedFractionArgs {
  /** updates folded this round that were not clipped */
  readonly unclipped: number;
  /** updates folded this round (0 in a round where sampling chose nobody) */
  readonly reported: number;
  /** σ_b */
  readonly countNoiseStddev: number;
  /** m = q·N, the same fixed denominator as the updates' */
  readonly expectedClients: number;
  readonly noise: GaussianNoise;
}

/** b̃: the noised fraction of updates that were not clipped, in [0, 1]. */
export function noisedUnclippedFraction(args: UnclippedFractionArgs): number {
  const { unclipped, reported, countNoiseStddev, expectedClients, noise } = args;
  if (!Number.isSafeInteger(reported) || reported < 0) throw new RangeError(`reported must be a non-negative integer (got ${reported})`);
  if (!Number.isSafeInteger(unclipped) || unclipped < 0 || unclipped > reported) {
    throw new RangeError(`unclipped must be an integer from 0 to reported, ${reported} (got ${unclipped})`);
  }
  if (!(countNoiseStddev > 0) || countNoiseStddev === Infinity) throw new RangeError(`count noise must be a positive finite number (got ${countNoiseStddev})`);
  if (!(expectedClients > 0) || expectedClients === Infinity) throw new RangeError(`expected clients must be a positive number (got ${expectedClients})`);
  const centeredCount = unclipped - reported / 2;
  const estimate = (centeredCount + countNoiseStddev * noise.next()) / expectedClients + 0.5;
  return Math.min(1, Math.max(0, estimate));
}

export interface ClipNormUpdate {
  readonly clipNorm: number;
  /** b̃ from noisedUnclippedFraction */
  readonly unclippedFraction: number;
  /** γ: the fraction of updates that should go unclipped */
  readonly targetQuantile: number;
  /** η_C */
  readonly learningRate: number;
}

/** C · exp(−η_C·(b̃ − γ)): too many updates unclipped shrinks C, too few grows it, by at most a factor e^η_C. */
export function nextClipNorm({ clipNorm, unclippedFraction, targetQuantile, learningRate }: ClipNormUpdate): number {
  if (!(clipNorm > 0) || clipNorm === Infinity) throw new RangeError(`clip norm must be a positive finite number (got ${clipNorm})`);
  if (!(unclippedFraction >= 0 && unclippedFraction <= 1)) throw new RangeError(`unclipped fraction must be from 0 to 1 (got ${unclippedFraction})`);
  if (!(targetQuantile >= 0 && targetQuantile <= 1)) throw new RangeError(`target quantile must be from 0 to 1 (got ${targetQuantile})`);
  if (!(learningRate >= 0) || learningRate === Infinity) throw new RangeError(`learning rate must be a non-negative finite number (got ${learningRate})`);
  return clipNorm * Math.exp(-learningRate * (unclippedFraction - targetQuantile));
}
