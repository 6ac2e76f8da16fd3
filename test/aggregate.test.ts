import { describe, expect, it } from 'vitest';
import { createWeightedMean } from '../shared/aggregate/weighted-mean.js';
import { createRandom } from '../shared/random.js';
import { WeightsError } from '../shared/weights/codec.js';
import type { ModelWeights } from '../shared/weights/types.js';

const layout = [
  { name: 'dense/kernel', shape: [2, 3] },
  { name: 'dense/bias', shape: [3] },
] as const;

function weightsOf(kernel: number[], bias: number[]): ModelWeights {
  return [
    { name: layout[0].name, shape: [...layout[0].shape], values: Float32Array.from(kernel) },
    { name: layout[1].name, shape: [...layout[1].shape], values: Float32Array.from(bias) },
  ];
}

function randomWeights(random: ReturnType<typeof createRandom>): ModelWeights {
  return weightsOf(
    Array.from({ length: 6 }, () => random.nextGaussian()),
    Array.from({ length: 3 }, () => random.nextGaussian()),
  );
}

const template = weightsOf([0, 0, 0, 0, 0, 0], [0, 0, 0]);

describe('streaming weighted mean', () => {
  it('weights each update by its sample count (3 clients, exact arithmetic)', () => {
    const mean = createWeightedMean(template);
    // Small integers are exact in float32 and float64, so the only rounding is the final one.
    mean.add(weightsOf([1, 2, 3, 4, 5, 6], [8, 0, -1]), 100);
    mean.add(weightsOf([3, 2, 1, 0, -1, -2], [0, 8, -1]), 300);
    mean.add(weightsOf([0, 0, 0, 0, 0, 16], [0, 0, 7]), 400);
    expect(mean.count).toBe(3);
    expect(mean.totalSamples).toBe(800);
    const [kernel, bias] = mean.result();
    // Σ nₖ·wₖ / Σ nₖ, written out per value and rounded once to float32.
    expect(Array.from(kernel!.values)).toEqual([
      (100 * 1 + 300 * 3 + 400 * 0) / 800,
      (100 * 2 + 300 * 2 + 400 * 0) / 800,
      (100 * 3 + 300 * 1 + 400 * 0) / 800,
      (100 * 4 + 300 * 0 + 400 * 0) / 800,
      (100 * 5 + 300 * -1 + 400 * 0) / 800,
      (100 * 6 + 300 * -2 + 400 * 16) / 800,
    ].map(Math.fround));
    expect(Array.from(bias!.values)).toEqual([(100 * 8) / 800, (300 * 8) / 800, (100 * -1 + 300 * -1 + 400 * 7) / 800].map(Math.fround));
    expect(kernel!.name).toBe('dense/kernel');
    expect(kernel!.shape).toEqual([2, 3]);
  });

  it('folds to the batch formula Σ (nₖ/N)·wₖ for many clients, in any order', () => {
    const random = createRandom(99);
    const updates = Array.from({ length: 50 }, () => ({ weights: randomWeights(random), samples: 1 + random.nextInt(600) }));
    const total = updates.reduce((sum, update) => sum + update.samples, 0);
    const batch = template.map((tensor, t) =>
      Array.from(tensor.values, (_, i) => updates.reduce((sum, { weights, samples }) => sum + (samples / total) * weights[t]!.values[i]!, 0)),
    );

    const forward = createWeightedMean(template);
    for (const { weights, samples } of updates) forward.add(weights, samples);
    const backward = createWeightedMean(template);
    for (const { weights, samples } of [...updates].reverse()) backward.add(weights, samples);

    for (const result of [forward.result(), backward.result()]) {
      result.forEach((tensor, t) => {
        tensor.values.forEach((value, i) => expect(value).toBeCloseTo(batch[t]![i]!, 6));
      });
    }
    expect(forward.totalSamples).toBe(total);
  });

  it('equals the plain average when every client has the same number of samples', () => {
    const random = createRandom(5);
    const updates = Array.from({ length: 4 }, () => randomWeights(random));
    const mean = createWeightedMean(template);
    for (const weights of updates) mean.add(weights, 250);
    mean.result().forEach((tensor, t) => {
      tensor.values.forEach((value, i) => {
        expect(value).toBeCloseTo(updates.reduce((sum, weights) => sum + weights[t]!.values[i]!, 0) / updates.length, 6);
      });
    });
  });

  it('rejects a bad update without disturbing what was folded so far', () => {
    const mean = createWeightedMean(template);
    mean.add(weightsOf([1, 1, 1, 1, 1, 1], [1, 1, 1]), 10);
    const before = mean.result();

    expect(() => mean.add(weightsOf([1, 1, 1, 1, 1, 1], [1, 1, 1]), 0)).toThrow(/samples must be a positive number \(got 0\)/);
    expect(() => mean.add(weightsOf([1, 1, 1, 1, 1, 1], [1, 1, 1]), -5)).toThrow(WeightsError);
    expect(() => mean.add(weightsOf([1, 1, 1, 1, 1, 1], [1, 1, 1]), Number.NaN)).toThrow(WeightsError);
    const reshaped: ModelWeights = [{ ...template[0]!, shape: [3, 2] }, template[1]!];
    expect(() => mean.add(reshaped, 5)).toThrow(/"dense\/kernel" has shape \[3, 2\] but the model's is \[2, 3\]/);
    expect(() => mean.add(template.slice(0, 1), 5)).toThrow(/has 1 tensors but the model has 2/);
    const short: ModelWeights = [template[0]!, { ...template[1]!, values: Float32Array.of(1, 2) }];
    expect(() => mean.add(short, 5)).toThrow(/"dense\/bias" has 2 values/);
    // The first tensor is valid: a fold that was not validated up front would already have added it.
    expect(() => mean.add(weightsOf([9, 9, 9, 9, 9, 9], [1, Number.NaN, 1]), 5)).toThrow(/"dense\/bias" value 1 is NaN/);

    expect(mean.count).toBe(1);
    expect(mean.totalSamples).toBe(10);
    expect(mean.result()).toEqual(before);
  });

  it('has no result before the first update', () => {
    expect(() => createWeightedMean(template).result()).toThrow(/no updates/);
  });
});
