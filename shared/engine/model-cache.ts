import type * as tf from '@tensorflow/tfjs';
import type { ModelSpec } from '../models/index.js';
import { buildModel } from './build-model.js';

/**
 * One built model per architecture and input per process: a warm Lambda trains many rounds, and rebuilding (graph +
 * weight allocation) each time costs more than overwriting the weights. Its initial weights never matter.
 */
const models = new Map<string, tf.LayersModel>();

export function cachedModel(spec: ModelSpec): tf.LayersModel {
  let model = models.get(spec.key);
  if (!model) {
    model = buildModel(spec, 0);
    models.set(spec.key, model);
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
