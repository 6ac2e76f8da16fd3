import * as tf from '@tensorflow/tfjs';
import type { ModelWeights, WeightTensor } from '../weights/types.js';

export class WeightsMismatchError extends Error {
  override name = 'WeightsMismatchError';
}

type ModelVariable = tf.LayersModel['weights'][number];

/**
 * A copy of the model's weights as plain arrays, named by their layer-scoped names ("conv1/kernel"), not by
 * tfjs's process-unique variable names (which gain "_1", "_2" suffixes when a model is built twice).
 */
export function readModelWeights(model: tf.LayersModel): ModelWeights {
  return model.weights.map((variable) => {
    const value = variable.read();
    const values = value.dataSync();
    if (!(values instanceof Float32Array)) {
      throw new WeightsMismatchError(`${variable.originalName}: expected float32 weights, got ${variable.dtype}`);
    }
    // The cpu backend hands out its own storage: copy so later training cannot change what we returned.
    return { name: variable.originalName, shape: [...value.shape], values: new Float32Array(values) };
  });
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, i) => size === b[i]);
}

function describeShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Pairs every model weight with the tensor of the same name, checking that names, shapes and value counts
 * all match before anything is written, so a bad update leaves the model untouched.
 */
export function matchWeights(
  model: tf.LayersModel,
  weights: ModelWeights,
  what = 'weights',
): readonly { readonly variable: ModelVariable; readonly tensor: WeightTensor }[] {
  const byName = new Map<string, WeightTensor>();
  for (const tensor of weights) {
    if (byName.has(tensor.name)) throw new WeightsMismatchError(`tensor '${tensor.name}' appears twice in the ${what}`);
    byName.set(tensor.name, tensor);
  }
  const pairs = model.weights.map((variable) => {
    const shape = variable.read().shape;
    const tensor = byName.get(variable.originalName);
    if (!tensor) {
      throw new WeightsMismatchError(
        `tensor '${variable.originalName}' ${describeShape(shape)} of model '${model.name}' is missing from the ${what}`,
      );
    }
    byName.delete(variable.originalName);
    if (!sameShape(tensor.shape, shape)) {
      throw new WeightsMismatchError(
        `tensor '${tensor.name}' in the ${what} has shape ${describeShape(tensor.shape)} but model '${model.name}' expects ${describeShape(shape)}`,
      );
    }
    const expected = shape.reduce((a, b) => a * b, 1);
    if (tensor.values.length !== expected) {
      throw new WeightsMismatchError(
        `tensor '${tensor.name}' in the ${what} has ${tensor.values.length} values but its shape ${describeShape(tensor.shape)} needs ${expected}`,
      );
    }
    return { variable, tensor };
  });
  const [unexpected] = byName.keys();
  if (unexpected !== undefined) {
    throw new WeightsMismatchError(`tensor '${unexpected}' in the ${what} is not a weight of model '${model.name}'`);
  }
  return pairs;
}

/** Overwrites the model's weights in place (no tensors left behind); throws WeightsMismatchError first if they don't fit. */
export function writeModelWeights(model: tf.LayersModel, weights: ModelWeights): void {
  for (const { variable, tensor } of matchWeights(model, weights)) {
    const value = tf.tensor(tensor.values, [...tensor.shape], 'float32');
    try {
      variable.write(value);
    } finally {
      value.dispose();
    }
  }
}
