import type { TensorInfo } from '@tensorflow/tfjs';
import type { Dataset } from '../data/types.js';
import { writeModelInput } from './batches.js';
import type { Heap } from './fused-heap.js';
import type { LayerPlan } from './fused-plan.js';

/** A batch on the heap, owned by whoever asked for it. */
export interface UploadedBatch {
  readonly input: TensorInfo;
  /** only when the plan pads the input (see uploadBatch) */
  readonly inputPadded?: TensorInfo;
}

/** Rows `rows[start..end)` of the dataset on the heap (see uploadBatch), with their labels. */
export function uploadRows(
  heap: Heap,
  plan: LayerPlan,
  dataset: Dataset,
  rows: ArrayLike<number>,
  start: number,
  end: number,
): UploadedBatch & { labels: Uint8Array } {
  const count = end - start;
  const labels = new Uint8Array(count);
  const { classes } = plan;
  for (let row = 0; row < count; row++) {
    const sample = rows[start + row]!;
    const label = dataset.labels[sample]!;
    if (label >= classes) throw new Error(`sample ${sample} has label ${label}, expected 0–${classes - 1}`);
    labels[row] = label;
  }
  const batch = uploadBatch(heap, plan, count, (pixels) => writeModelInput(dataset, rows, start, end, pixels));
  return { labels, ...batch };
}

/**
 * The batch as [n, height, width, channels] and, when the first layer is a conv on grey images, also zero-padded by
 * its kernel ([n, height + k − 1, width + k − 1]), the layout our SIMD kernel reads for that conv's filter gradient.
 */
export function uploadBatch(heap: Heap, plan: LayerPlan, count: number, fill: (pixels: Float32Array) => void): UploadedBatch {
  const first = plan.layers[0];
  const k = first?.kind === 'conv' && plan.padsInput ? first.kernelSize : 0;
  const [rows, cols, channels] = plan.shape;
  const input = heap.alloc([count, rows, cols, channels]);
  const padded = k ? heap.alloc([count, rows + k - 1, cols + k - 1]) : undefined;
  const pixels = heap.view(input);
  fill(pixels);
  if (!padded) return { input };
  writePadded(pixels, count, k, heap.view(padded), rows, cols);
  return { input, inputPadded: padded };
}

/** The grey images zero-padded for a k×k 'same' kernel: [n, rows + k − 1, cols + k − 1], the top/left pad first. */
function writePadded(pixels: Float32Array, count: number, k: number, padded: Float32Array, rows: number, cols: number): void {
  const pad = Math.floor((k - 1) / 2);
  const paddedCols = cols + k - 1;
  const paddedPlane = (rows + k - 1) * paddedCols;
  padded.fill(0);
  for (let n = 0; n < count; n++) {
    for (let i = 0; i < rows; i++) {
      const from = n * rows * cols + i * cols;
      padded.set(pixels.subarray(from, from + cols), n * paddedPlane + (i + pad) * paddedCols + pad);
    }
  }
}
