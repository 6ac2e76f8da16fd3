import { perClientNoiseStd } from '../secagg/noise.js';

/**
 * The rules for `privacy` together with `secureAggregation`: distributed DP (docs/privacy.md, "Central and
 * distributed DP"). Each client clips its Δ to C and adds N(0, σ²C²/m) per coordinate before quantization and
 * masking, so a sum over the at least m contributors the round may be unmasked with carries noise of variance ≥ σ²C²,
 * which no single party removes. privacyProblems (privacy.ts) calls these; the pipeline reads distributedNoiseStd.
 */

/**
 * How many per-client noise standard deviations the quantizer's coordinate range must leave above C. A noisy
 * coordinate is clamped to [−c, c] only when |noise| > c − C; at 8 standard deviations that has probability
 * 2·Φ(−8) ≈ 1.2·10⁻¹⁵ per coordinate, ~10⁻⁷ over 10⁸ coordinates (a 200k-parameter model, 5 clients, 100 rounds).
 */
export const NOISE_RANGE_SIGMAS = 8;

/**
 * m: the fewest contributors a distributed-DP round is unmasked with, and the number its noise shares are sized for.
 * At least the threshold (the protocol's own floor); round.minClients (default: every client) raises it, since a round
 * with fewer usable updates fails anyway. The larger m, the less noise each client adds for the same σ.
 */
export function distributedMinContributors(threshold: number, minClients: number | undefined, clients: number): number {
  return Math.min(clients, Math.max(threshold, minClients ?? clients));
}

/** The standard deviation each client adds per coordinate: σ·C/√m, so ≥ m contributors sum to ≥ σ·C. */
export function distributedNoiseStd(noiseMultiplier: number, clipNorm: number, minContributors: number): number {
  return perClientNoiseStd(noiseMultiplier * clipNorm, minContributors);
}

/** The smallest secureAggregation.clippingRange that leaves room for C plus NOISE_RANGE_SIGMAS of the client's noise. */
export function minimumClippingRange(noiseMultiplier: number, clipNorm: number, minContributors: number): number {
  return clipNorm + NOISE_RANGE_SIGMAS * distributedNoiseStd(noiseMultiplier, clipNorm, minContributors);
}

export const DISTRIBUTED_SAMPLING_MESSAGE =
  'must be omitted with privacy and secureAggregation (every client every round, q = 1): the server draws the sample and sees who takes part, so amplification by sampling does not hold against the server that distributed DP is meant not to trust, and a Poisson draw of unknown size cannot fit the fixed threshold and quantization range; remove the sampling section';

export interface DistributedPrivacyConfig {
  readonly clients: number;
  readonly round?: { readonly minClients?: number | undefined } | undefined;
  readonly sampling?: unknown;
  readonly privacy: { readonly clipping: { readonly kind: string }; readonly randomness: string };
  readonly secureAggregation: { readonly threshold: number; readonly clippingRange: number };
}

/** What distributed DP does not support, each naming the field; checked before σ is calibrated. */
export function distributedPrivacyProblems(config: DistributedPrivacyConfig): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if (config.sampling !== undefined) {
    problems.push({
      path: 'sampling',
      message: DISTRIBUTED_SAMPLING_MESSAGE,
    });
  }
  if (config.privacy.clipping.kind === 'adaptive') {
    problems.push({
      path: 'privacy.clipping.kind',
      message:
        'must be "fixed" with secureAggregation (got "adaptive"): adaptive clipping needs the noised count of unclipped updates, which would have to be aggregated under the masks too, and that is not implemented',
    });
  }
  if (config.privacy.randomness === 'seeded') {
    problems.push({
      path: 'privacy.randomness',
      message:
        'must be "secure" with secureAggregation (got "seeded"): each client draws its noise from a stream keyed by its own CSPRNG secret, so a seeded run could not be reproduced and the setting would be a promise the code does not keep',
    });
  }
  return problems;
}

/** Why secureAggregation.clippingRange cannot carry C plus the client's noise share, or undefined. */
export function distributedRangeProblem(config: DistributedPrivacyConfig, noiseMultiplier: number, clipNorm: number): { path: string; message: string } | undefined {
  const { threshold, clippingRange } = config.secureAggregation;
  const least = distributedMinContributors(threshold, config.round?.minClients, config.clients);
  const minimum = minimumClippingRange(noiseMultiplier, clipNorm, least);
  if (clippingRange >= minimum) return undefined;
  const std = distributedNoiseStd(noiseMultiplier, clipNorm, least);
  return {
    path: 'secureAggregation.clippingRange',
    message: `must be at least ${Number(minimum.toPrecision(4))} with privacy (got ${clippingRange}): a coordinate of a clipped update is at most C = ${clipNorm}, and each client adds noise of standard deviation σ·C/√m = ${Number(std.toPrecision(4))} (σ = ${Number(noiseMultiplier.toPrecision(4))}, m = ${least}: the larger of secureAggregation.threshold and round.minClients); the range must leave ${NOISE_RANGE_SIGMAS} standard deviations above C so that clamping a noisy coordinate is negligible`,
  };
}
