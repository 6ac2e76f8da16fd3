import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { experimentConfigSchema, type LocalTrainingConfig } from '../shared/config/schema.js';
import { head, loadMnistFromPackage } from '../shared/data/mnist.js';
import type { Dataset } from '../shared/data/types.js';
import { initBackend } from '../shared/engine/backend.js';
import { fusedEvaluate } from '../shared/engine/fused-evaluate.js';
import { FusedTrainer, type ConvolutionKernels } from '../shared/engine/fused-wasm.js';
import { relaxedSimdSupport } from '../shared/engine/simd/conv.js';
import { trainLocal } from '../shared/engine/train.js';
import { writeModelWeights } from '../shared/engine/weights-bridge.js';
import { buildModel, initialWeights } from '../shared/engine/build-model.js';
import type { ModelWeights } from '../shared/weights/types.js';
import { cpuGradients } from './helpers/gradients.js';

/**
 * The hand-written wasm training step against tfjs autograd: gradients against the pure-JS cpu backend (the
 * reference), and whole training runs against the tape loop on the same backend.
 */

let mnist: Dataset;
const references = new Map<string, Awaited<ReturnType<typeof cpuGradients>>>();

/** Every way the fused step can run its convolutions here: XNNPACK, our kernels without FMA, and with it where available. */
const support = relaxedSimdSupport();
const KERNELS: ConvolutionKernels[] = ['xnnpack', 'mul-add', ...(support.status === 'built in' || support.status === 'flag' ? (['fma'] as const) : [])];

function localConfig(overrides: Partial<LocalTrainingConfig> = {}): LocalTrainingConfig {
  return experimentConfigSchema.parse({ local: overrides }).local;
}

function pixels(dataset: Dataset, count: number): Float32Array {
  return Float32Array.from(dataset.images.subarray(0, count * 784), (p) => p / 255);
}

/** ‖a − b‖ / ‖b‖ per tensor, by name. */
function relativeErrors(actual: ModelWeights, reference: ModelWeights): Map<string, number> {
  const errors = new Map<string, number>();
  for (const expected of reference) {
    const got = actual.find((t) => t.name === expected.name);
    expect(got, expected.name).toBeDefined();
    let diff = 0;
    let norm = 0;
    expected.values.forEach((v, i) => {
      diff += (got!.values[i]! - v) ** 2;
      norm += v * v;
    });
    expect(norm, `${expected.name} is all zeros, so it checks nothing`).toBeGreaterThan(0);
    errors.set(expected.name, Math.sqrt(diff / norm));
  }
  return errors;
}

beforeAll(async () => {
  expect((await initBackend('wasm')).backend).toBe('wasm');
  mnist = (await loadMnistFromPackage()).train;
});

describe.each(KERNELS)('fused wasm step on %s kernels: gradients match tfjs autograd on the cpu backend', (kernels) => {
  it.each([
    ['cnn-small', 6],
    ['cnn-small', 1],
    ['cnn-mcmahan', 3],
    ['mlp', 8],
    ['cnn-tiny', 5],
  ] as const)('%s, a batch of %i MNIST images', async (model, batch) => {
    const weights = initialWeights(model, 21);
    const images = pixels(mnist, batch);
    const labels = mnist.labels.slice(0, batch);
    const trainer = new FusedTrainer(model, weights, { local: localConfig(), kernels });
    expect(trainer.kernelsUsed).toBe(kernels);
    let fused;
    try {
      fused = trainer.gradients(images, labels);
    } finally {
      trainer.dispose();
    }
    // The cpu backend takes ~1 min for cnn-mcmahan: one reference serves every kind of kernels.
    const key = `${model}/${batch}`;
    if (!references.has(key)) references.set(key, await cpuGradients(model, weights, images, labels));
    const reference = references.get(key)!;
    expect(fused.loss).toBeCloseTo(reference.loss, 5);
    for (const [name, error] of relativeErrors(fused.gradients, reference.gradients)) {
      expect(error, `relative error of ${name}`).toBeLessThan(1e-4);
    }
  });
});

describe('fused wasm step: training runs match the tape loop', () => {
  const shard = () => head(mnist, 96);
  it.each([
    ['sgd with momentum', localConfig({ batchSize: 32 }), {}],
    ['plain sgd', localConfig({ batchSize: 32, momentum: 0 }), {}],
    ['adam', localConfig({ batchSize: 32, optimizer: 'adam', learningRate: 0.001 }), {}],
    ['FedProx and SCAFFOLD terms', localConfig({ batchSize: 24, epochs: 2 }), { proximalMu: 0.5, correction: true }],
  ] as const)('%s', async (_, local, extra) => {
    const weights = initialWeights('cnn-small', 31);
    const correction = 'correction' in extra ? initialWeights('cnn-small', 32).map((t) => ({ ...t, values: t.values.map((v) => v * 0.01) })) : undefined;
    const objective = { ...('proximalMu' in extra ? { proximalMu: extra.proximalMu } : {}), ...(correction ? { gradientCorrection: correction } : {}) };
    const run = (loop: 'fused' | 'tape') => trainLocal({ model: 'cnn-small', weights, shard: shard(), local, seed: 5, objective, loop });
    const tape = await run('tape');
    const fused = await run('fused');
    expect(fused.loss).toBeCloseTo(tape.loss, 4);
    expect(fused.accuracy).toBe(tape.accuracy);
    for (const [name, error] of relativeErrors(fused.weights, tape.weights)) {
      expect(error, `relative difference of ${name}`).toBeLessThan(1e-4);
    }
    // and training did move the weights, so the comparison means something
    const moved = relativeErrors(
      fused.weights.filter((t) => t.name.endsWith('kernel')),
      weights.filter((t) => t.name.endsWith('kernel')),
    );
    expect(Math.min(...moved.values())).toBeGreaterThan(1e-3);
  });

  it('is the default on wasm, and refuses to run on another backend', async () => {
    const weights = initialWeights('mlp', 33);
    const local = localConfig();
    const auto = await trainLocal({ model: 'mlp', weights, shard: head(mnist, 64), local, seed: 2 });
    const fused = await trainLocal({ model: 'mlp', weights, shard: head(mnist, 64), local, seed: 2, loop: 'fused' });
    expect(auto.weights.map((t) => Array.from(t.values))).toEqual(fused.weights.map((t) => Array.from(t.values)));
    new FusedTrainer('mlp', weights, { local }).dispose();
    await tf.setBackend('cpu');
    try {
      expect(() => new FusedTrainer('mlp', weights, { local })).toThrow(/needs the wasm backend/);
    } finally {
      await tf.setBackend('wasm');
    }
  });
});

describe.each(KERNELS)('fused evaluation on %s kernels', (kernels) => {
  it.each(['cnn-small', 'cnn-mcmahan', 'mlp', 'cnn-tiny'] as const)('%s: the tfjs model\'s predictions and loss, batch by batch', async (model) => {
    const weights = initialWeights(model, 41);
    const testSet = head(mnist, 150);
    // The reference: the tfjs model on the same backend, one batch.
    const built = buildModel(model, 0);
    let expectedLoss: number;
    let expectedPredictions: Int32Array;
    try {
      writeModelWeights(built, weights);
      [expectedLoss, expectedPredictions] = tf.tidy(() => {
        const logits = built.apply(tf.tensor4d(pixels(mnist, testSet.count), [testSet.count, 28, 28, 1]), { training: false }) as tf.Tensor;
        const labels = tf.oneHot(tf.tensor1d(Array.from(testSet.labels.subarray(0, testSet.count)), 'int32'), 10);
        const loss = tf.losses.softmaxCrossEntropy(labels, logits, undefined, undefined, tf.Reduction.SUM);
        return [loss.dataSync()[0]! / testSet.count, tf.argMax(logits, 1).dataSync() as Int32Array] as const;
      });
    } finally {
      built.dispose();
    }
    // 64 does not divide 150: a short last batch
    const result = fusedEvaluate(model, weights, testSet, 64, kernels);
    expect(result.samples).toBe(testSet.count);
    expect(result.loss).toBeCloseTo(expectedLoss, 5);
    const confusion = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
    expectedPredictions.forEach((predicted, i) => confusion[testSet.labels[i]!]![predicted]!++);
    expect(result.confusion).toEqual(confusion);
    expect(result.accuracy).toBe(expectedPredictions.filter((p, i) => p === testSet.labels[i]).length / testSet.count);
  });
});
