import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { MODEL_NAMES, type ModelName } from '../shared/config/schema.js';
import { initBackend } from '../shared/engine/backend.js';
import { buildModel, initialWeights } from '../shared/engine/build-model.js';
import { parameterCount, weightSpecs } from '../shared/models/index.js';
import { flatValues } from './helpers/weights.js';

beforeAll(async () => {
  await initBackend('wasm');
});

/** (vitest's deep equality is far too slow for 1.6M floats) */
function countDiffering(a: Float32Array, b: Float32Array): number {
  expect(b.length).toBe(a.length);
  let differing = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) differing++;
  return differing;
}

describe('model architectures', () => {
  it.each([
    ['cnn-mcmahan', 1_663_370, [28, 28, 1]],
    ['cnn-small', 206_922, [28, 28, 1]],
    ['mlp', 199_210, [28, 28, 1]],
    ['cnn-tiny', 10_330, [28, 28, 1]],
    ['cnn-cifar', 1_756_426, [32, 32, 3]],
  ] as const)('%s has exactly %i parameters on %j images, and the built tfjs model agrees', (name, expected, shape) => {
    expect(parameterCount(name)).toBe(expected);
    const model = buildModel(name, 1);
    try {
      expect(model.countParams()).toBe(expected);
      expect(model.inputs[0]!.shape).toEqual([null, ...shape]);
      expect(model.outputs[0]!.shape).toEqual([null, 10]);
    } finally {
      model.dispose();
    }
  });

  it.each(MODEL_NAMES.map((name) => [name]))('%s: weight names and shapes are stable and match weightSpecs', (name: ModelName) => {
    const first = initialWeights(name, 3);
    // A second build in the same process gets new tfjs variable names ("…_1"): ours must not change.
    const second = initialWeights(name, 3);
    const specs = weightSpecs(name).map(({ name: weightName, shape }) => ({ name: weightName, shape }));
    expect(first.map(({ name: weightName, shape }) => ({ name: weightName, shape }))).toEqual(specs);
    expect(second.map(({ name: weightName, shape }) => ({ name: weightName, shape }))).toEqual(specs);
    for (const w of first) expect(w.values.length).toBe(w.shape.reduce((a, b) => a * b, 1));
  });

  it('cnn-mcmahan follows McMahan et al.: 5×5 convs of 32 and 64, a 512 dense layer, 10 logits', () => {
    expect(weightSpecs('cnn-mcmahan').map((w) => w.shape)).toEqual([
      [5, 5, 1, 32],
      [32],
      [5, 5, 32, 64],
      [64],
      [3136, 512],
      [512],
      [512, 10],
      [10],
    ]);
  });
});

describe('seeded initialisation', () => {
  it.each(MODEL_NAMES.map((name) => [name]))('%s: same seed gives identical weights, another seed different ones', (name: ModelName) => {
    const a = flatValues(initialWeights(name, 11));
    const b = flatValues(initialWeights(name, 11));
    const c = flatValues(initialWeights(name, 12));
    expect(countDiffering(a, b)).toBe(0);
    const differing = countDiffering(a, c);
    // Biases start at zero in both; every kernel value should differ.
    const kernelValues = weightSpecs(name)
      .filter((w) => w.name.endsWith('/kernel'))
      .reduce((n, w) => n + w.shape.reduce((x, y) => x * y, 1), 0);
    expect(differing).toBeGreaterThan(kernelValues * 0.99);
  });

  it('does not depend on the backend (round-0 weights made anywhere agree)', async () => {
    const onWasm = flatValues(initialWeights('cnn-small', 21));
    await tf.setBackend('cpu');
    try {
      expect(countDiffering(onWasm, flatValues(initialWeights('cnn-small', 21)))).toBe(0);
    } finally {
      await tf.setBackend('wasm');
    }
  });

  it('layers of the same shape get different initial values', () => {
    const weights = initialWeights('mlp', 5);
    const dense2 = weights.find((w) => w.name === 'dense2/kernel')!;
    expect(dense2.values.some((v) => v !== 0)).toBe(true);
    const built = buildModel('mlp', 5);
    try {
      const kernels = built.weights.filter((w) => w.originalName.endsWith('/kernel')).map((w) => w.read().dataSync());
      expect(kernels[0]!.slice(0, 100)).not.toEqual(kernels[1]!.slice(0, 100));
    } finally {
      built.dispose();
    }
  });

  it('are pure data: shared/models imports neither tfjs nor the engine (the engine builds them)', async () => {
    const source = await readFile(new URL('../shared/models/index.ts', import.meta.url), 'utf8');
    expect(source).not.toMatch(/from '@tensorflow/);
    expect(source).not.toMatch(/from '\.\.\/engine/);
  });

  it('rejects an unknown model name', () => {
    expect(() => parameterCount('resnet' as ModelName)).toThrow(/unknown model 'resnet'/);
  });
});
