import { f16round } from '@petamoriken/float16';
import { describe, expect, it } from 'vitest';
import { compress, decompress, float16Table, quantizeInt8, sparsifyTopk, toFloat16Bits, topkCount } from '../shared/compression/index.js';
import { parseCompressionConfig, type CompressionConfigInput } from '../shared/config/compression.js';
import { createRandom } from '../shared/random.js';
import type { ModelWeights } from '../shared/weights/types.js';

const lossy = (input: CompressionConfigInput) => {
  const config = parseCompressionConfig(input);
  if (config.kind === 'none') throw new Error('test needs a lossy kind');
  return config;
};

function randomModel(seed: number, scale = 0.01): ModelWeights {
  const random = createRandom(seed);
  const tensor = (name: string, shape: number[]) => ({
    name,
    shape,
    values: Float32Array.from({ length: shape.reduce((size, d) => size * d, 1) }, () => scale * random.nextGaussian()),
  });
  return [tensor('conv/kernel', [3, 3, 1, 8]), tensor('conv/bias', [8]), tensor('dense/kernel', [300, 10]), tensor('scalar', [])];
}

describe('float16', () => {
  it('matches known binary16 encodings, ties to even, and saturates instead of overflowing', () => {
    const cases: [number, number][] = [
      [1, 0x3c00], [-2, 0xc000], [0, 0x0000], [-0, 0x8000], [65504, 0x7bff], [2 ** -24, 0x0001], [2 ** -14, 0x0400],
      [0.1, 0x2e66], [1 / 3, 0x3555], [2049, 0x6800], [2051, 0x6802], [2 ** -25, 0x0000], [1.5 * 2 ** -25, 0x0001],
      [65519, 0x7bff], [1e6, 0x7bff], [-1e6, 0xfbff], [Infinity, 0x7c00], [2 ** -40, 0x0000],
    ];
    for (const [value, bits] of cases) expect(toFloat16Bits(value), `${value}`).toBe(bits);
  });

  it('rounds like @petamoriken/float16 for every magnitude from subnormal to the largest finite value', () => {
    const random = createRandom(1);
    const table = float16Table();
    const mismatches: string[] = [];
    for (let i = 0; i < 200_000; i++) {
      const value = Math.fround((random.nextFloat() < 0.5 ? -1 : 1) * 2 ** (random.nextFloat() * 42 - 26) * (1 + random.nextFloat()));
      if (Math.abs(value) > 65504) continue;
      // Collected rather than asserted one by one: 200,000 expect() calls take longer than the conversions.
      if (!Object.is(table[toFloat16Bits(value)], f16round(value))) mismatches.push(`${value}: ${table[toFloat16Bits(value)]} vs ${f16round(value)}`);
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it('decodes every finite pattern to a value that encodes back to it', () => {
    const table = float16Table();
    const mismatches: number[] = [];
    for (let bits = 0; bits < 65536; bits++) {
      if ((bits & 0x7c00) !== 0x7c00 && toFloat16Bits(table[bits]!) !== bits) mismatches.push(bits);
    }
    expect(mismatches).toEqual([]);
  });
});

describe('int8', () => {
  const values = Float32Array.from({ length: 5000 }, (_, i) => Math.sin(i) * 0.37);

  it('nearest rounding is within scale/2 of every value, with scale = max|x| / 127', () => {
    const { scale, quantized } = quantizeInt8(values, 'nearest', 0);
    expect(scale).toBe(Math.fround(values.reduce((largest, value) => Math.max(largest, Math.abs(value)), 0) / 127));
    quantized.forEach((level, i) => expect(Math.abs(level * scale - values[i]!)).toBeLessThanOrEqual(scale / 2 + 1e-9));
    expect(Math.max(...quantized)).toBe(127);
  });

  it('stochastic rounding stays within one step, is seeded, and is unbiased over many draws', () => {
    const sample = values.subarray(0, 200);
    const draws = 4000;
    const sums = new Float64Array(sample.length);
    let scale = 0;
    let worstError = 0;
    for (let seed = 0; seed < draws; seed++) {
      const quantized = quantizeInt8(sample, 'stochastic', seed);
      scale = quantized.scale;
      quantized.quantized.forEach((level, i) => {
        worstError = Math.max(worstError, Math.abs(level * scale - sample[i]!));
        sums[i]! += level * scale;
      });
    }
    expect(worstError).toBeLessThan(scale * (1 + 1e-6));
    expect(quantizeInt8(sample, 'stochastic', 7)).toEqual(quantizeInt8(sample, 'stochastic', 7));
    // Each draw's error is at most one step, so its standard deviation is ≤ scale/2 and the mean's ≤ scale/(2√draws).
    const bound = 5 * (scale / (2 * Math.sqrt(draws)));
    const biased = Array.from(sums, (sum, i) => ({ i, bias: Math.abs(sum / draws - sample[i]!) })).filter(({ bias }) => bias >= bound);
    expect(biased).toEqual([]);
  });

  it('an all-zero tensor has scale 0 and decodes to zeros', () => {
    expect(quantizeInt8(new Float32Array(4), 'stochastic', 1)).toEqual({ scale: 0, quantized: new Int8Array(4) });
  });
});

describe('top-k', () => {
  it('keeps exactly the k values of largest magnitude, indices increasing', () => {
    const random = createRandom(3);
    for (const [size, ratio] of [[1000, 0.01], [1000, 0.1], [17, 0.5], [5, 1], [3, 0.01]] as const) {
      const values = Float32Array.from({ length: size }, () => random.nextGaussian());
      const { indices, values: kept } = sparsifyTopk(values, ratio);
      const k = topkCount(ratio, size);
      expect(indices).toHaveLength(k);
      const bySize = Array.from(values.keys()).sort((a, b) => Math.abs(values[b]!) - Math.abs(values[a]!) || a - b);
      expect(Array.from(indices)).toEqual(bySize.slice(0, k).sort((a, b) => a - b));
      indices.forEach((index, i) => expect(kept[i]).toBe(values[index]));
    }
  });

  it('takes k = ⌈ratio × size⌉, at least one, and breaks ties at the threshold by lower index', () => {
    expect(topkCount(0.01, 200_704)).toBe(2008);
    expect(topkCount(0.07, 100)).toBe(7);
    expect(topkCount(0.01, 10)).toBe(1);
    expect(topkCount(0.5, 0)).toBe(0);
    const tied = Float32Array.of(1, -3, 3, 3, 0);
    expect(Array.from(sparsifyTopk(tied, 0.4).indices)).toEqual([1, 2]);
  });
});

describe('error feedback', () => {
  it('conserves mass: what is sent plus the new residual is the update plus the old residual', () => {
    const delta = randomModel(4);
    const residual = randomModel(5, 0.003);
    for (const config of [lossy({ kind: 'topk', ratio: 0.05 }), lossy({ kind: 'topk', ratio: 0.05, scope: 'tensor' }), lossy({ kind: 'int8', errorFeedback: true }), lossy({ kind: 'float16', errorFeedback: true })]) {
      const result = compress(delta, residual, config, 9);
      const sent = decompress(result.payload);
      const broken: string[] = [];
      delta.forEach((tensor, t) => {
        tensor.values.forEach((value, i) => {
          const corrected = Math.fround(value + residual[t]!.values[i]!);
          const total = sent[t]!.values[i]! + result.residual![t]!.values[i]!;
          const conserved = config.kind === 'topk' ? total === corrected : Math.abs(total - corrected) <= Math.abs(corrected) * 2 ** -23 + 1e-12;
          if (!conserved) broken.push(`${tensor.name}[${i}]: ${total} vs ${corrected}`);
        });
      });
      expect(broken, config.kind).toEqual([]);
    }
  });

  it.each(['model', 'tensor'] as const)('over rounds, sends the whole update: Σ sent + residual = Σ updates, with the residual bounded (top-k per %s)', (scope) => {
    const delta = randomModel(6);
    const config = lossy({ kind: 'topk', ratio: 0.02, scope });
    let residual: ModelWeights | undefined;
    const sentTotal = delta.map((tensor) => new Float64Array(tensor.values.length));
    const rounds = 60;
    for (let round = 0; round < rounds; round++) {
      const result = compress(delta, residual, config, round);
      decompress(result.payload).forEach((tensor, t) => tensor.values.forEach((value, i) => (sentTotal[t]![i]! += value)));
      residual = result.residual;
    }
    delta.forEach((tensor, t) => {
      tensor.values.forEach((value, i) => {
        expect(sentTotal[t]![i]! + residual![t]!.values[i]!).toBeCloseTo(rounds * value, 4);
        // Without feedback the unsent 98 % would be lost every round; with it nothing stays behind for long.
        expect(Math.abs(residual![t]!.values[i]!)).toBeLessThan(Math.abs(rounds * value) / 2 + 0.5);
      });
    });
  });

  it('without error feedback returns no residual and ignores one passed in', () => {
    const delta = randomModel(7);
    const config = lossy({ kind: 'int8' });
    const result = compress(delta, randomModel(8), config, 1);
    expect(result.residual).toBeUndefined();
    expect(result.payload).toEqual(compress(delta, undefined, config, 1).payload);
  });

  it('refuses a non-finite update and a residual of another model', () => {
    const delta = randomModel(9);
    delta[1]!.values[3] = Number.NaN;
    expect(() => compress(delta, undefined, lossy({ kind: 'float16' }), 1)).toThrow(/cannot compress update: tensor "conv\/bias" value 3 is NaN/);
    expect(() => compress(randomModel(1), randomModel(2).slice(1), lossy({ kind: 'topk' }), 1)).toThrow(/residual has 3 tensors but the update has 4/);
  });
});
