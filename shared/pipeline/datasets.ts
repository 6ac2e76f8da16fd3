import type { ObjectStore } from '../cloud/ports.js';
import { datasetFromIdx } from '../data/mnist.js';
import type { Dataset } from '../data/types.js';
import { keys } from '../protocol/keys.js';
import { requireObject } from './context.js';

// Warm Lambdas and the local runtime evaluate every round: parse the 10k test set (and the 60k train set) once per bucket.
const cache = new Map<string, Promise<Dataset>>();

function cached(store: ObjectStore, split: 'train' | 'test'): Promise<Dataset> {
  const cacheKey = `${store.bucket}:${split}`;
  let dataset = cache.get(cacheKey);
  if (!dataset) {
    dataset = Promise.all([
      requireObject(store, keys.mnist(`${split}-images`)),
      requireObject(store, keys.mnist(`${split}-labels`)),
    ]).then(([images, labels]) => datasetFromIdx(images, labels));
    dataset.catch(() => cache.delete(cacheKey));
    cache.set(cacheKey, dataset);
  }
  return dataset;
}

/** MNIST's 60k training images, from the bucket's datasets/ prefix (the deploy and the local runtime put them there). */
export const loadTrainSet = (store: ObjectStore) => cached(store, 'train');
/** MNIST's 10k test images, from the bucket's datasets/ prefix. */
export const loadTestSet = (store: ObjectStore) => cached(store, 'test');
