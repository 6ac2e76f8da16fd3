import { appendSteps, DEFAULT_RDP_ORDERS, privacySpent, type PrivacySpent, type PrivacyStep } from './rdp.js';

/**
 * The noise multipliers calibration searches. Below 0.1 the subsampled Gaussian's ε grows so fast that no useful
 * budget is met there; above 100 the noise on the mean of m clients (σ·C/m per coordinate) swamps any update a
 * federation of up to ~10⁴ clients per round can make. A budget not met at the top is reported as unreachable.
 */
export const NOISE_MULTIPLIER_RANGE = Object.freeze({ min: 0.1, max: 100 });

/** Bisection stops when the bracket is this narrow, relatively: σ to 4 significant digits. */
const RELATIVE_TOLERANCE = 1e-4;

export interface CalibrationRequest {
  readonly targetEpsilon: number;
  readonly delta: number;
  readonly sampleRate: number;
  readonly rounds: number;
  readonly orders?: readonly number[];
}

export type Calibration =
  /** `noiseMultiplier` spends `epsilon` ≤ targetEpsilon over the rounds: the smallest σ (to 1e-4) that does. */
  | { readonly ok: true; readonly noiseMultiplier: number; readonly epsilon: number; readonly order: number }
  /** even σ = NOISE_MULTIPLIER_RANGE.max spends more than the target: `smallestEpsilon` is what it spends */
  | { readonly ok: false; readonly smallestEpsilon: number; readonly noiseMultiplier: number };

/**
 * The noise multiplier σ for which `rounds` rounds at sampling rate q end at ε ≤ targetEpsilon (at δ), found by
 * bisection on log σ (ε falls as σ grows: more noise is post-processing of less). The σ returned is the upper end
 * of the final bracket, so the target is met by the same accountant that checks each round, not approximately.
 * When even σ_min meets the target, σ_min is returned: σ is never searched below NOISE_MULTIPLIER_RANGE.min.
 */
export function calibrateNoiseMultiplier(request: CalibrationRequest): Calibration {
  const { targetEpsilon, delta, sampleRate, rounds, orders = DEFAULT_RDP_ORDERS } = request;
  if (!(targetEpsilon > 0) || targetEpsilon === Infinity) throw new RangeError(`targetEpsilon must be a positive number (got ${targetEpsilon})`);
  if (!(sampleRate > 0 && sampleRate <= 1)) throw new RangeError(`sampling rate must be greater than 0 and at most 1 (got ${sampleRate})`);
  if (!Number.isSafeInteger(rounds) || rounds < 1) throw new RangeError(`rounds must be a positive integer (got ${rounds})`);
  const spent = (noiseMultiplier: number) => privacySpent([{ sampleRate, noiseMultiplier, count: rounds }], delta, orders);

  let high: number = NOISE_MULTIPLIER_RANGE.max;
  let highSpent = spent(high);
  if (highSpent.epsilon > targetEpsilon) return { ok: false, smallestEpsilon: highSpent.epsilon, noiseMultiplier: high };
  let low: number = NOISE_MULTIPLIER_RANGE.min;
  const lowSpent = spent(low);
  if (lowSpent.epsilon <= targetEpsilon) return { ok: true, noiseMultiplier: low, epsilon: lowSpent.epsilon, order: lowSpent.order };
  // Invariant: spent(low) > target ≥ spent(high).
  while (high / low > 1 + RELATIVE_TOLERANCE) {
    const middle = Math.sqrt(low * high);
    const middleSpent = spent(middle);
    if (middleSpent.epsilon <= targetEpsilon) {
      high = middle;
      highSpent = middleSpent;
    } else {
      low = middle;
    }
  }
  return { ok: true, noiseMultiplier: high, epsilon: highSpent.epsilon, order: highSpent.order };
}

export interface PrivacyBudget {
  readonly epsilon: number;
  readonly delta: number;
}

export type ReleaseDecision =
  | { readonly allowed: true; readonly spent: PrivacySpent; readonly history: PrivacyStep[] }
  | { readonly allowed: false; readonly spent: PrivacySpent; readonly wouldSpend: PrivacySpent };

/**
 * Run before a round's noised aggregate is released: whether one more round at (q, σ) keeps the experiment within
 * its budget. Allowed: `spent` is ε after the round and `history` the accounting to persist with the release.
 * Refused: `spent` is ε so far (unchanged) and `wouldSpend` what the round would have brought it to; the round must
 * not be released, and the experiment stops at the budget.
 */
export function checkRelease(
  history: readonly PrivacyStep[],
  round: { readonly sampleRate: number; readonly noiseMultiplier: number },
  budget: PrivacyBudget,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): ReleaseDecision {
  const next = appendSteps(history, round.sampleRate, round.noiseMultiplier);
  const wouldSpend = privacySpent(next, budget.delta, orders);
  if (wouldSpend.epsilon <= budget.epsilon) return { allowed: true, spent: wouldSpend, history: next };
  const spent = history.length === 0 ? { epsilon: 0, order: NaN } : privacySpent(history, budget.delta, orders);
  return { allowed: false, spent, wouldSpend };
}
