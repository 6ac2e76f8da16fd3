import { beforeAll, describe, expect, it } from 'vitest';
import { experimentConfigSchema, parseStrategyConfig } from '../shared/config/schema.js';
import type { Dataset } from '../shared/data/types.js';
import { initBackend } from '../shared/engine/backend.js';
import { trainLocal } from '../shared/engine/train.js';
import { initialWeights } from '../shared/engine/build-model.js';
import { createRandom } from '../shared/random.js';
import { strategyFor } from '../shared/strategies/index.js';
import { clientInput } from './helpers/strategy-sim.js';
import type { ModelWeights } from '../shared/weights/types.js';

/** 32 random 28×28 images with labels 0–9: the gradient identity below holds for any data. */
function randomShard(count: number, seed: number): Dataset {
  const random = createRandom(seed);
  return {
    count,
    rows: 28,
    cols: 28,
    channels: 1,
    classes: 10,
    images: Uint8Array.from({ length: count * 784 }, () => random.nextInt(256)),
    labels: Uint8Array.from({ length: count }, (_, index) => index % 10),
  };
}

const flat = (weights: ModelWeights): Float64Array => Float64Array.from(weights.flatMap((tensor) => Array.from(tensor.values)));

beforeAll(async () => {
  await initBackend();
});

describe('FedProx in trainLocal', () => {
  it('adds exactly μ·(w − w_global) to the gradient of each local step', async () => {
    const mu = 0.5;
    const learningRate = 0.1;
    const shard = randomShard(32, 7);
    const global = initialWeights('mlp', 4);
    // One full batch per epoch and plain SGD, so each epoch is one step w ← w − η·∇.
    const local = experimentConfigSchema.parse({ local: { optimizer: 'sgd', momentum: 0, learningRate, batchSize: 32 } }).local;
    const args = { model: 'mlp' as const, weights: global, shard, seed: 11 };
    const objective = strategyFor(parseStrategyConfig({ name: 'fedprox', mu })).client.begin(clientInput(global)).objective;
    expect(objective).toEqual({ proximalMu: mu });

    // Step 1 starts at w = w_global, where the proximal gradient is 0: with or without it, w₁ is the same.
    const w1 = flat((await trainLocal({ ...args, local: { ...local, epochs: 1 } })).weights);
    const w1Proximal = flat((await trainLocal({ ...args, local: { ...local, epochs: 1 }, objective })).weights);
    expect(w1Proximal).toEqual(w1);

    // Step 2 starts at the same w₁ in both runs, so the cross-entropy gradients cancel in the difference:
    //   w₂(μ) − w₂(0) = −η·μ·(w₁ − w_global)
    const plain = flat((await trainLocal({ ...args, local: { ...local, epochs: 2 } })).weights);
    const proximal = flat((await trainLocal({ ...args, local: { ...local, epochs: 2 }, objective })).weights);
    const anchor = flat(global);
    let largestTerm = 0;
    let largestError = 0;
    for (let i = 0; i < anchor.length; i++) {
      const expected = -learningRate * mu * (w1[i]! - anchor[i]!);
      largestTerm = Math.max(largestTerm, Math.abs(expected));
      largestError = Math.max(largestError, Math.abs(proximal[i]! - plain[i]! - expected));
    }
    expect(largestTerm).toBeGreaterThan(1e-4);
    // float32 weights of magnitude < 1 round at ~6e-8; the term is three orders of magnitude above that.
    expect(largestError).toBeLessThan(1e-6);
  });
});
