import * as tf from '@tensorflow/tfjs';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { ModelName } from '../config/schema.js';
import { currentBackendInfo } from '../engine/backend.js';
import { readModelWeights } from '../engine/weights-bridge.js';
import type { ModelWeights } from '../weights/types.js';

/** Every model takes one 28×28 grey image, pixels scaled to [0, 1], and outputs 10 logits (no softmax). */
export const MODEL_INPUT_SHAPE = [28, 28, 1] as const;
export const NUM_OUTPUTS = 10;

export type LayerSpec =
  /** 'same' padding, stride 1, relu */
  | { readonly kind: 'conv'; readonly name: string; readonly filters: number; readonly kernelSize: number }
  /** 2×2 window, stride 2 */
  | { readonly kind: 'maxPool'; readonly name: string }
  | { readonly kind: 'flatten'; readonly name: string }
  | { readonly kind: 'dense'; readonly name: string; readonly units: number; readonly activation: 'relu' | 'linear' };

/**
 * Layer names are fixed (not tfjs's global counters) so weight names such as "conv1/kernel" are the same in
 * every process and every build: they are the keys that updates are checked against.
 */
const ARCHITECTURES: Record<ModelName, readonly LayerSpec[]> = {
  /**
   * McMahan et al. 2017 (FedAvg) MNIST CNN: 1,663,370 parameters.
   * conv1 5×5×1→32 (832) · pool · conv2 5×5×32→64 (51,264) · pool · dense1 3136→512 (1,606,144) · logits 512→10 (5,130)
   */
  'cnn-mcmahan': [
    { kind: 'conv', name: 'conv1', filters: 32, kernelSize: 5 },
    { kind: 'maxPool', name: 'pool1' },
    { kind: 'conv', name: 'conv2', filters: 64, kernelSize: 5 },
    { kind: 'maxPool', name: 'pool2' },
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'dense1', units: 512, activation: 'relu' },
    { kind: 'dense', name: 'logits', units: NUM_OUTPUTS, activation: 'linear' },
  ],
  /**
   * A small CNN, ~8× cheaper to train than cnn-mcmahan: 206,922 parameters.
   * conv1 3×3×1→16 (160) · pool · conv2 3×3×16→32 (4,640) · pool · dense1 1568→128 (200,832) · logits 128→10 (1,290)
   */
  'cnn-small': [
    { kind: 'conv', name: 'conv1', filters: 16, kernelSize: 3 },
    { kind: 'maxPool', name: 'pool1' },
    { kind: 'conv', name: 'conv2', filters: 32, kernelSize: 3 },
    { kind: 'maxPool', name: 'pool2' },
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'dense1', units: 128, activation: 'relu' },
    { kind: 'dense', name: 'logits', units: NUM_OUTPUTS, activation: 'linear' },
  ],
  /**
   * McMahan et al. 2017 "2NN": 199,210 parameters.
   * dense1 784→200 (157,000) · dense2 200→200 (40,200) · logits 200→10 (2,010)
   */
  mlp: [
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'dense1', units: 200, activation: 'relu' },
    { kind: 'dense', name: 'dense2', units: 200, activation: 'relu' },
    { kind: 'dense', name: 'logits', units: NUM_OUTPUTS, activation: 'linear' },
  ],
};

export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
}

export function architecture(name: ModelName): readonly LayerSpec[] {
  const layers = ARCHITECTURES[name];
  if (!layers) throw new Error(`unknown model '${String(name)}': expected one of ${Object.keys(ARCHITECTURES).join(', ')}`);
  return layers;
}

/** Names and shapes of the model's weights, in `model.weights` order, worked out without building it. */
export function weightSpecs(name: ModelName): readonly WeightSpec[] {
  const specs: WeightSpec[] = [];
  let shape: number[] = [...MODEL_INPUT_SHAPE];
  for (const layer of architecture(name)) {
    switch (layer.kind) {
      case 'conv': {
        const [height = 0, width = 0, channels = 0] = shape;
        specs.push({ name: `${layer.name}/kernel`, shape: [layer.kernelSize, layer.kernelSize, channels, layer.filters] });
        specs.push({ name: `${layer.name}/bias`, shape: [layer.filters] });
        shape = [height, width, layer.filters];
        break;
      }
      case 'maxPool': {
        const [height = 0, width = 0, channels = 0] = shape;
        shape = [Math.floor(height / 2), Math.floor(width / 2), channels];
        break;
      }
      case 'flatten':
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case 'dense': {
        const [inputs = 0] = shape;
        specs.push({ name: `${layer.name}/kernel`, shape: [inputs, layer.units] });
        specs.push({ name: `${layer.name}/bias`, shape: [layer.units] });
        shape = [layer.units];
        break;
      }
    }
  }
  return specs;
}

export function parameterCount(name: ModelName): number {
  return weightSpecs(name).reduce((total, spec) => total + spec.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * Builds the model with Glorot-uniform kernels and zero biases (the Keras defaults), seeded: the layers API's
 * default initialisers are not, so two builds would otherwise start from different weights. The values do not
 * depend on the backend. Needs `await initBackend()` first.
 */
export function buildModel(name: ModelName, seed: number): tf.LayersModel {
  // Left to itself tfjs would start a backend on first use, without our wasm paths and kernels.
  currentBackendInfo();
  const rng = xoroshiro128plus(seed);
  const nextSeed = () => uniformInt(rng, 0, 2 ** 31 - 1);
  const model = tf.sequential({ name });
  let first = true;
  for (const layer of architecture(name)) {
    const input = first ? { inputShape: [...MODEL_INPUT_SHAPE] } : {};
    first = false;
    switch (layer.kind) {
      case 'conv':
        model.add(
          tf.layers.conv2d({
            ...input,
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
        model.add(tf.layers.maxPooling2d({ ...input, name: layer.name, poolSize: 2, strides: 2 }));
        break;
      case 'flatten':
        model.add(tf.layers.flatten({ ...input, name: layer.name }));
        break;
      case 'dense':
        model.add(
          tf.layers.dense({
            ...input,
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
  return model;
}

/** The seeded round-0 weights of a model, as plain arrays (the model used to make them is disposed). Needs initBackend. */
export function initialWeights(name: ModelName, seed: number): ModelWeights {
  const model = buildModel(name, seed);
  try {
    return readModelWeights(model);
  } finally {
    model.dispose();
  }
}
