import * as tf from '@tensorflow/tfjs';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import { NUM_CLASSES, type Dataset } from '../data/types.js';
import { MODEL_INPUT_SHAPE } from '../models/index.js';

const [IMAGE_ROWS, IMAGE_COLS] = MODEL_INPUT_SHAPE;
const PIXELS = IMAGE_ROWS * IMAGE_COLS;

/** Rejects data the models cannot take, with a message that says what is wrong. */
export function checkDataset(dataset: Dataset, what: string): void {
  if (dataset.rows !== IMAGE_ROWS || dataset.cols !== IMAGE_COLS) {
    throw new Error(`${what}: images are ${dataset.rows}×${dataset.cols}, the models take ${IMAGE_ROWS}×${IMAGE_COLS}`);
  }
  if (!Number.isInteger(dataset.count) || dataset.count < 1) throw new Error(`${what} has no samples`);
  if (dataset.images.length < dataset.count * PIXELS || dataset.labels.length < dataset.count) {
    throw new Error(
      `${what}: ${dataset.count} samples need ${dataset.count * PIXELS} pixels and ${dataset.count} labels, ` +
        `got ${dataset.images.length} and ${dataset.labels.length}`,
    );
  }
}

/** A random permutation of 0..count-1 (Fisher–Yates) drawn from `rng`. */
export function shuffledIndices(count: number, rng: RandomGenerator): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  for (let i = count - 1; i > 0; i--) {
    const j = uniformInt(rng, 0, i);
    const swap = order[i]!;
    order[i] = order[j]!;
    order[j] = swap;
  }
  return order;
}

/**
 * Builds float batches on demand from the uint8 dataset, so a whole shard is never held as float32
 * (60,000 MNIST images would take 188 MB). Reuses one staging buffer per call.
 */
export class BatchMaker {
  private readonly pixels: Float32Array;
  private readonly oneHot: Float32Array;

  constructor(
    private readonly dataset: Dataset,
    private readonly maxBatch: number,
  ) {
    this.pixels = new Float32Array(maxBatch * PIXELS);
    this.oneHot = new Float32Array(maxBatch * NUM_CLASSES);
  }

  /** Images [n, 28, 28, 1] in [0, 1], one-hot labels [n, 10], and the raw labels, for rows `indices[start..end)`. */
  make(indices: ArrayLike<number>, start: number, end: number): { xs: tf.Tensor4D; ys: tf.Tensor2D; labels: Uint8Array } {
    const size = end - start;
    if (size < 1 || size > this.maxBatch) throw new Error(`batch of ${size} outside 1..${this.maxBatch}`);
    const { images } = this.dataset;
    const labels = new Uint8Array(size);
    this.oneHot.fill(0, 0, size * NUM_CLASSES);
    for (let row = 0; row < size; row++) {
      const sample = indices[start + row]!;
      const from = sample * PIXELS;
      const to = row * PIXELS;
      for (let p = 0; p < PIXELS; p++) this.pixels[to + p] = images[from + p]! / 255;
      const label = this.dataset.labels[sample]!;
      if (label >= NUM_CLASSES) throw new Error(`sample ${sample} has label ${label}, expected 0–${NUM_CLASSES - 1}`);
      labels[row] = label;
      this.oneHot[row * NUM_CLASSES + label] = 1;
    }
    // tf.tensor copies into the wasm heap; on cpu it may keep a view, which is safe because the
    // caller disposes each batch before asking for the next.
    const xs = tf.tensor4d(this.pixels.subarray(0, size * PIXELS), [size, IMAGE_ROWS, IMAGE_COLS, 1], 'float32');
    const ys = tf.tensor2d(this.oneHot.subarray(0, size * NUM_CLASSES), [size, NUM_CLASSES], 'float32');
    return { xs, ys, labels };
  }
}
