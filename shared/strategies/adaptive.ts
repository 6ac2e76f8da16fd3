import { packState, unpackState } from './server-state.js';
import { elementwise, filledLike } from './tensor-math.js';
import { plainClient, wholeModelServer } from './halves.js';
import type { Strategy } from './types.js';

export interface AdaptiveParameters {
  /** η */
  readonly serverLearningRate: number;
  /** β1 */
  readonly beta1: number;
  /** τ */
  readonly tau: number;
}

/** v_t from v_{t−1} and one coordinate of the pseudo-gradient Δ_t: the one line where FedAdagrad, FedYogi and FedAdam differ. */
export type SecondMomentUpdate = (previous: number, delta: number) => number;

const SLOTS = ['m', 'v'] as const;

/**
 * The FedOpt server step of Reddi et al. (2021), Algorithm 2, per model value:
 *   Δ = mean − global,   m ← β1·m + (1 − β1)·Δ,   v ← secondMoment(v, Δ),   x ← x + η·m / (√v + τ)
 * with m = 0 and v = τ² before round 1 (the paper's v_{−1} ≥ τ², at its bound) and, as in the paper, no bias
 * correction. m and v are the persisted state.
 */
export function createAdaptiveStrategy(name: string, parameters: AdaptiveParameters, secondMoment: SecondMomentUpdate): Strategy {
  const { serverLearningRate, beta1, tau } = parameters;
  return {
    name,
    client: plainClient(),
    server: wholeModelServer(({ global, mean, state }) => {
      const previous = state === undefined ? { m: filledLike(global, 0), v: filledLike(global, tau * tau) } : unpackState(name, state, global, SLOTS);
      const m = elementwise(name, [previous.m, mean, global], (mPrevious, y, x) => beta1 * mPrevious + (1 - beta1) * (y - x));
      const v = elementwise(name, [previous.v, mean, global], (vPrevious, y, x) => secondMoment(vPrevious, y - x));
      const weights = elementwise(name, [global, m, v], (x, mNext, vNext) => x + (serverLearningRate * mNext) / (Math.sqrt(vNext) + tau));
      return { weights, state: packState(SLOTS, { m, v }) };
    }),
  };
}
