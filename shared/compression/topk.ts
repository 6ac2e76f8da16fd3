import { select } from '../robust/order-statistics.js';

/**
 * Top-k sparsification of one vector (a tensor, or the whole update laid end to end): the k = ⌈ratio × size⌉ values
 * of largest magnitude (at least one for a non-empty vector), with their indices in increasing order. Ties at the
 * threshold go to the lower index, so the choice is deterministic.
 */
export interface SparseTensor {
  /** strictly increasing, each < size */
  readonly indices: Uint32Array;
  readonly values: Float32Array;
}

/** k for a tensor of `size` values; the small tolerance keeps 0.07 × 100 at 7 despite its float product. */
export function topkCount(ratio: number, size: number): number {
  if (size === 0) return 0;
  return Math.min(size, Math.max(1, Math.ceil(ratio * size - 1e-9)));
}

export function sparsifyTopk(values: Float32Array, ratio: number): SparseTensor {
  const k = topkCount(ratio, values.length);
  if (k === values.length) return { indices: Uint32Array.from(values.keys()), values: Float32Array.from(values) };
  const magnitudes = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) magnitudes[i] = Math.abs(values[i]!);
  // The k-th largest magnitude: everything above it is kept, and as many equal to it as are needed.
  const threshold = select(magnitudes, 0, values.length - 1, values.length - k);
  let above = 0;
  for (let i = 0; i < values.length; i++) if (Math.abs(values[i]!) > threshold) above++;
  let ties = k - above;
  const indices = new Uint32Array(k);
  const kept = new Float32Array(k);
  let next = 0;
  for (let i = 0; i < values.length && next < k; i++) {
    const magnitude = Math.abs(values[i]!);
    if (magnitude > threshold || (magnitude === threshold && ties-- > 0)) {
      indices[next] = i;
      kept[next] = values[i]!;
      next++;
    }
  }
  return { indices, values: kept };
}

/** Scatters the kept values into `out` (from `offset`), which must already be zero elsewhere. */
export function densifyInto(tensor: SparseTensor, out: Float32Array, offset: number): void {
  for (let i = 0; i < tensor.indices.length; i++) out[offset + tensor.indices[i]!] = tensor.values[i]!;
}
