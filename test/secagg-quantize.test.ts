import { describe, expect, it } from 'vitest';
import { clientIdFor } from '../shared/protocol/keys.js';
import { hkdfSha256, prgStream, utf8 } from '../shared/secagg/crypto.js';
import { isCompleteGraph, neighbourGraph } from '../shared/secagg/graph.js';
import {
  dequantizeSum,
  maxQuantizationBits,
  QuantizationError,
  quantizationLevels,
  quantizationProblem,
  quantizeUpdate,
  type QuantizationParameters,
  sumErrorBound,
} from '../shared/secagg/quantize.js';
import { gaussianNoiseShare, hardenedGaussianNoiseShare, perClientNoiseStd } from '../shared/secagg/noise.js';
import { flattenWeights, unflattenWeights } from '../shared/secagg/weights-adapter.js';

const stream = (label: string) => prgStream(hkdfSha256(utf8(label), new Uint8Array(0), new Uint8Array(0), 32));
const noRandom = () => {
  throw new Error('nearest rounding must not draw randomness');
};

describe('the modulus cannot overflow', () => {
  it('maxQuantizationBits is the largest b with n · 2^b < 2^32', () => {
    for (const n of [1, 2, 3, 4, 10, 100, 128, 129, 1000, 10_000]) {
      const bits = maxQuantizationBits(n);
      expect(n * 2 ** bits).toBeLessThan(2 ** 32);
      expect(n * 2 ** (bits + 1)).toBeGreaterThanOrEqual(2 ** 32);
    }
    expect([1, 2, 10, 100, 1000].map(maxQuantizationBits)).toEqual([31, 30, 28, 25, 22]);
  });

  it('refuses a configuration whose sum could wrap, naming the limit', () => {
    const params: QuantizationParameters = { clippingRange: 1, bits: 23, rounding: 'nearest' };
    expect(quantizationProblem(params, 1000)).toBe(
      'quantizationBits must be an integer from 1 to 22 for 1000 clients per round: clients × 2^bits must stay below 2^32 so that the masked sum cannot wrap (got 23)',
    );
    expect(quantizationProblem({ ...params, bits: 22 }, 1000)).toBeUndefined();
    expect(quantizationProblem({ ...params, clippingRange: 0 }, 10)).toBe('clippingRange must be a positive number (got 0)');
  });

  it('the largest possible sum, n clients at +c with full weight, stays below 2^32 and decodes to n · c', () => {
    const n = 1000;
    const params: QuantizationParameters = { clippingRange: 3, bits: maxQuantizationBits(n), rounding: 'nearest' };
    const one = quantizeUpdate(Float32Array.of(3, 1e9, -1e9), 50, 50, params, noRandom);
    const levels = quantizationLevels(params.bits);
    expect(Array.from(one)).toEqual([levels, levels, 0, levels]);
    const sum = new Uint32Array(4);
    for (let i = 0; i < n; i++) for (let j = 0; j < 4; j++) sum[j] = (sum[j]! + one[j]!) >>> 0;
    expect(sum[0]).toBe(n * levels); // no wrap: the exact integer
    const decoded = dequantizeSum(sum, n, 50, params);
    expect(Array.from(decoded.weightedSum)).toEqual([3 * n, 3 * n, -3 * n]);
    expect(decoded.totalWeight).toBe(n);
    expect(Array.from(decoded.mean)).toEqual([3, 3, -3]);
  });
});

describe('clipping, rounding and weighting', () => {
  it('clips every coordinate to [−c, c]; 0 sits in the middle of the range', () => {
    const params: QuantizationParameters = { clippingRange: 0.5, bits: 8, rounding: 'nearest' };
    const q = quantizeUpdate(Float32Array.of(-7, -0.5, 0, 0.5, 7), 10, 10, params, noRandom);
    expect(Array.from(q)).toEqual([0, 0, 128, 255, 255, 255]); // (0 + 0.5) · 255 = 127.5 → 128; last word: weight 255
  });

  it('nearest rounding is off by at most half a step, stochastic by less than one and unbiased', () => {
    const params: QuantizationParameters = { clippingRange: 1, bits: 6, rounding: 'nearest' };
    const step = 2 / quantizationLevels(6);
    const values = Float32Array.from({ length: 4000 }, (_, i) => Math.sin(i) * 0.9);
    const decode = (q: Uint32Array) => Array.from(q.subarray(0, values.length), (word) => word * step - 1);
    const nearest = decode(quantizeUpdate(values, 1, 1, params, noRandom));
    nearest.forEach((x, i) => expect(Math.abs(x - values[i]!)).toBeLessThanOrEqual(step / 2 + 1e-12));
    const stochastic = decode(quantizeUpdate(values, 1, 1, { ...params, rounding: 'stochastic' }, stream('rounding')));
    stochastic.forEach((x, i) => expect(Math.abs(x - values[i]!)).toBeLessThan(step));
    // Unbiased: 0.3 steps above a level is rounded up 30 % of the time. 20,000 draws: σ of the mean = 0.0032 steps.
    const x = -1 + 10.3 * step;
    const draws = quantizeUpdate(new Float32Array(20_000).fill(x), 1, 1, { ...params, rounding: 'stochastic' }, stream('unbiased'));
    const mean = draws.subarray(0, 20_000).reduce((sum, word) => sum + word, 0) / 20_000;
    expect(Math.abs(mean - (Math.fround(x) + 1) / step)).toBeLessThan(5 * 0.0032 + 1e-9);
    expect(sumErrorBound(params, 10)).toBeCloseTo(5 * step);
    expect(sumErrorBound({ ...params, rounding: 'stochastic' }, 10)).toBeCloseTo(10 * step);
  });

  it('weights each client by samples / maxWeight, and the decoded mean is the sample-weighted mean', () => {
    const params: QuantizationParameters = { clippingRange: 1, bits: 20, rounding: 'nearest' };
    const clients = [
      { x: Float32Array.of(0.5, -0.25), samples: 300 },
      { x: Float32Array.of(-0.1, 0.75), samples: 100 },
      { x: Float32Array.of(0.2, 0.2), samples: 0 },
    ];
    const sum = new Uint32Array(3);
    for (const { x, samples } of clients) quantizeUpdate(x, samples, 300, params, noRandom).forEach((word, i) => (sum[i] = (sum[i]! + word) >>> 0));
    const decoded = dequantizeSum(sum, clients.length, 300, params);
    expect(decoded.samples).toBeCloseTo(400, 3);
    expect(decoded.mean[0]).toBeCloseTo((300 * 0.5 + 100 * -0.1) / 400, 5);
    expect(decoded.mean[1]).toBeCloseTo((300 * -0.25 + 100 * 0.75) / 400, 5);
  });

  it('refuses non-finite values, over-claimed samples and a sum without weight', () => {
    const params: QuantizationParameters = { clippingRange: 1, bits: 8, rounding: 'nearest' };
    expect(() => quantizeUpdate(Float32Array.of(0, Number.NaN), 1, 1, params, noRandom)).toThrow('the update has a non-finite value (NaN) at coordinate 1');
    expect(() => quantizeUpdate(Float32Array.of(0), 11, 10, params, noRandom)).toThrow("sampleCount must be an integer from 0 to the round's maxWeight, 10 (got 11)");
    expect(() => dequantizeSum(new Uint32Array(2), 1, 10, params)).toThrow(QuantizationError);
  });
});

describe('distributed noise shares', () => {
  it('σ²/m per client: the sum of m shares has variance σ²', () => {
    expect(perClientNoiseStd(2, 4)).toBe(1);
    const sigma = 0.5;
    const m = 8;
    const length = 20_000;
    const total = new Float64Array(length);
    for (let client = 0; client < m; client++) {
      const share = new Float32Array(length);
      gaussianNoiseShare(sigma, m).addTo(share, stream(`noise ${client}`));
      share.forEach((value, i) => (total[i]! += value));
    }
    const mean = total.reduce((a, b) => a + b, 0) / length;
    const variance = total.reduce((a, b) => a + (b - mean) ** 2, 0) / (length - 1);
    // Sample variance of 20,000 normals: relative standard error √(2/n) = 1 %; allow 5 %.
    expect(Math.abs(mean)).toBeLessThan((5 * sigma) / Math.sqrt(length));
    expect(Math.abs(variance / sigma ** 2 - 1)).toBeLessThan(0.05);
  });

  it('the hardened share (four normals over 2) has the same law: mean 0, variance σ²/m, Gaussian tails, a function of the stream', () => {
    const sigma = 0.5;
    const m = 4;
    const length = 40_000;
    const share = new Float32Array(length);
    hardenedGaussianNoiseShare(sigma, m).addTo(share, stream('hardened'));
    const again = new Float32Array(length);
    hardenedGaussianNoiseShare(sigma, m).addTo(again, stream('hardened'));
    expect(again).toEqual(share);
    const std = sigma / Math.sqrt(m);
    const mean = share.reduce((a, b) => a + b, 0) / length;
    const variance = share.reduce((a, b) => a + (b - mean) ** 2, 0) / (length - 1);
    // relative standard error of the sample variance √(2/n) ≈ 0.7 %: allow 5 standard errors
    expect(Math.abs(mean)).toBeLessThan((5 * std) / Math.sqrt(length));
    expect(Math.abs(variance / std ** 2 - 1)).toBeLessThan(5 * Math.sqrt(2 / length));
    // P(|Z| > 2) = 4.55 %: the share beyond 2σ within 5 binomial standard errors (≈ 0.5 points)
    const beyond = share.filter((value) => Math.abs(value) > 2 * std).length / length;
    expect(Math.abs(beyond - 0.0455)).toBeLessThan(5 * Math.sqrt((0.0455 * 0.9545) / length));
  });
});

describe('neighbour graph', () => {
  const ids = Array.from({ length: 40 }, (_, i) => clientIdFor(i));
  const seed = (label: string) => hkdfSha256(utf8(label), new Uint8Array(0), new Uint8Array(0), 32);

  it('is a function of the public seed: same seed, same graph; another seed, another graph', () => {
    const a = neighbourGraph(ids, 6, seed('a'));
    expect(neighbourGraph(ids, 6, seed('a'))).toEqual(a);
    expect(neighbourGraph(ids, 6, seed('b'))).not.toEqual(a);
  });

  it('is complete when neighbours is absent or at least n − 1, and refuses an odd k', () => {
    expect(isCompleteGraph(undefined, 40)).toBe(true);
    expect(neighbourGraph(ids, 39, seed('a')).get(clientIdFor(0))).toEqual(ids.slice(1));
    expect(() => neighbourGraph(ids, 5, seed('a'))).toThrow('neighbours must be an even integer of at least 2 (got 5)');
  });
});

describe('ModelWeights ↔ flat vector', () => {
  it('flattens the shared tensors in order and puts a vector back into their shapes', () => {
    const weights = [
      { name: 'conv1/kernel', shape: [2, 2], values: Float32Array.of(1, 2, 3, 4) },
      { name: 'logits/bias', shape: [2], values: Float32Array.of(5, 6) },
      { name: 'dense/bias', shape: [1], values: Float32Array.of(7) },
    ];
    const { vector, layout } = flattenWeights(weights, (name) => !name.startsWith('logits'));
    expect(Array.from(vector)).toEqual([1, 2, 3, 4, 7]);
    const back = unflattenWeights(Float32Array.of(10, 20, 30, 40, 70), layout);
    expect(back.map((t) => [t.name, t.shape, Array.from(t.values)])).toEqual([
      ['conv1/kernel', [2, 2], [10, 20, 30, 40]],
      ['dense/bias', [1], [70]],
    ]);
    expect(() => unflattenWeights(new Float32Array(4), layout)).toThrow('the vector has 4 values; the layout needs 5');
  });
});
