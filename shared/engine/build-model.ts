import * as tf from '@tensorflow/tfjs';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { ModelName } from '../config/schema.js';
import { toModelSpec, type ModelInput, type ModelSpec } from '../models/index.js';
import type { ModelWeights } from '../weights/types.js';
import { currentBackendInfo } from './backend.js';
import { readModelWeights } from './weights-bridge.js';

/**
 * Builds the model (a name, for MNIST's input unless `input` says otherwise, or a spec) with Glorot-uniform kernels
 * and zero biases (the Keras defaults), seeded: the layers API's default initialisers are not, so two builds would
 * otherwise start from different weights. The values do not depend on the backend. Needs `await initBackend()` first.
 */
export function buildModel(model: ModelName | ModelSpec, seed: number, input?: ModelInput): tf.LayersModel {
  const spec = toModelSpec(model, input);
  // Left to itself tfjs would start a backend on first use, without our wasm paths and kernels.
  currentBackendInfo();
  const rng = xoroshiro128plus(seed);
  const nextSeed = () => uniformInt(rng, 0, 2 ** 31 - 1);
  const built = tf.sequential({ name: spec.name });
  let first = true;
  for (const layer of spec.layers) {
    const inputShape = first ? { inputShape: [...spec.input.shape] } : {};
    first = false;
    switch (layer.kind) {
      case 'conv':
        built.add(
          tf.layers.conv2d({
            ...inputShape,
            name: layer.name,
            filters: layer.filters,
            kernelSize: layer.kernelSize,
            padding: 'same',
            activation: 'relu',
            kernelInitializer: tf.initializers.glorotUniform({ seed: nextSeed() }),
            biasInitializer: 'zeros',
          }),
        );
        break;
      case 'maxPool':
        built.add(tf.layers.maxPooling2d({ ...inputShape, name: layer.name, poolSize: 2, strides: 2 }));
        break;
      case 'flatten':
        built.add(tf.layers.flatten({ ...inputShape, name: layer.name }));
        break;
      case 'dense':
        built.add(
          tf.layers.dense({
            ...inputShape,
            name: layer.name,
            units: layer.units,
            activation: layer.activation,
            kernelInitializer: tf.initializers.glorotUniform({ seed: nextSeed() }),
            biasInitializer: 'zeros',
          }),
        );
        break;
    }
  }
  return built;
}

/** The seeded round-0 weights of a model, as plain arrays (the model used to make them is disposed). Needs initBackend. */
export function initialWeights(model: ModelName | ModelSpec, seed: number, input?: ModelInput): ModelWeights {
  const built = buildModel(model, seed, input);
  try {
    return readModelWeights(built);
  } finally {
    built.dispose();
  }
}
