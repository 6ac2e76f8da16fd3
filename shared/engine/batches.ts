import * as tf from '@tensorflow/tfjs';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import { formatShape, sampleShape, sampleSize, type Dataset } from '../data/types.js';
import type { ModelInput, ModelSpec } from '../models/index.js';

/** The model input a dataset calls for: its sample shape and its class count. */
export function modelInputOf(dataset: Dataset): ModelInput {
  return { shape: sampleShape(dataset), classes: dataset.classes };
}

/** Rejects data the model cannot take, with a message that says what is wrong. */
export function checkDataset(dataset: Dataset, what: string, spec: ModelSpec): void {
  const shape = formatShape(sampleShape(dataset));
  if (shape !== formatShape(spec.input.shape)) {
    throw new Error(`${what}: images are ${shape}, the model ${spec.name} was built for ${formatShape(spec.input.shape)}`);
  }
  if (dataset.classes !== spec.input.classes) {
    throw new Error(`${what}: the dataset has ${dataset.classes} classes, the model ${spec.name} was built for ${spec.input.classes}`);
  }
  if (!Number.isInteger(dataset.count) || dataset.count < 1) throw new Error(`${what} has no samples`);
  const size = sampleSize(dataset);
  if (dataset.images.length < dataset.count * size || dataset.labels.length < dataset.count) {
    throw new Error(
      `${what}: ${dataset.count} samples need ${dataset.count * size} pixel values and ${dataset.count} labels, ` +
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
 * Writes rows `indices[start..end)` of the dataset as model input into `out`: pixels scaled to [0, 1], then
 * standardised per channel when the dataset carries a normalisation. Shared by the tape loop and the fused step, so
 * both see exactly the same floats.
 */
export function writeModelInput(dataset: Dataset, indices: ArrayLike<number>, start: number, end: number, out: Float32Array): void {
  const { images, channels, normalization } = dataset;
  const size = sampleSize(dataset);
  if (!normalization) {
    for (let row = 0; row < end - start; row++) {
      const from = indices[start + row]! * size;
      const to = row * size;
      for (let p = 0; p < size; p++) out[to + p] = images[from + p]! / 255;
    }
    return;
  }
  const mean = Float32Array.from(normalization.mean);
  const std = Float32Array.from(normalization.std);
  for (let row = 0; row < end - start; row++) {
    const from = indices[start + row]! * size;
    const to = row * size;
    for (let p = 0; p < size; p++) {
      const channel = p % channels;
      out[to + p] = (images[from + p]! / 255 - mean[channel]!) / std[channel]!;
    }
  }
}

/**
 * Builds float batches on demand from the uint8 dataset, so a whole shard is never held as float32
 * (60,000 MNIST images would take 188 MB). Reuses one staging buffer per call.
 */
export class BatchMaker {
  private readonly pixels: Float32Array;
  private readonly oneHot: Float32Array;
  private readonly size: number;
  private readonly classes: number;

  constructor(
    private readonly dataset: Dataset,
    private readonly maxBatch: number,
  ) {
    this.size = sampleSize(dataset);
    this.classes = dataset.classes;
    this.pixels = new Float32Array(maxBatch * this.size);
    this.oneHot = new Float32Array(maxBatch * this.classes);
  }

  /** Images [n, height, width, channels], one-hot labels [n, classes], and the raw labels, for rows `indices[start..end)`. */
  make(indices: ArrayLike<number>, start: number, end: number): { xs: tf.Tensor4D; ys: tf.Tensor2D; labels: Uint8Array } {
    const size = end - start;
    if (size < 1 || size > this.maxBatch) throw new Error(`batch of ${size} outside 1..${this.maxBatch}`);
    const { classes } = this;
    const labels = new Uint8Array(size);
    this.oneHot.fill(0, 0, size * classes);
    for (let row = 0; row < size; row++) {
      const sample = indices[start + row]!;
      const label = this.dataset.labels[sample]!;
      if (label >= classes) throw new Error(`sample ${sample} has label ${label}, expected 0–${classes - 1}`);
      labels[row] = label;
      this.oneHot[row * classes + label] = 1;
    }
    writeModelInput(this.dataset, indices, start, end, this.pixels);
    // tf.tensor copies into the wasm heap; on cpu it may keep a view, which is safe because the
    // caller disposes each batch before asking for the next.
    const [height, width, channels] = sampleShape(this.dataset);
    const xs = tf.tensor4d(this.pixels.subarray(0, size * this.size), [size, height, width, channels], 'float32');
    const ys = tf.tensor2d(this.oneHot.subarray(0, size * classes), [size, classes], 'float32');
    return { xs, ys, labels };
  }
}
