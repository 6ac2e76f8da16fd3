import { assertSameSize } from '../strategies/tensor-math.js';
import { assertFinite } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';

/**
 * The client half of DP-FedAvg (McMahan, Ramage, Talwar & Zhang, "Learning Differentially Private Recurrent
 * Language Models", ICLR 2018): a client's update Δ = w_local − w_global, scaled down to L2 norm at most C over all
 * its tensors together, so that one client's presence changes the server's sum by at most C.
 */

export interface ClippedUpdate {
  /** Δ scaled by min(1, C/‖Δ‖): its L2 norm is at most C, even after rounding to float32 */
  readonly delta: ModelWeights;
  /** ‖Δ‖ before clipping (float64 over the float32 values) */
  readonly norm: number;
  /** whether Δ was scaled down (‖Δ‖ > C); adaptive clipping counts the updates that were not */
  readonly clipped: boolean;
}

/**
 * A scaled float32 value can round up by half a unit in the last place (2⁻²⁴ relatively), so the norm of the
 * rounded tensor can exceed C by that much; scaling to C·(1 − 2⁻²⁰) leaves room for it and keeps the sensitivity
 * bound exact rather than approximate.
 */
const FLOAT32_ROUNDING_MARGIN = 1 - 2 ** -20;

/** The L2 norm of all of `weights`' values together, accumulated in float64. */
export function l2Norm(weights: ModelWeights): number {
  let sumOfSquares = 0;
  for (const { values } of weights) {
    for (let i = 0; i < values.length; i++) sumOfSquares += values[i]! * values[i]!;
  }
  return Math.sqrt(sumOfSquares);
}

/** Δ = local − global, tensor by tensor; both must have the same layout. */
export function modelDelta(local: ModelWeights, global: ModelWeights): ModelWeights {
  assertSameSize(local, global, 'model delta');
  return local.map((tensor, index) => {
    const base = global[index]!.values;
    const values = new Float32Array(tensor.values.length);
    for (let i = 0; i < values.length; i++) values[i] = tensor.values[i]! - base[i]!;
    return { name: tensor.name, shape: [...tensor.shape], values };
  });
}

/** `delta` scaled to L2 norm at most `clipNorm` (a fresh copy either way; the input is only read). */
export function clipToNorm(delta: ModelWeights, clipNorm: number): ClippedUpdate {
  assertClipNorm(clipNorm);
  for (const tensor of delta) assertFinite(tensor.name, tensor.values, 'update');
  const norm = l2Norm(delta);
  const clipped = norm > clipNorm;
  const scale = clipped ? (clipNorm / norm) * FLOAT32_ROUNDING_MARGIN : 1;
  const scaled = delta.map(({ name, shape, values }) => {
    const out = new Float32Array(values.length);
    for (let i = 0; i < out.length; i++) out[i] = values[i]! * scale;
    return { name, shape: [...shape], values: out };
  });
  return { delta: scaled, norm, clipped };
}

/** The whole client half: Δ = local − global, clipped to `clipNorm`. */
export function clipUpdate(local: ModelWeights, global: ModelWeights, clipNorm: number): ClippedUpdate {
  return clipToNorm(modelDelta(local, global), clipNorm);
}

/** global + delta, as a fresh float32 model (the server applies the noised mean delta this way under FedAvg). */
export function applyDelta(global: ModelWeights, delta: ModelWeights): ModelWeights {
  assertSameSize(delta, global, 'apply delta');
  return global.map(({ name, shape, values }, index) => {
    const change = delta[index]!.values;
    const out = new Float32Array(values.length);
    for (let i = 0; i < out.length; i++) out[i] = values[i]! + change[i]!;
    return { name, shape: [...shape], values: out };
  });
}

export function assertClipNorm(clipNorm: number): void {
  if (!(clipNorm > 0) || clipNorm === Infinity) throw new RangeError(`clip norm must be a positive finite number (got ${clipNorm})`);
}
