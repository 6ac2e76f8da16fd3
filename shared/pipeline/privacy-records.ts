import { z } from 'zod';
import { PRIVACY_RANDOMNESS, type PrivacyPlan } from '../config/privacy.js';

/**
 * The records a DP run keeps besides the usual ones, validated when read back like every other record
 * (shared/protocol/records.ts). Kept apart from privacy-round.ts so experiment.ts can read the plan without a cycle.
 */

const positive = z.number().positive().refine(Number.isFinite, 'must be finite');
const fraction = z.number().min(0).max(1);

/** config.resolved.json's `privacyPlan`: σ as calibrated at start, so every later step uses the same one. */
export const privacyPlanSchema = z.object({
  sampleRate: z.number().gt(0).max(1),
  expectedClients: positive,
  delta: z.number().gt(0).lt(1),
  noiseMultiplier: positive,
  updateNoiseMultiplier: positive,
  budget: z.object({ epsilon: positive, delta: z.number().gt(0).lt(1) }).optional(),
  projectedEpsilon: z.number().min(0),
  clipping: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('fixed'), norm: positive }),
    z.object({ kind: z.literal('adaptive'), initialNorm: positive, targetQuantile: fraction, learningRate: z.number().min(0), countNoiseStddev: positive }),
  ]),
  randomness: z.enum(PRIVACY_RANDOMNESS),
});

/** The validated record as the PrivacyPlan contract (zod's optional fields allow an explicit undefined). */
export function asPrivacyPlan(parsed: z.output<typeof privacyPlanSchema>): PrivacyPlan {
  const { budget, ...rest } = parsed;
  return { ...rest, ...(budget ? { budget } : {}) };
}

export const privacyStepSchema = z.object({ sampleRate: fraction, noiseMultiplier: z.number().min(0), count: z.int().min(1) });

/**
 * experiments/<id>/rounds/<r>/privacy.json: what round r released and what it cost, written by the aggregator before
 * global model r (so a global model of a DP run always has its accounting beside it).
 */
export const privacyRoundSchema = z.object({
  round: z.int().min(1),
  /** updates folded into the noised sum (0 in a round where Poisson sampling chose nobody: noise only) */
  reported: z.int().min(0),
  /** C this round's updates were clipped to */
  clipNorm: positive,
  /** C for the next round (equal to clipNorm with fixed clipping) */
  nextClipNorm: positive,
  /** share of the reported updates whose norm exceeded C (exact; not covered by ε, see docs/privacy.md); null with none */
  clippedFraction: fraction.nullable(),
  /** adaptive clipping: b̃, the noised share of unclipped updates that moved C (covered by ε) */
  noisedUnclippedFraction: fraction.optional(),
  /** σ charged by the accountant, and σ_Δ on the updates */
  noiseMultiplier: positive,
  updateNoiseMultiplier: positive,
  /** m = q·N, the fixed denominator */
  denominator: positive,
  /** ‖Σ clip(Δᵢ)‖ / m: the signal in the released mean */
  signalNorm: z.number().min(0),
  /** ‖noise‖ / m: the norm of the noise actually added to the mean */
  noiseNorm: z.number().min(0),
  /** the clients' reported ‖Δ‖ before clipping: median (null with none) */
  medianUpdateNorm: z.number().min(0).nullable(),
  /** ε at δ after this round, and the Rényi order that gave it */
  epsilon: z.number().min(0),
  delta: z.number().gt(0).lt(1),
  order: z.number(),
  /** the accountant's composition so far, including this round */
  history: z.array(privacyStepSchema),
  /**
   * present when the noise was distributed (secure aggregation): each client added N(0, σ²C²/t) before masking;
   * achievedNoiseMultiplier = σ·√(n/t) for the n contributors, at least the σ the accountant charged
   */
  distributed: z.object({ minContributors: z.int().min(1), achievedNoiseMultiplier: positive }).optional(),
});
export type PrivacyRoundRecord = z.output<typeof privacyRoundSchema>;
