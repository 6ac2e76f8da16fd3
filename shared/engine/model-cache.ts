import type * as tf from '@tensorflow/tfjs';
import type { ModelName } from '../config/schema.js';
import { buildModel } from '../models/index.js';

/**
 * One built model per name per process: a warm Lambda trains many rounds, and rebuilding (graph + weight
 * allocation) each time costs more than overwriting the weights. Its initial weights never matter.
 */
const models = new Map<ModelName, tf.LayersModel>();

export function cachedModel(name: ModelName): tf.LayersModel {
  let model = models.get(name);
  if (!model) {
    model = buildModel(name, 0);
    models.set(name, model);
  }
  return model;
}

/** Disposes the cached models (their weights are the only tensors the engine keeps between calls). */
export function releaseCachedModels(): void {
  for (const model of models.values()) model.dispose();
  models.clear();
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs engine work one call at a time: the cached models are shared, so two overlapping calls in one process
 * would overwrite each other's weights. Parallel training belongs in separate workers or processes.
 */
export function runExclusive<T>(work: () => Promise<T>): Promise<T> {
  const result = queue.then(work, work);
  queue = result.catch(() => undefined);
  return result;
}
