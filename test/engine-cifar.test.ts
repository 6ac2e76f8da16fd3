import { beforeAll, describe, expect, it } from 'vitest';
import { experimentConfigSchema, type LocalTrainingConfig } from '../shared/config/schema.js';
import { channelStatistics } from '../shared/data/catalog.js';
import type { Dataset } from '../shared/data/types.js';
import { initBackend } from '../shared/engine/backend.js';
import { writeModelInput } from '../shared/engine/batches.js';
import { buildModel, initialWeights } from '../shared/engine/build-model.js';
import { evaluate } from '../shared/engine/evaluate.js';
import { FusedTrainer, fusedStepAvailable } from '../shared/engine/fused-wasm.js';
import { trainLocal } from '../shared/engine/train.js';
import { modelSpec, parameterCount } from '../shared/models/index.js';
import type { ModelWeights } from '../shared/weights/types.js';
import { syntheticImages } from './helpers/datasets.js';
import { cpuGradients } from './helpers/gradients.js';

/**
 * McMahan et al.'s CIFAR-10 CNN on colour images: built from the dataset's shape, its gradients on the wasm fused
 * step against tfjs autograd on the pure-JS cpu backend, per-channel normalisation on both training paths, and a
 * short real run that learns.
 */

const CIFAR = modelSpec('cnn-cifar', { shape: [32, 32, 3], classes: 10 });
let colour: Dataset;

function localConfig(overrides: Partial<LocalTrainingConfig> = {}): LocalTrainingConfig {
  return experimentConfigSchema.parse({ local: overrides }).local;
}

/** ‖a − b‖ / ‖b‖ per tensor, by name. */
function relativeErrors(actual: ModelWeights, reference: ModelWeights): Map<string, number> {
  const errors = new Map<string, number>();
  for (const expected of reference) {
    const got = actual.find((t) => t.name === expected.name)!;
    let diff = 0;
    let norm = 0;
    expected.values.forEach((v, i) => {
      diff += (got.values[i]! - v) ** 2;
      norm += v * v;
    });
    expect(norm, `${expected.name} is all zeros, so it checks nothing`).toBeGreaterThan(0);
    errors.set(expected.name, Math.sqrt(diff / norm));
  }
  return errors;
}

beforeAll(async () => {
  expect((await initBackend('wasm')).backend).toBe('wasm');
  const set = syntheticImages(160, [32, 32, 3], 10, 7);
  const raw: Dataset = { count: 160, rows: 32, cols: 32, channels: 3, classes: 10, images: set.images, labels: set.labels };
  colour = { ...raw, normalization: channelStatistics(raw) };
});

describe('cnn-cifar', () => {
  it('has 1,756,426 parameters on 32×32×3 images with 10 classes, and the built tfjs model agrees', () => {
    expect(parameterCount('cnn-cifar')).toBe(1_756_426);
    expect(CIFAR.weights.map((w) => w.shape)).toEqual([[5, 5, 3, 64], [64], [5, 5, 64, 64], [64], [4096, 384], [384], [384, 192], [192], [192, 10], [10]]);
    const built = buildModel(CIFAR, 1);
    try {
      expect(built.countParams()).toBe(1_756_426);
      expect(built.inputs[0]!.shape).toEqual([null, 32, 32, 3]);
    } finally {
      built.dispose();
    }
  });

  it('refuses images of another size, saying which models take them', () => {
    expect(() => modelSpec('cnn-cifar', { shape: [28, 28, 1], classes: 10 })).toThrow(
      /cnn-cifar takes 32×32×3 images \(cifar10\), not 28×28×1: for 28×28×1 images choose cnn-mcmahan or cnn-small or mlp/,
    );
  });

  it('fused wasm step: gradients of a normalised colour batch match tfjs autograd on the cpu backend', async () => {
    expect(fusedStepAvailable(CIFAR)).toBe(true);
    const weights = initialWeights(CIFAR, 21);
    const batch = 2;
    const images = new Float32Array(batch * 32 * 32 * 3);
    writeModelInput(colour, Uint32Array.from({ length: batch }, (_, i) => i), 0, batch, images);
    const labels = colour.labels.slice(0, batch);
    const trainer = new FusedTrainer(CIFAR, weights, { local: localConfig() });
    let fused;
    try {
      fused = trainer.gradients(images, labels);
    } finally {
      trainer.dispose();
    }
    const reference = await cpuGradients(CIFAR, weights, images, labels);
    expect(fused.loss).toBeCloseTo(reference.loss, 5);
    for (const [name, error] of relativeErrors(fused.gradients, reference.gradients)) {
      expect(error, `relative error of ${name}`).toBeLessThan(1e-4);
    }
  }, 300_000);

  it('fused step and tape loop train the same weights from the same normalised data', async () => {
    const weights = initialWeights(CIFAR, 31);
    const shard: Dataset = { ...colour, count: 48, images: colour.images.subarray(0, 48 * 3072), labels: colour.labels.subarray(0, 48) };
    const local = localConfig({ batchSize: 16, learningRate: 0.01 });
    const run = (loop: 'fused' | 'tape') => trainLocal({ model: 'cnn-cifar', weights, shard, local, seed: 5, loop });
    const tape = await run('tape');
    const fused = await run('fused');
    expect(fused.loss).toBeCloseTo(tape.loss, 4);
    for (const [name, error] of relativeErrors(fused.weights, tape.weights)) {
      expect(error, `relative difference of ${name}`).toBeLessThan(1e-4);
    }
  }, 300_000);

  it('learns: a few epochs on 160 colour images lift the accuracy on them far above chance', async () => {
    const start = initialWeights(CIFAR, 3);
    const before = await evaluate({ model: CIFAR, weights: start, testSet: colour });
    const result = await trainLocal({ model: CIFAR, weights: start, shard: colour, local: localConfig({ epochs: 3, optimizer: 'adam', learningRate: 0.001 }), seed: 1 });
    const after = await evaluate({ model: CIFAR, weights: result.weights, testSet: colour });
    expect(before.accuracy).toBeLessThan(0.3);
    expect(after.accuracy).toBeGreaterThan(0.6);
    expect(after.confusion).toHaveLength(10);
  }, 300_000);
});

describe('models take their input from the dataset', () => {
  it('keeps MNIST parameter counts and grows or shrinks with other shapes and class counts', () => {
    expect(parameterCount('cnn-mcmahan')).toBe(1_663_370);
    expect(parameterCount('cnn-small')).toBe(206_922);
    expect(parameterCount('mlp')).toBe(199_210);
    // mlp on 12×10×3 images with 5 classes: 360·200+200 + 200·200+200 + 200·5+5
    expect(parameterCount('mlp', { shape: [12, 10, 3], classes: 5 })).toBe(360 * 200 + 200 + 200 * 200 + 200 + 200 * 5 + 5);
    // cnn-small on CIFAR: conv1 3×3×3→16, conv2 3×3×16→32, dense 8·8·32→128, logits 128→10
    expect(parameterCount('cnn-small', { shape: [32, 32, 3], classes: 10 })).toBe(448 + 4640 + 2048 * 128 + 128 + 1290);
  });

  it.each([
    ['grey 16×16, 4 classes', [16, 16, 1], 4],
    ['colour 12×10 (odd sizes after pooling), 5 classes', [12, 10, 3], 5],
  ] as const)('fused step and tape loop agree on %s', async (_, shape, classes) => {
    const set = syntheticImages(64, shape, classes, 9);
    const shard: Dataset = { count: 64, rows: shape[0], cols: shape[1], channels: shape[2], classes, images: set.images, labels: set.labels };
    const spec = modelSpec('cnn-small', { shape, classes });
    expect(fusedStepAvailable(spec)).toBe(true);
    const weights = initialWeights(spec, 4);
    const local = localConfig({ batchSize: 16 });
    const tape = await trainLocal({ model: 'cnn-small', weights, shard, local, seed: 2, loop: 'tape' });
    const fused = await trainLocal({ model: 'cnn-small', weights, shard, local, seed: 2, loop: 'fused' });
    for (const [name, error] of relativeErrors(fused.weights, tape.weights)) expect(error, name).toBeLessThan(1e-4);
    const result = await evaluate({ model: 'cnn-small', weights: fused.weights, testSet: shard });
    expect(result.confusion).toHaveLength(classes);
    expect(result.perClassAccuracy).toHaveLength(classes);
  }, 120_000);
});
