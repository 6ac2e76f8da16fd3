import type { PrivacyPlan } from '../config/privacy.js';
import type { ModelWeights } from '../weights/types.js';
import { nextClipNorm, noisedUnclippedFraction } from './adaptive.js';
import { checkRelease } from './calibrate.js';
import { gaussianNoise } from './noise.js';
import type { PrivateSum } from './private-sum.js';
import { appendSteps, type PrivacyStep } from './rdp.js';

/**
 * One DP-FedAvg round's release, in the order that keeps the budget: the accountant first (`accountRound`), then the
 * noised mean and the next clip norm (`releaseRound`). The aggregator (shared/pipeline/privacy-round.ts) and the
 * in-process study (bench/dp-simulation.ts) both call these, so the noise streams and the order are the same.
 */

/** A round's release would take the experiment past its privacy budget: the round is not released. */
export class PrivacyBudgetError extends Error {
  override name = 'PrivacyBudgetError';
}

/** The accountant's history with round `round` added; throws PrivacyBudgetError when it would exceed the budget. */
export function accountRound(history: readonly PrivacyStep[], plan: PrivacyPlan, round: number): PrivacyStep[] {
  const step = { sampleRate: plan.sampleRate, noiseMultiplier: plan.noiseMultiplier };
  if (!plan.budget) return appendSteps(history, step.sampleRate, step.noiseMultiplier);
  const decision = checkRelease(history, step, plan.budget);
  if (!decision.allowed) {
    throw new PrivacyBudgetError(
      `releasing round ${round} would spend ε = ${decision.wouldSpend.epsilon.toFixed(4)} at δ = ${plan.budget.delta}, over the budget privacy.targetEpsilon = ${plan.budget.epsilon} (spent so far: ${decision.spent.epsilon.toFixed(4)}); the round is not released`,
    );
  }
  return decision.history;
}

export interface RoundRelease {
  /** (Σ clip(Δᵢ) + noise) / m */
  readonly meanDelta: ModelWeights;
  /** C for the next round: the same with fixed clipping */
  readonly nextClipNorm: number;
  /** adaptive clipping's noised share of unclipped updates */
  readonly noisedUnclipped: number | undefined;
}

/** The noised mean of a round's clipped sum and, with adaptive clipping, the next C from the noised unclipped count. */
export function releaseRound(sum: PrivateSum, args: { plan: PrivacyPlan; seed: number; round: number; clipNorm: number }): RoundRelease {
  const { plan, seed, round, clipNorm } = args;
  const reported = sum.count;
  const unclipped = sum.unclippedCount;
  const meanDelta = sum.release({
    noise: gaussianNoise(plan.randomness, seed, 'dp-noise', round),
    noiseMultiplier: plan.updateNoiseMultiplier,
    denominator: plan.expectedClients,
  });
  if (plan.clipping.kind !== 'adaptive') return { meanDelta, nextClipNorm: clipNorm, noisedUnclipped: undefined };
  const { countNoiseStddev, targetQuantile, learningRate } = plan.clipping;
  const noise = gaussianNoise(plan.randomness, seed, 'dp-count-noise', round);
  const noisedUnclipped = noisedUnclippedFraction({ unclipped, reported, countNoiseStddev, expectedClients: plan.expectedClients, noise });
  return { meanDelta, nextClipNorm: nextClipNorm({ clipNorm, unclippedFraction: noisedUnclipped, targetQuantile, learningRate }), noisedUnclipped };
}
