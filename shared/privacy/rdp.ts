import { LogSum, logErfc, logSubExp } from './log-space.js';

/**
 * Rényi-DP accountant for the Poisson-subsampled Gaussian mechanism (SGM): each round every client is in the sample
 * independently with probability q, the sum of their contributions (each of L2 norm ≤ C) gets N(0, σ²C²) noise.
 * Written from Mironov, "Rényi Differential Privacy" (CSF 2017) and Mironov, Talwar & Zhang, "Rényi Differential
 * Privacy of the Sampled Gaussian Mechanism" (arXiv:1908.10530, 2019), §3.3, under add/remove-one neighbouring.
 * With μ₀ = N(0, σ²), μ₁ = N(1, σ²), μ = (1 − q)μ₀ + qμ₁, the RDP of one round at order α is
 *     ε(α) = log A_α / (α − 1),   A_α = E_{z∼μ₀}[(μ(z)/μ₀(z))^α].
 * Composition adds ε(α) over rounds; the (ε, δ) guarantee is the best conversion over a grid of orders.
 */

/** One kind of round: `count` releases at sampling rate q = `sampleRate` and noise multiplier σ = `noiseMultiplier`. */
export interface PrivacyStep {
  readonly sampleRate: number;
  readonly noiseMultiplier: number;
  readonly count: number;
}

export interface PrivacySpent {
  /** ε such that the steps so far are (ε, δ)-DP; Infinity when no order gives a finite bound */
  readonly epsilon: number;
  /** the Rényi order that gave it (NaN when epsilon is Infinity) */
  readonly order: number;
}

/**
 * 1.1 … 10.9 in steps of 0.1, 12 … 63, then 128, 256, 512, 1024: Opacus's default orders plus the large ones
 * TF-Privacy adds, which give the best bound when ε is small (many rounds at large σ).
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, index) => 1 + (index + 1) / 10),
  ...Array.from({ length: 52 }, (_, index) => 12 + index),
  128,
  256,
  512,
  1024,
]);

/** Beyond this many terms the fractional-order series is abandoned and that order reports Infinity (no bound). */
const MAX_SERIES_TERMS = 100_000;
/** A term is negligible once it is below e^(−32) ≈ 1.3·10⁻¹⁴ of the sum so far. */
const NEGLIGIBLE_LOG_RATIO = 32;

/**
 * The RDP ε(α) of one Poisson-subsampled Gaussian round. q = 0 is no release (0), σ = 0 no noise (Infinity),
 * q = 1 the plain Gaussian mechanism, α/(2σ²).
 */
export function rdpSampledGaussian(sampleRate: number, noiseMultiplier: number, order: number): number {
  assertStep(sampleRate, noiseMultiplier);
  if (!(order > 1)) throw new RangeError(`Rényi order must be greater than 1 (got ${order})`);
  if (sampleRate === 0) return 0;
  if (noiseMultiplier === 0 || order === Infinity) return Infinity;
  if (sampleRate === 1) return order / (2 * noiseMultiplier * noiseMultiplier);
  const logA = Number.isInteger(order)
    ? logMomentIntegerOrder(sampleRate, noiseMultiplier, order)
    : logMomentFractionalOrder(sampleRate, noiseMultiplier, order);
  // A_α ≥ 1 in exact arithmetic (a Rényi divergence is non-negative); rounding can leave it a hair below.
  return Math.max(0, logA) / (order - 1);
}

/** ε(α) of `step` at every order: `count` × the one-round value (RDP composes additively). */
export function rdpOfStep(step: PrivacyStep, orders: readonly number[] = DEFAULT_RDP_ORDERS): number[] {
  if (!Number.isSafeInteger(step.count) || step.count < 0) throw new RangeError(`step count must be a non-negative integer (got ${step.count})`);
  return orders.map((order) => (step.count === 0 ? 0 : step.count * rdpSampledGaussian(step.sampleRate, step.noiseMultiplier, order)));
}

/** The RDP of running every step in `steps` one after another (they may differ in q and σ). */
export function composeRdp(steps: readonly PrivacyStep[], orders: readonly number[] = DEFAULT_RDP_ORDERS): number[] {
  const total = orders.map(() => 0);
  for (const step of steps) {
    rdpOfStep(step, orders).forEach((value, index) => (total[index]! += value));
  }
  return total;
}

/**
 * (ε, δ) from RDP by Balle, Barthe, Gaboardi, Hsu & Sato, "Hypothesis Testing Interpretations and Rényi Differential
 * Privacy" (AISTATS 2020), Theorem 21: at each order, ε = rdp + log((α − 1)/α) − (log δ + log α)/(α − 1); the
 * smallest over the orders, and never below 0.
 */
export function epsilonFromRdp(orders: readonly number[], rdp: readonly number[], delta: number): PrivacySpent {
  if (orders.length !== rdp.length || orders.length === 0) {
    throw new RangeError(`epsilonFromRdp: need one RDP value per order (got ${rdp.length} values for ${orders.length} orders)`);
  }
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be greater than 0 and less than 1 (got ${delta})`);
  let best: PrivacySpent = { epsilon: Infinity, order: NaN };
  orders.forEach((order, index) => {
    const value = rdp[index]!;
    if (!(order > 1)) throw new RangeError(`Rényi order must be greater than 1 (got ${order})`);
    if (Number.isNaN(value) || value < 0) throw new RangeError(`RDP at order ${order} must be a non-negative number (got ${value})`);
    const epsilon = value + Math.log1p(-1 / order) - (Math.log(delta) + Math.log(order)) / (order - 1);
    if (epsilon < best.epsilon) best = { epsilon, order };
  });
  return best.epsilon === Infinity ? best : { epsilon: Math.max(0, best.epsilon), order: best.order };
}

/** ε at `delta` after `steps`: composition then conversion, over `orders`. */
export function privacySpent(steps: readonly PrivacyStep[], delta: number, orders: readonly number[] = DEFAULT_RDP_ORDERS): PrivacySpent {
  return epsilonFromRdp(orders, composeRdp(steps, orders), delta);
}

/**
 * The history with `count` more rounds at (q, σ): merged into the last entry when q and σ are the same, so a run
 * of identical rounds is one entry however long it is. The history is plain JSON, fit to persist between rounds.
 */
export function appendSteps(history: readonly PrivacyStep[], sampleRate: number, noiseMultiplier: number, count = 1): PrivacyStep[] {
  assertStep(sampleRate, noiseMultiplier);
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`count must be a positive integer (got ${count})`);
  const last = history.at(-1);
  if (last !== undefined && last.sampleRate === sampleRate && last.noiseMultiplier === noiseMultiplier) {
    return [...history.slice(0, -1), { sampleRate, noiseMultiplier, count: last.count + count }];
  }
  return [...history, { sampleRate, noiseMultiplier, count }];
}

function assertStep(sampleRate: number, noiseMultiplier: number): void {
  if (!(sampleRate >= 0 && sampleRate <= 1)) throw new RangeError(`sampling rate must be from 0 to 1 (got ${sampleRate})`);
  if (!(noiseMultiplier >= 0) || noiseMultiplier === Infinity) {
    throw new RangeError(`noise multiplier must be a non-negative finite number (got ${noiseMultiplier})`);
  }
}

/**
 * log A_α for integer α, 0 < q < 1: expanding (1 − q + q·e^((2z−1)/(2σ²)))^α binomially and integrating each power
 * against μ₀ (a Gaussian moment generating function) gives the closed form
 *     A_α = Σ_{k=0}^{α} C(α, k) (1 − q)^(α−k) q^k e^((k² − k)/(2σ²)).
 * Every term is positive; the binomial coefficients come from the recurrence C(α, k+1) = C(α, k)·(α − k)/(k + 1).
 */
function logMomentIntegerOrder(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoSigmaSquared = 2 * sigma * sigma;
  const sum = new LogSum();
  let logBinomial = 0;
  for (let k = 0; k <= alpha; k++) {
    sum.add(logBinomial + k * logQ + (alpha - k) * log1mQ + (k * k - k) / twoSigmaSquared);
    logBinomial += Math.log(alpha - k) - Math.log(k + 1);
  }
  return sum.value;
}

/**
 * log A_α for fractional α, 0 < q < 1 (Mironov, Talwar & Zhang §3.3). The ratio μ/μ₀ is (1 − q)(1 + x) with x ≤ 1
 * left of z₀ = σ²·log(1/q − 1) + 1/2 and q·e^((2z−1)/(2σ²))·(1 + y) with y ≤ 1 right of it, so each half of the
 * integral has a convergent binomial series, and each term integrates to a Gaussian tail:
 *     A_α = Σ_i C(α, i) [ (1 − q)^(α−i) q^i e^((i² − i)/(2σ²)) · ½erfc((i − z₀)/(√2σ))
 *                        + q^(α−i) (1 − q)^i e^((j² − j)/(2σ²)) · ½erfc((z₀ − j)/(√2σ)) ],   j = α − i.
 * For i > α + 1 the coefficients alternate in sign and shrink, so once a term is negligible the rest of the series
 * is smaller than that term: its absolute value is added instead of its signed value, keeping the result an upper
 * bound on A_α (the accountant errs towards more ε, never less).
 */
function logMomentFractionalOrder(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoSigmaSquared = 2 * sigma * sigma;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  const erfcScale = Math.SQRT2 * sigma;
  const positive = new LogSum();
  const negative = new LogSum();
  let logBinomial = 0; // log |C(α, i)|
  let sign = 1; // sign of C(α, i)
  let previousLeft = Infinity;
  let previousRight = Infinity;
  for (let i = 0; i < MAX_SERIES_TERMS; i++) {
    const j = alpha - i;
    const left = logBinomial + j * log1mQ + i * logQ + (i * i - i) / twoSigmaSquared + logErfc((i - z0) / erfcScale) - Math.LN2;
    const right = logBinomial + j * logQ + i * log1mQ + (j * j - j) / twoSigmaSquared + logErfc((z0 - j) / erfcScale) - Math.LN2;
    // Shrinking (or already exactly 0, −∞ in log space) and far below the sum.
    const shrinking = (left < previousLeft || left === -Infinity) && (right < previousRight || right === -Infinity);
    const negligible = i > alpha + 1 && shrinking && Math.max(left, right) < positive.value - NEGLIGIBLE_LOG_RATIO;
    if (negligible) {
      positive.add(left);
      positive.add(right);
      // Cancellation to ≤ 0 cannot happen in exact arithmetic (A_α ≥ 1); if rounding ever produced it, this order
      // gives no bound rather than a wrong one.
      return negative.value >= positive.value ? Infinity : logSubExp(positive.value, negative.value);
    }
    const target = sign > 0 ? positive : negative;
    target.add(left);
    target.add(right);
    previousLeft = left;
    previousRight = right;
    logBinomial += Math.log(Math.abs(alpha - i)) - Math.log(i + 1);
    if (alpha - i < 0) sign = -sign;
  }
  // Not converged: no bound at this order, so it cannot be the one chosen.
  return Infinity;
}
