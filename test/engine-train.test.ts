import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { experimentConfigSchema, type LocalTrainingConfig } from '../shared/config/schema.js';
import { head, loadMnistFromPackage, subset } from '../shared/data/mnist.js';
import type { Dataset } from '../shared/data/types.js';
import { initBackend } from '../shared/engine/backend.js';
import { evaluate } from '../shared/engine/evaluate.js';
import { releaseCachedModels } from '../shared/engine/model-cache.js';
import { TrainingDivergedError, trainLocal } from '../shared/engine/train.js';
import { initialWeights } from '../shared/engine/build-model.js';
import type { ModelWeights } from '../shared/weights/types.js';
import { flatValues } from './helpers/weights.js';

let train: Dataset;
let test: Dataset;
let small: Dataset;

function localConfig(overrides: Partial<LocalTrainingConfig> = {}): LocalTrainingConfig {
  return experimentConfigSchema.parse({ local: overrides }).local;
}

function distance(a: ModelWeights, b: ModelWeights): number {
  const x = flatValues(a);
  const y = flatValues(b);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += (x[i]! - y[i]!) ** 2;
  return Math.sqrt(sum);
}

function identical(a: ModelWeights, b: ModelWeights): boolean {
  const x = flatValues(a);
  const y = flatValues(b);
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
}

beforeAll(async () => {
  expect((await initBackend('wasm')).backend).toBe('wasm');
  const mnist = await loadMnistFromPackage();
  train = head(mnist.train, 1000);
  test = head(mnist.test, 500);
  small = head(mnist.train, 160);
});

describe('trainLocal on wasm', () => {
  it('a short real run on 1,000 MNIST samples lifts test accuracy far above chance', async () => {
    const start = initialWeights('cnn-small', 1);
    const before = await evaluate({ model: 'cnn-small', weights: start, testSet: test });
    // Adam: the default sgd + momentum 0.9 at lr 0.05 swings widely over only 32 steps.
    const local = localConfig({ optimizer: 'adam', learningRate: 0.001 });
    const result = await trainLocal({ model: 'cnn-small', weights: start, shard: train, local, seed: 1 });
    const after = await evaluate({ model: 'cnn-small', weights: result.weights, testSet: test });

    expect(before.accuracy).toBeLessThan(0.3);
    expect(after.accuracy).toBeGreaterThan(0.5);
    expect(after.loss).toBeLessThan(before.loss);
    expect(result.samples).toBe(1000);
    expect(result.accuracy).toBeGreaterThan(0.2);
    expect(Number.isFinite(result.loss)).toBe(true);
    expect(result.durationMs).toBeGreaterThan(0);
    expect(result.samplesPerSecond).toBeCloseTo((1000 * 1) / (result.durationMs / 1000), 6);
    expect(result.weights.map((w) => w.name)).toEqual(start.map((w) => w.name));
  });

  describe('matches plain-SGD steps written out by hand (full batch, so shuffling cannot matter)', () => {
    const lr = 0.1;
    const fullBatch = () => head(small, 64);
    const plainSgd = (epochs: number) => localConfig({ optimizer: 'sgd', momentum: 0, learningRate: lr, batchSize: 64, epochs });

    /** ∇ of the mean cross-entropy of the mlp at `weights`, written with plain tf ops. */
    function referenceGradients(weights: readonly tf.Tensor[], shard: Dataset): tf.Tensor[] {
      const x = tf.tensor2d(Float32Array.from(shard.images, (p) => p / 255), [shard.count, 784]);
      const y = tf.oneHot(tf.tensor1d(Array.from(shard.labels), 'int32'), 10);
      const loss = (...p: tf.Tensor[]) => {
        const h1 = tf.relu(tf.add(tf.matMul(x, p[0]!), p[1]!));
        const h2 = tf.relu(tf.add(tf.matMul(h1, p[2]!), p[3]!));
        return tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(h2, p[4]!), p[5]!)) as tf.Scalar;
      };
      return tf.grads(loss)([...weights]);
    }

    function expectClose(actual: ModelWeights, expected: readonly Float32Array[]): void {
      actual.forEach((tensor, i) => {
        let maxDiff = 0;
        tensor.values.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - expected[i]![j]!))));
        expect(maxDiff, tensor.name).toBeLessThan(1e-5);
      });
    }

    it('one epoch is w − lr·∇(mean cross-entropy)', async () => {
      const start = initialWeights('mlp', 12);
      const shard = fullBatch();
      const result = await trainLocal({ model: 'mlp', weights: start, shard, local: plainSgd(1), seed: 1 });
      const expected = tf.tidy(() => {
        const w = start.map((t) => tf.tensor(t.values, [...t.shape]));
        const g = referenceGradients(w, shard);
        return w.map((t, i) => tf.sub(t, tf.mul(g[i]!, lr)).dataSync() as Float32Array);
      });
      expectClose(result.weights, expected);
      expect(distance(result.weights, start)).toBeGreaterThan(0.01);
    });

    it('FedProx: the second step adds μ·(w − w_global) to the gradient', async () => {
      const global = initialWeights('mlp', 14);
      const shard = fullBatch();
      const mu = 2;
      const result = await trainLocal({ model: 'mlp', weights: global, shard, local: plainSgd(2), seed: 1, objective: { proximalMu: mu } });
      const expected = tf.tidy(() => {
        const w0 = global.map((t) => tf.tensor(t.values, [...t.shape]));
        const g0 = referenceGradients(w0, shard);
        const w1 = w0.map((t, i) => tf.sub(t, tf.mul(g0[i]!, lr)));
        const g1 = referenceGradients(w1, shard);
        return w1.map((t, i) => tf.sub(t, tf.mul(tf.add(g1[i]!, tf.mul(tf.sub(t, w0[i]!), mu)), lr)).dataSync() as Float32Array);
      });
      expectClose(result.weights, expected);
    });

    it('SCAFFOLD: gradientCorrection is added to every step’s gradient', async () => {
      const start = initialWeights('mlp', 15);
      const shard = fullBatch();
      const correction = initialWeights('mlp', 16).map((t) => ({ ...t, values: t.values.map((v, j) => v + (j % 7) * 0.01) }));
      const result = await trainLocal({
        model: 'mlp',
        weights: start,
        shard,
        local: plainSgd(1),
        seed: 1,
        objective: { gradientCorrection: correction },
      });
      const expected = tf.tidy(() => {
        const w = start.map((t) => tf.tensor(t.values, [...t.shape]));
        const g = referenceGradients(w, shard);
        return w.map((t, i) => tf.sub(t, tf.mul(tf.add(g[i]!, tf.tensor(correction[i]!.values, [...correction[i]!.shape])), lr)).dataSync() as Float32Array);
      });
      expectClose(result.weights, expected);
    });

    it('a gradientCorrection that does not fit the model is rejected by name', async () => {
      const start = initialWeights('mlp', 17);
      const wrong = start.filter((t) => t.name !== 'logits/kernel');
      await expect(
        trainLocal({ model: 'mlp', weights: start, shard: fullBatch(), local: plainSgd(1), seed: 1, objective: { gradientCorrection: wrong } }),
      ).rejects.toThrow(/'logits\/kernel' .* is missing from the objective.gradientCorrection/);
    });
  });

  it('is reproducible: the same seed gives bit-identical weights, another seed different ones', async () => {
    const start = initialWeights('cnn-small', 2);
    const args = { model: 'cnn-small' as const, weights: start, shard: small, local: localConfig({ epochs: 2 }) };
    const first = await trainLocal({ ...args, seed: 5 });
    const again = await trainLocal({ ...args, seed: 5 });
    const otherSeed = await trainLocal({ ...args, seed: 6 });
    expect(identical(first.weights, again.weights)).toBe(true);
    expect(first.loss).toBe(again.loss);
    expect(identical(first.weights, otherSeed.weights)).toBe(false);
  });

  it('with a FedProx proximal term the result changes and stays closer to the global weights', async () => {
    const global = initialWeights('mlp', 3);
    const args = { model: 'mlp' as const, weights: global, shard: small, local: localConfig({ epochs: 3 }), seed: 3 };
    const plain = await trainLocal(args);
    const zeroMu = await trainLocal({ ...args, objective: { proximalMu: 0 } });
    const proximal = await trainLocal({ ...args, objective: { proximalMu: 1 } });
    expect(identical(zeroMu.weights, plain.weights)).toBe(true);
    expect(identical(proximal.weights, plain.weights)).toBe(false);
    expect(distance(proximal.weights, global)).toBeLessThan(0.9 * distance(plain.weights, global));
  });

  it.each([
    ['sgd with momentum', { optimizer: 'sgd', momentum: 0.9 }],
    ['plain sgd', { optimizer: 'sgd', momentum: 0 }],
    ['adam', { optimizer: 'adam', learningRate: 0.001 }],
  ] as const)('%s trains (loss falls over epochs)', async (_, overrides) => {
    const start = initialWeights('mlp', 4);
    const oneEpoch = await trainLocal({ model: 'mlp', weights: start, shard: small, local: localConfig({ ...overrides, epochs: 1 }), seed: 4 });
    const fourEpochs = await trainLocal({ model: 'mlp', weights: start, shard: small, local: localConfig({ ...overrides, epochs: 4 }), seed: 4 });
    expect(fourEpochs.loss).toBeLessThan(oneEpoch.loss);
  });

  it('leaks no tensors (nor wasm buffers) across calls, optimizers, FedProx/SCAFFOLD terms and evaluation', async () => {
    // Our wasm kernels allocate behind the engine's back: count the backend's buffers as well as tensors.
    const counts = () => ({ tensors: tf.memory().numTensors, buffers: tf.engine().backend.numDataIds() });
    releaseCachedModels();
    const empty = counts();
    const weights = initialWeights('cnn-small', 5);
    const correction = initialWeights('cnn-small', 6);
    const shard = head(small, 64);
    const calls: LocalTrainingConfig[] = [
      localConfig({ optimizer: 'sgd', momentum: 0.9 }),
      localConfig({ optimizer: 'sgd', momentum: 0 }),
      localConfig({ optimizer: 'adam', learningRate: 0.001 }),
    ];
    await trainLocal({ model: 'cnn-small', weights, shard, local: calls[0]!, seed: 1 });
    // The cached model's 8 weight tensors are the only ones meant to stay.
    const warm = counts();
    expect(warm).toEqual({ tensors: empty.tensors + 8, buffers: empty.buffers + 8 });
    for (const local of calls) {
      await trainLocal({ model: 'cnn-small', weights, shard, local, seed: 1 });
      expect(counts()).toEqual(warm);
      await trainLocal({ model: 'cnn-small', weights, shard, local, seed: 1, objective: { proximalMu: 0.1, gradientCorrection: correction } });
      expect(counts()).toEqual(warm);
    }
    await evaluate({ model: 'cnn-small', weights, testSet: shard, batchSize: 40 });
    expect(counts()).toEqual(warm);
    releaseCachedModels();
    expect(counts()).toEqual(empty);
  });

  it('overlapping calls do not disturb each other (they run one at a time)', async () => {
    const a = initialWeights('mlp', 6);
    const b = initialWeights('mlp', 7);
    const local = localConfig();
    const sequentialA = await trainLocal({ model: 'mlp', weights: a, shard: small, local, seed: 1 });
    const sequentialB = await trainLocal({ model: 'mlp', weights: b, shard: small, local, seed: 2 });
    const [parallelA, parallelB] = await Promise.all([
      trainLocal({ model: 'mlp', weights: a, shard: small, local, seed: 1 }),
      trainLocal({ model: 'mlp', weights: b, shard: small, local, seed: 2 }),
    ]);
    expect(identical(parallelA.weights, sequentialA.weights)).toBe(true);
    expect(identical(parallelB.weights, sequentialB.weights)).toBe(true);
  });

  it('rejects weights that do not fit the model, naming the tensor, and leaves the model usable', async () => {
    const good = initialWeights('mlp', 8);
    const local = localConfig();
    const missing = good.filter((w) => w.name !== 'dense2/bias');
    await expect(trainLocal({ model: 'mlp', weights: missing, shard: small, local, seed: 1 })).rejects.toThrow(
      /'dense2\/bias'.*missing/,
    );
    const reshaped = good.map((w) => (w.name === 'dense1/kernel' ? { ...w, shape: [392, 400] } : w));
    await expect(trainLocal({ model: 'mlp', weights: reshaped, shard: small, local, seed: 1 })).rejects.toThrow(
      /'dense1\/kernel' in the weights has shape \[392, 400\] but model 'mlp' expects \[784, 200\]/,
    );
    const extra = [...good, { name: 'dense9/kernel', shape: [1], values: new Float32Array(1) }];
    await expect(trainLocal({ model: 'mlp', weights: extra, shard: small, local, seed: 1 })).rejects.toThrow(/'dense9\/kernel'/);
    const cnnWeights = initialWeights('cnn-small', 8);
    await expect(trainLocal({ model: 'mlp', weights: cnnWeights, shard: small, local, seed: 1 })).rejects.toThrow(
      /'dense1\/kernel' in the weights has shape \[1568, 128\]/,
    );

    const afterErrors = await trainLocal({ model: 'mlp', weights: good, shard: small, local, seed: 1 });
    expect(afterErrors.weights).toHaveLength(good.length);
  });

  it('refuses to return weights from a run whose loss stopped being a number', async () => {
    const poisoned = initialWeights('mlp', 13).map((w) =>
      w.name === 'logits/bias' ? { ...w, values: new Float32Array(w.values.length).fill(Number.NaN) } : w,
    );
    // Warm the model cache so its weights are not counted as left behind.
    await trainLocal({ model: 'mlp', weights: initialWeights('mlp', 13), shard: head(small, 32), local: localConfig(), seed: 1 });
    const before = tf.memory().numTensors;
    const run = trainLocal({ model: 'mlp', weights: poisoned, shard: small, local: localConfig(), seed: 1 });
    await expect(run).rejects.toBeInstanceOf(TrainingDivergedError);
    await expect(run).rejects.toThrow(/loss became NaN in epoch 1, batch 1 \(learning rate 0.05/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects data the models cannot take', async () => {
    const weights = initialWeights('mlp', 9);
    const local = localConfig();
    const wrongSize: Dataset = { count: 2, rows: 14, cols: 14, channels: 1, classes: 10, images: new Uint8Array(2 * 196), labels: new Uint8Array(2) };
    await expect(trainLocal({ model: 'cnn-mcmahan', weights, shard: wrongSize, local, seed: 1 })).rejects.toThrow(/cnn-mcmahan takes 28×28×1 images.*not 14×14×1/);
    // mlp follows its input's size: MNIST-sized weights do not fit a model built for 14×14 images
    await expect(trainLocal({ model: 'mlp', weights, shard: wrongSize, local, seed: 1 })).rejects.toThrow(/dense1\/kernel/);
    await expect(trainLocal({ model: 'mlp', weights, shard: head(small, 0), local, seed: 1 })).rejects.toThrow(/no samples/);
  });
});

describe('evaluate', () => {
  it('confusion matrix sums to the sample count and agrees with accuracy and per-class accuracy', async () => {
    const trained = await trainLocal({ model: 'mlp', weights: initialWeights('mlp', 10), shard: train, local: localConfig(), seed: 1 });
    // An odd batch size exercises the partial last batch.
    const result = await evaluate({ model: 'mlp', weights: trained.weights, testSet: test, batchSize: 77 });
    const total = result.confusion.flat().reduce((a, b) => a + b, 0);
    expect(result.samples).toBe(test.count);
    expect(total).toBe(test.count);
    const diagonal = result.confusion.reduce((sum, row, i) => sum + row[i]!, 0);
    expect(result.accuracy).toBeCloseTo(diagonal / test.count, 12);
    const labelCounts = new Array<number>(10).fill(0);
    for (const label of test.labels) labelCounts[label]!++;
    result.confusion.forEach((row, label) => {
      expect(row.reduce((a, b) => a + b, 0)).toBe(labelCounts[label]);
      expect(result.perClassAccuracy[label]).toBeCloseTo(row[label]! / labelCounts[label]!, 12);
    });
    expect(result.accuracy).toBeGreaterThan(0.5);

    const sameInOneBatch = await evaluate({ model: 'mlp', weights: trained.weights, testSet: test, batchSize: 500 });
    expect(sameInOneBatch.confusion).toEqual(result.confusion);
    expect(sameInOneBatch.loss).toBeCloseTo(result.loss, 4);
  });

  it('reports 0 (not NaN) for classes absent from the test set', async () => {
    const onlyOnesAndSevens = subset(
      test,
      Array.from(test.labels.entries())
        .filter(([, label]) => label === 1 || label === 7)
        .map(([i]) => i),
    );
    const result = await evaluate({ model: 'mlp', weights: initialWeights('mlp', 11), testSet: onlyOnesAndSevens });
    expect(result.perClassAccuracy[0]).toBe(0);
    expect(result.perClassAccuracy.every((a) => Number.isFinite(a))).toBe(true);
    expect(result.confusion[0]!.every((n) => n === 0)).toBe(true);
  });
});
