import { checkDeltas } from './order-statistics.js';
import { RobustAggregationError, type RobustOutcome } from './types.js';
import { normalisedWeights, type Weighting } from './weighted.js';

/**
 * Norm-bounded mean (Sun, Kairouz, Suresh, McMahan 2019, "Can You Really Backdoor Federated Learning?"): every update
 * longer than `maxNorm` is scaled down to that length, then the updates are averaged. An attacker's pull on the mean
 * is at most αᵢ·maxNorm, whatever it sends.
 */
export function normBoundedMean(deltas: readonly Float32Array[], maxNorm: number, weighting: Weighting = { kind: 'uniform' }): RobustOutcome {
  const n = checkDeltas(deltas, 'norm-bounded mean');
  checkPositive('norm-bounded mean: maxNorm', maxNorm);
  const weights = normalisedWeights(n, weighting.kind === 'samples' ? weighting.samples : undefined);
  const sum = new Float64Array(deltas[0]!.length);
  const clipped: number[] = [];
  deltas.forEach((delta, index) => {
    const length = norm64(delta, undefined);
    const scale = length > maxNorm ? maxNorm / length : 1;
    if (scale < 1) clipped.push(index);
    const factor = weights[index]! * scale;
    for (let i = 0; i < sum.length; i++) sum[i]! += factor * delta[i]!;
  });
  return { delta: Float32Array.from(sum), clipped };
}

export interface CenteredClippingOptions {
  /** τ: the radius around the current centre beyond which an update's pull is cut to length τ */
  readonly tau: number;
  /** L: clipping iterations, each moving the centre (the paper finds 1 enough when starting from the last aggregate) */
  readonly iterations: number;
  /** v₀, the starting centre: the previous round's aggregated Δ ("learning from history"); zeros when absent */
  readonly start?: Float32Array | undefined;
  readonly weighting?: Weighting;
}

/**
 * Centered clipping (Karimireddy, He, Jaggi 2021, "Learning from History for Byzantine Robust Optimization", eq. 2):
 *
 *   v_l = v_{l−1} + Σᵢ αᵢ · (Δᵢ − v_{l−1}) · min(1, τ / ‖Δᵢ − v_{l−1}‖),   l = 1…L,
 *
 * with αᵢ = 1/n in the paper. Each update moves the centre by at most αᵢ·τ per iteration, whatever it holds.
 */
export function centeredClipping(deltas: readonly Float32Array[], options: CenteredClippingOptions): RobustOutcome {
  const n = checkDeltas(deltas, 'centered clipping');
  const { tau, iterations, start } = options;
  checkPositive('centered clipping: tau', tau);
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new RobustAggregationError(`centered clipping: iterations must be a positive integer (got ${iterations})`);
  }
  const length = deltas[0]!.length;
  if (start !== undefined && start.length !== length) {
    throw new RobustAggregationError(`centered clipping: the starting centre has ${start.length} values but the updates have ${length}`);
  }
  const weighting = options.weighting ?? { kind: 'uniform' };
  const weights = normalisedWeights(n, weighting.kind === 'samples' ? weighting.samples : undefined);
  let centre = start === undefined ? new Float64Array(length) : Float64Array.from(start);
  let next = new Float64Array(length);
  const clipped = new Set<number>();
  for (let iteration = 0; iteration < iterations; iteration++) {
    next.set(centre);
    deltas.forEach((delta, index) => {
      const distance = norm64(delta, centre);
      const scale = distance > tau ? tau / distance : 1;
      if (scale < 1) clipped.add(index);
      const factor = weights[index]! * scale;
      for (let i = 0; i < length; i++) next[i]! += factor * (delta[i]! - centre[i]!);
    });
    [centre, next] = [next, centre];
  }
  return { delta: Float32Array.from(centre), clipped: [...clipped].sort((a, b) => a - b) };
}

/** ‖delta − centre‖ (‖delta‖ without a centre), in float64. */
function norm64(delta: Float32Array, centre: Float64Array | undefined): number {
  let sum = 0;
  if (centre === undefined) {
    for (let i = 0; i < delta.length; i++) sum += delta[i]! * delta[i]!;
  } else {
    for (let i = 0; i < delta.length; i++) {
      const d = delta[i]! - centre[i]!;
      sum += d * d;
    }
  }
  return Math.sqrt(sum);
}

function checkPositive(what: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) throw new RobustAggregationError(`${what} must be a positive number (got ${value})`);
}
