import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExperimentConfig } from '../shared/config/parse.js';
import { experimentConfigSchema, type LocalObjectiveConfig, type LocalTrainingConfig } from '../shared/config/schema.js';
import { loadMnistFromPackage, subset } from '../shared/data/mnist.js';
import type { Dataset } from '../shared/data/types.js';
import { initBackend } from '../shared/engine/backend.js';
import { FusedTrainer } from '../shared/engine/fused-wasm.js';
import { softmaxCrossEntropy } from '../shared/engine/softmax-loss.js';
import { trainLocal } from '../shared/engine/train.js';
import { initialWeights } from '../shared/engine/build-model.js';
import { decodeShard } from '../shared/data/shard-codec.js';
import { readResolvedConfig } from '../shared/pipeline/experiment.js';
import { trainClient } from '../shared/pipeline/train.js';
import { keys } from '../shared/protocol/keys.js';
import { deriveSeed } from '../shared/random.js';
import { decodeModelWeights } from '../shared/weights/codec.js';
import { readGlobal, startCloudWithScriptedClients, uploadConfig, waitFor } from './helpers/pipeline.js';
import { labelCounts, logitAdjustmentFor, withLocalObjective } from '../shared/strategies/local-objectives.js';
import type { LogitAdjustment } from '../shared/strategies/types.js';
import type { ModelWeights } from '../shared/weights/types.js';
import { cpuGradients, type LogitsLoss } from './helpers/gradients.js';

/**
 * Label-skew local objectives (FedLC, FedRS, masked softmax): the per-class logit transform from label counts, the loss
 * and its gradient on hand-computed logits, the fused wasm step against tfjs autograd on cpu, and the fused step
 * against the tape loop.
 */

const PLAIN: LogitAdjustment = { scale: Array(10).fill(1), shift: Array(10).fill(0), include: Array(10).fill(true) };
// Client counts: 16 of class 0 (16^(−1/4) = 1/2), 1 of class 1, none of the rest.
const COUNTS = [16, 1, 0, 0, 0, 0, 0, 0, 0, 0];

function localConfig(overrides: Partial<LocalTrainingConfig> = {}): LocalTrainingConfig {
  return experimentConfigSchema.parse({ local: overrides }).local;
}

function adjustment(objective: LocalObjectiveConfig, counts: readonly number[] = COUNTS): LogitAdjustment {
  const made = logitAdjustmentFor(objective, counts);
  if (!made) throw new Error(`${objective.kind} made no adjustment`);
  return made;
}

describe('the per-class transform from a client\'s label counts', () => {
  it('FedLC shifts each logit by τ·n^(−1/4), an absent class counting as 1', () => {
    const { scale, shift, include } = adjustment({ kind: 'fedlc', tau: 2 });
    expect(shift).toEqual([1, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(scale).toEqual(PLAIN.scale);
    expect(include).toEqual(PLAIN.include);
    expect(adjustment({ kind: 'fedlc', tau: 1 }, [10_000, 81, 1, 0, 0, 0, 0, 0, 0, 0]).shift.slice(0, 4)).toEqual([0.1, 1 / 3, 1, 1]);
  });

  it('FedRS scales the logits of absent classes by α; masked leaves them out; cross-entropy changes nothing', () => {
    expect(adjustment({ kind: 'fedrs', alpha: 0.25 }).scale).toEqual([1, 1, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]);
    expect(adjustment({ kind: 'fedrs', alpha: 0.25 }).shift).toEqual(PLAIN.shift);
    expect(adjustment({ kind: 'masked' }).include).toEqual([true, true, false, false, false, false, false, false, false, false]);
    expect(logitAdjustmentFor({ kind: 'cross-entropy' }, COUNTS)).toBeUndefined();
    expect(logitAdjustmentFor(undefined, COUNTS)).toBeUndefined();
  });

  it('counts labels from the training set and adds the transform to the strategy\'s objective', () => {
    const shard: Dataset = { count: 4, rows: 1, cols: 1, channels: 1, classes: 10, images: new Uint8Array(4), labels: Uint8Array.of(3, 3, 7, 3) };
    expect(labelCounts(shard.labels)).toEqual([0, 0, 0, 3, 0, 0, 0, 1, 0, 0]);
    const objective = withLocalObjective({ proximalMu: 0.1 }, { kind: 'masked' }, shard);
    expect(objective.proximalMu).toBe(0.1);
    expect(objective.logitAdjustment?.include.flatMap((included, c) => (included ? [c] : []))).toEqual([3, 7]);
    expect(withLocalObjective({ proximalMu: 0.1 }, undefined, shard)).toEqual({ proximalMu: 0.1 });
    expect(() => logitAdjustmentFor({ kind: 'masked' }, [1])).toThrow(/a label count per class/);
    // Datasets other than MNIST have their own class count: the counts follow it.
    expect(labelCounts(Uint8Array.of(0, 2, 2), 3)).toEqual([1, 0, 2]);
    expect(() => labelCounts(Uint8Array.of(3), 3)).toThrow(/outside 0–2/);
  });
});

describe('the loss and its gradient on hand-computed logits', () => {
  // One row, label 0. Values below worked out by hand (and with a calculator for the exponentials).
  const logits = Float32Array.of(2, 1, 4, 0, 0, 0, 0, 0, 0, 0);
  const label = Uint8Array.of(0);
  const run = (made?: LogitAdjustment) => {
    const dLogits = new Float32Array(10);
    return { ...softmaxCrossEntropy(logits, label, dLogits, 10, made), dLogits };
  };

  it('plain: log(e² + e + e⁴ + 7) − 2, gradient p − onehot', () => {
    const { loss, objectiveLoss, correct, dLogits } = run();
    expect(loss).toBeCloseTo(2.272567285, 6);
    expect(objectiveLoss).toBe(loss);
    expect(correct).toBe(0);
    expect(Array.from(dLogits.slice(0, 4))).toEqual([-0.8969527, 0.0379090, 0.7614222, 0.0139459].map((v) => expect.closeTo(v, 6)));
  });

  it('masked to classes {0, 1}: log(1 + e⁻¹), gradient only on the two', () => {
    const { loss, objectiveLoss, dLogits } = run(adjustment({ kind: 'masked' }));
    expect(loss).toBeCloseTo(2.272567285, 6); // the reported loss stays the plain one
    expect(objectiveLoss).toBeCloseTo(0.3132616875, 6);
    expect(Array.from(dLogits)).toEqual([-0.2689414, 0.2689414, 0, 0, 0, 0, 0, 0, 0, 0].map((v) => expect.closeTo(v, 6)));
  });

  it('FedRS α = 0.5: logits (2, 1, 2, 0, …), absent classes\' gradients halved', () => {
    const { objectiveLoss, dLogits } = run(adjustment({ kind: 'fedrs', alpha: 0.5 }));
    expect(objectiveLoss).toBeCloseTo(1.198525924, 6);
    expect(Array.from(dLogits.slice(0, 4))).toEqual([-0.6983615, 0.1109666, 0.1508193, 0.0204112].map((v) => expect.closeTo(v, 6)));
  });

  it('FedLC τ = 1: logits (1.5, 0, 3, −1, …), gradient p′ − onehot', () => {
    const { objectiveLoss, dLogits } = run(adjustment({ kind: 'fedlc', tau: 1 }));
    expect(objectiveLoss).toBeCloseTo(1.837276699, 6);
    expect(Array.from(dLogits.slice(0, 4))).toEqual([-0.8407495, 0.0355336, 0.7137113, 0.0130721].map((v) => expect.closeTo(v, 6)));
  });

  it('averages over the batch, and the gradient matches finite differences of the loss', () => {
    const rows = 3;
    const values = Float32Array.from({ length: rows * 10 }, (_, i) => Math.sin(i * 1.7) * 3);
    const labels = Uint8Array.of(0, 1, 0);
    for (const made of [adjustment({ kind: 'fedlc', tau: 1.5 }), adjustment({ kind: 'fedrs', alpha: 0.3 }), adjustment({ kind: 'masked' })]) {
      const dLogits = new Float32Array(rows * 10);
      softmaxCrossEntropy(values, labels, dLogits, 10, made);
      const objectiveAt = (at: Float32Array) => softmaxCrossEntropy(at, labels, new Float32Array(rows * 10), 10, made).objectiveLoss;
      const h = 1e-2;
      for (let i = 0; i < values.length; i++) {
        const up = Float32Array.from(values);
        const down = Float32Array.from(values);
        up[i] = up[i]! + h;
        down[i] = down[i]! - h;
        expect(dLogits[i]!, `d/dz[${i}]`).toBeCloseTo((objectiveAt(up) - objectiveAt(down)) / (2 * h), 4);
      }
    }
  });
});

let mnist: Dataset;

/** Only digits 1 and 7 (the first 24 of them): a client under label skew. */
function skewedShard(count: number): Dataset {
  const indices: number[] = [];
  for (let i = 0; indices.length < count; i++) if (mnist.labels[i] === 1 || mnist.labels[i] === 7) indices.push(i);
  return subset(mnist, indices);
}

/** ‖a − b‖ / ‖b‖ per tensor. */
function relativeErrors(actual: ModelWeights, reference: ModelWeights): number[] {
  return reference.map((expected) => {
    const got = actual.find((t) => t.name === expected.name)!;
    let diff = 0;
    let norm = 0;
    expected.values.forEach((v, i) => {
      diff += (got.values[i]! - v) ** 2;
      norm += v * v;
    });
    return Math.sqrt(diff / norm);
  });
}

/**
 * The adjusted loss in tfjs ops on the cpu backend, written another way than either loop: the excluded classes are
 * dropped with a gather (not pushed to a huge negative logit) and the labels re-indexed among the kept ones.
 */
function adjustedLoss(made: LogitAdjustment): LogitsLoss {
  const kept = made.include.flatMap((included, c) => (included ? [c] : []));
  return (logits, labels) => {
    const adjusted = tf.sub(tf.mul(logits, tf.tensor1d([...made.scale])), tf.tensor1d([...made.shift]));
    const reduced = tf.gather(adjusted, kept, 1);
    const targets = tf.oneHot(tf.tensor1d(Array.from(labels, (label) => kept.indexOf(label)), 'int32'), kept.length);
    return tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(reduced)), 1))) as tf.Scalar;
  };
}

beforeAll(async () => {
  expect((await initBackend('wasm')).backend).toBe('wasm');
  mnist = (await loadMnistFromPackage()).train;
});

const OBJECTIVES: readonly [string, LocalObjectiveConfig][] = [
  ['FedLC τ 1', { kind: 'fedlc', tau: 1 }],
  ['FedRS α 0.5', { kind: 'fedrs', alpha: 0.5 }],
  ['masked softmax', { kind: 'masked' }],
];

describe('the fused wasm step with a local objective', () => {
  it.each(OBJECTIVES)('%s: loss and gradients match tfjs autograd on cpu', async (_, objective) => {
    const shard = skewedShard(6);
    const made = logitAdjustmentFor(objective, labelCounts(shard.labels))!;
    const weights = initialWeights('cnn-small', 41);
    const images = Float32Array.from(shard.images, (p) => p / 255);
    const trainer = new FusedTrainer('cnn-small', weights, { local: localConfig(), logitAdjustment: made });
    let fused;
    try {
      fused = trainer.gradients(images, shard.labels);
    } finally {
      trainer.dispose();
    }
    const reference = await cpuGradients('cnn-small', weights, images, shard.labels, adjustedLoss(made));
    expect(fused.objectiveLoss).toBeCloseTo(reference.loss, 5);
    expect(fused.objectiveLoss).not.toBeCloseTo(fused.loss, 2);
    for (const error of relativeErrors(fused.gradients, reference.gradients)) expect(error).toBeLessThan(1e-4);
  });

  it.each(OBJECTIVES)('%s: training runs match the tape loop, and differ from plain cross-entropy', async (_, objective) => {
    const shard = skewedShard(72);
    const weights = initialWeights('cnn-small', 43);
    const local = localConfig({ batchSize: 24, epochs: 2 });
    const run = (loop: 'fused' | 'tape', withObjective = true) =>
      trainLocal({ model: 'cnn-small', weights, shard, local, seed: 9, loop, objective: withObjective ? withLocalObjective({}, objective, shard) : {} });
    const tape = await run('tape');
    const fused = await run('fused');
    expect(fused.loss).toBeCloseTo(tape.loss, 4);
    expect(fused.accuracy).toBe(tape.accuracy);
    for (const error of relativeErrors(fused.weights, tape.weights)) expect(error).toBeLessThan(1e-4);
    const plain = await run('fused', false);
    expect(Math.max(...relativeErrors(fused.weights, plain.weights))).toBeGreaterThan(1e-3);
  });

  it('reports the plain cross-entropy whatever the objective', async () => {
    const shard = skewedShard(48);
    const weights = initialWeights('cnn-small', 44);
    // A step too small to move the weights: both runs see the same logits, so their reported losses must agree.
    const local = localConfig({ batchSize: 48, learningRate: 1e-9 });
    const plain = await trainLocal({ model: 'cnn-small', weights, shard, local, seed: 1 });
    for (const [, objective] of OBJECTIVES) {
      for (const loop of ['fused', 'tape'] as const) {
        const adjusted = await trainLocal({ model: 'cnn-small', weights, shard, local, seed: 1, loop, objective: withLocalObjective({}, objective, shard) });
        expect(adjusted.loss).toBeCloseTo(plain.loss, 4);
      }
    }
  });

  it('refuses a transform that leaves out a class the shard holds, or has the wrong length', async () => {
    const shard = skewedShard(8);
    const args = { model: 'cnn-small', weights: initialWeights('cnn-small', 45), shard, local: localConfig(), seed: 1 } as const;
    const leavesOutSeven = { ...PLAIN, include: PLAIN.include.map((_, c) => c !== 7) };
    await expect(trainLocal({ ...args, objective: { logitAdjustment: leavesOutSeven } })).rejects.toThrow(/leaves out class 7, which the training shard holds/);
    await expect(trainLocal({ ...args, objective: { logitAdjustment: { ...PLAIN, scale: [1, 1] } } })).rejects.toThrow(/scale must have 10 entries/);
    await expect(trainLocal({ ...args, objective: { logitAdjustment: { ...PLAIN, shift: PLAIN.shift.map((_, c) => (c === 3 ? Number.NaN : 0)) } } })).rejects.toThrow(/shift\[3\] must be a finite number/);
  });
});

describe('local.objective in the config', () => {
  const withObjective = (objective: unknown) => parseExperimentConfig({ local: { objective } });

  it('fills in τ = 1 and α = 0.5, and is absent unless asked for', () => {
    const fedlc = withObjective({ kind: 'fedlc' });
    const fedrs = withObjective({ kind: 'fedrs' });
    expect(fedlc.ok && fedlc.config.local.objective).toEqual({ kind: 'fedlc', tau: 1 });
    expect(fedrs.ok && fedrs.config.local.objective).toEqual({ kind: 'fedrs', alpha: 0.5 });
    const plain = parseExperimentConfig({});
    expect(plain.ok && plain.config.local.objective).toBeUndefined();
  });

  it('names the field, what is allowed and what was given', () => {
    const badAlpha = withObjective({ kind: 'fedrs', alpha: 2 });
    expect(badAlpha.ok).toBe(false);
    expect(!badAlpha.ok && badAlpha.errors.join('\n')).toMatch(/local\.objective\.alpha.*2/);
    const badKind = withObjective({ kind: 'fedlcc' });
    expect(!badKind.ok && badKind.errors.join('\n')).toMatch(/local\.objective\.kind.*fedlc/);
    const extra = withObjective({ kind: 'masked', tau: 1 });
    expect(!extra.ok && extra.errors.join('\n')).toMatch(/local\.objective.*tau/);
  });
});

describe('the trainer applies local.objective from its own shard', () => {
  let scripted: Awaited<ReturnType<typeof startCloudWithScriptedClients>>;
  beforeAll(async () => {
    scripted = await startCloudWithScriptedClients();
  });
  afterAll(async () => {
    await scripted?.cloud.stop();
  });

  it('uploads what trainLocal gives with the masked softmax over that shard\'s labels, not plain cross-entropy', async () => {
    const { cloud, trainMessages } = scripted;
    const id = 'local-objective-masked';
    await uploadConfig(cloud, id, {
      clients: 2, rounds: 1, model: 'mlp', samplesPerClient: 40, testSamples: 100,
      partition: { kind: 'shards', shardsPerClient: 1 },
      local: { objective: { kind: 'masked' } },
    });
    const message = await waitFor('a train message', async () => trainMessages.find((m) => m.experimentId === id));
    expect(await trainClient(cloud.context, message)).toBe('trained');
    const store = cloud.context.store;
    const uploaded = decodeModelWeights((await store.get(keys.update(id, 1, message.clientId)))!);

    const config = await readResolvedConfig(store, id);
    const shard = decodeShard((await store.get(keys.shard(id, message.clientId)))!);
    expect(labelCounts(shard.labels).filter((count) => count > 0).length).toBeLessThan(10);
    const args = { model: config.model, weights: await readGlobal(cloud, id, 0), shard, local: config.local, seed: deriveSeed(config.seed, 'train', 1, message.clientId) };
    const masked = await trainLocal({ ...args, objective: withLocalObjective({}, { kind: 'masked' }, shard) });
    const plain = await trainLocal({ ...args, objective: {} });
    expect(uploaded.map((t) => Array.from(t.values))).toEqual(masked.weights.map((t) => Array.from(t.values)));
    expect(Math.max(...relativeErrors(uploaded, plain.weights))).toBeGreaterThan(1e-3);
  });
});
