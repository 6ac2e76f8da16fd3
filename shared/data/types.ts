/**
 * A labelled image set kept as raw bytes, one uint8 per pixel channel and one uint8 label per image. Images are
 * height × width × channels, row-major with the channels interleaved (NHWC, what tfjs convolutions take).
 */
export interface Dataset {
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
  readonly channels: number;
  /** labels run 0..classes−1; a shard keeps the whole dataset's class count even if it lacks some labels */
  readonly classes: number;
  /** count × rows × cols × channels values, 0–255 */
  readonly images: Uint8Array;
  /** count labels */
  readonly labels: Uint8Array;
  /** per-channel standardisation applied after scaling pixels to [0, 1]; absent: pixels are only scaled */
  readonly normalization?: Normalization;
}

/** (x / 255 − mean[c]) / std[c] for channel c. */
export interface Normalization {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/** height × width × channels */
export type SampleShape = readonly [height: number, width: number, channels: number];

/** MNIST's (and Fashion-MNIST's) class count; the default where no dataset says otherwise. */
export const NUM_CLASSES = 10;

/** Labels are one byte each. */
export const MAX_CLASSES = 256;

export function sampleShape(dataset: Pick<Dataset, 'rows' | 'cols' | 'channels'>): SampleShape {
  return [dataset.rows, dataset.cols, dataset.channels];
}

export function sampleSize(dataset: Pick<Dataset, 'rows' | 'cols' | 'channels'>): number {
  return dataset.rows * dataset.cols * dataset.channels;
}

export function formatShape(shape: SampleShape): string {
  return shape.join('×');
}

export class DatasetFormatError extends Error {
  override name = 'DatasetFormatError';
}
