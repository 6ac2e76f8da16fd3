import { z } from 'zod';

/**
 * The `aggregator` section: how the server combines the round's updates Δᵢ = wᵢ − w_global into one Δ before the
 * strategy's server step (FedAvg adds it, FedAdam takes an Adam step along it, …). A section of its own, not a
 * strategy, because the two compose: the median of the updates works under FedAvg, FedAvgM or FedAdam alike.
 * Only "mean" streams (O(model) memory); every other kind holds all of a round's updates at once.
 * Parameter names follow the papers (f, m, β, τ) as the strategies' do (mu, tau, beta1).
 * Cross-field rules (Krum's n ≥ 2f + 3, what fits the aggregator's memory) are in shared/robust/problems.ts.
 */

export const AGGREGATOR_KINDS = ['mean', 'median', 'trimmed-mean', 'krum', 'multi-krum', 'norm-bounded', 'centered-clipping'] as const;

const weighting = z
  .enum(['uniform', 'samples'])
  .default('uniform')
  .describe('How the updates kept are averaged: uniform (each client once, as in the paper) or samples (by sample count, as FedAvg).');

const f = z
  .int()
  .min(0)
  .max(499)
  .describe('f: the number of attackers per round to tolerate. Needs at least 2f + 3 updates in every round.');

export const aggregatorSchema = z
  .discriminatedUnion('kind', [
    z
      .strictObject({ kind: z.literal('mean').describe('The sample-weighted mean of the updates (FedAvg), folded one update at a time.') })
      .describe('Mean: no robustness, least memory.'),
    z
      .strictObject({ kind: z.literal('median').describe('The coordinate-wise median of the updates; sample counts play no part.') })
      .describe('Coordinate-wise median (Yin et al., 2018): tolerates fewer than half the updates being arbitrary.'),
    z
      .strictObject({
        kind: z.literal('trimmed-mean').describe('Per coordinate, drop the ⌊β·n⌋ smallest and largest values and average the rest.'),
        beta: z.number().min(0).lt(0.5).default(0.1).describe('β: the share of updates trimmed from each side; tolerates up to β·n attackers.'),
      })
      .describe('Coordinate-wise trimmed mean (Yin et al., 2018).'),
    z
      .strictObject({
        kind: z.literal('krum').describe('The one update closest to its n − f − 2 nearest neighbours.'),
        f,
      })
      .describe('Krum (Blanchard et al., 2017).'),
    z
      .strictObject({
        kind: z.literal('multi-krum').describe('The mean of the m updates with the best Krum scores.'),
        f,
        m: z.int().min(1).max(1000).optional().describe('m: how many updates are averaged; at most n − f. Omit it for n − f.'),
        weighting,
      })
      .describe('Multi-Krum (Blanchard et al., 2017).'),
    z
      .strictObject({
        kind: z.literal('norm-bounded').describe('Scale every update longer than maxNorm down to it, then average.'),
        maxNorm: z.number().positive().max(1e6).describe('The largest L2 norm an update keeps; set it from the update norms of an attack-free run.'),
        weighting,
      })
      .describe('Norm-bounded mean (Sun et al., 2019).'),
    z
      .strictObject({
        kind: z.literal('centered-clipping').describe('Move a centre (last round\'s aggregate) towards each update by at most τ, averaged.'),
        tau: z.number().positive().max(1e6).describe('τ: the clipping radius around the centre; set it from the update norms of an attack-free run.'),
        iterations: z.int().min(1).max(100).default(1).describe('L: clipping iterations per round.'),
        weighting,
      })
      .describe('Centered clipping (Karimireddy, He, Jaggi, 2021).'),
  ])
  .describe('How the server combines the round\'s updates. Omit it for the mean; every other kind holds all of a round\'s updates in memory.');

export type AggregatorConfig = z.output<typeof aggregatorSchema>;
export type AggregatorConfigInput = z.input<typeof aggregatorSchema>;
export type AggregatorKind = (typeof AGGREGATOR_KINDS)[number];

/** An aggregator's parameters with their defaults filled in, e.g. `parseAggregatorConfig({ kind: 'trimmed-mean' })`. */
export function parseAggregatorConfig(input: AggregatorConfigInput): AggregatorConfig {
  return aggregatorSchema.parse(input);
}
