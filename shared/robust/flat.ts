import { assertSameLayout, WeightsError, type TensorLayout } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';

/**
 * The robust aggregators work on one flat Float32Array per update, the tensors laid end to end in the model's
 * order: distances and norms are over the whole update, and one allocation per update keeps the memory formula
 * exact (docs/robustness.md).
 */

export function flatLength(layout: readonly TensorLayout[]): number {
  return layout.reduce((total, { shape }) => total + shape.reduce((size, dimension) => size * dimension, 1), 0);
}

/** w − w_global as one flat array, after checking the two have the same tensors. */
export function flatDelta(weights: ModelWeights, global: ModelWeights, context = 'update'): Float32Array {
  assertSameLayout(weights, global, context);
  const delta = new Float32Array(flatLength(global));
  let offset = 0;
  weights.forEach(({ values }, index) => {
    const base = global[index]!.values;
    for (let i = 0; i < base.length; i++) delta[offset + i] = values[i]! - base[i]!;
    offset += base.length;
  });
  return delta;
}

/** The tensors of `layout` as views into `flat` (no copy). */
export function unflatten(flat: Float32Array, layout: readonly TensorLayout[]): ModelWeights {
  const expected = flatLength(layout);
  if (flat.length !== expected) throw new WeightsError(`flat update has ${flat.length} values but the model has ${expected}`);
  let offset = 0;
  return layout.map(({ name, shape }) => {
    const size = shape.reduce((total, dimension) => total * dimension, 1);
    const values = flat.subarray(offset, offset + size);
    offset += size;
    return { name, shape: [...shape], values };
  });
}

/** w_global + Δ as fresh float32 tensors: the "mean" a strategy's server step takes, from an aggregated Δ. */
export function applyFlatDelta(global: ModelWeights, delta: Float32Array): ModelWeights {
  const expected = flatLength(global);
  if (delta.length !== expected) throw new WeightsError(`aggregated update has ${delta.length} values but the model has ${expected}`);
  let offset = 0;
  return global.map(({ name, shape, values }) => {
    const next = new Float32Array(values.length);
    for (let i = 0; i < values.length; i++) next[i] = values[i]! + delta[offset + i]!;
    offset += values.length;
    return { name, shape: [...shape], values: next };
  });
}
