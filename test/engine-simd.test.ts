import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderGenerated, spellMaddAsMulAdd, WASM_SOURCES } from '../scripts/build-wasm.js';
import { initBackend } from '../shared/engine/backend.js';
import { simdKernels } from '../shared/engine/simd/index.js';
import { randomValues } from './helpers/random.js';

beforeAll(async () => {
  expect((await initBackend('wasm')).backend).toBe('wasm');
});

describe('our wasm SIMD kernels', () => {
  it.each(WASM_SOURCES.map((source) => [source.generated.split('/').pop(), source] as const))(
    '%s is exactly what `npm run build:wasm` makes of its .wat',
    async (_, source) => {
      expect(await readFile(source.generated, 'utf8')).toBe(await renderGenerated(source));
    },
  );

  it('the multiply-add build spells every relaxed_madd, nested ones included, as a·b + c', () => {
    const wat = '(local.set $x (f32x4.relaxed_madd (local.get $a) (f32x4.relaxed_madd (local.get $b) (local.get $c) (local.get $d))\n  (local.get $e)))';
    expect(spellMaddAsMulAdd(wat)).toBe(
      '(local.set $x (f32x4.add (f32x4.mul (local.get $a) (f32x4.add (f32x4.mul (local.get $b) (local.get $c)) (local.get $d))) (local.get $e)))',
    );
    expect(() => spellMaddAsMulAdd('(f32x4.relaxed_madd (local.get $a) (local.get $b))')).toThrow(/expected '\('/);
  });

  it.each([
    [2, 28, 28, 16, 3],
    [3, 28, 28, 32, 5],
    [1, 7, 9, 48, 3],
  ])('conv1FilterGrad: n %i, %i×%i images, %i filters, kernel size %i, against the cpu backend', async (n, h, w, filters, k) => {
    const images = randomValues(n * h * w, n + filters);
    const dz = randomValues(n * h * w * filters, k + filters);
    await tf.setBackend('cpu');
    let expected: Float32Array;
    try {
      expected = tf.tidy(() => {
        const x = tf.tensor4d(images, [n, h, w, 1]);
        const dy = tf.tensor4d(dz, [n, h, w, filters]);
        const grad = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [k, k, 1, filters] });
        return new Float32Array((grad as tf.Tensor).dataSync());
      });
    } finally {
      await tf.setBackend('wasm');
    }

    const backend = tf.backend();
    if (!(backend instanceof BackendWasm)) throw new Error('wasm backend expected');
    const kernels = simdKernels(backend);
    expect(kernels).toBeDefined();
    const pad = Math.floor((k - 1) / 2);
    const paddedH = h + k - 1;
    const paddedW = w + k - 1;
    const padded = backend.makeOutput([n, paddedH, paddedW], 'float32');
    const dzInfo = backend.makeOutput([n, h, w, filters], 'float32');
    const out = backend.makeOutput([k, k, 1, filters], 'float32');
    try {
      const paddedView = backend.typedArrayFromHeap(padded) as Float32Array;
      paddedView.fill(0);
      for (let img = 0; img < n; img++) {
        for (let i = 0; i < h; i++) {
          for (let j = 0; j < w; j++) paddedView[(img * paddedH + i + pad) * paddedW + j + pad] = images[(img * h + i) * w + j]!;
        }
      }
      (backend.typedArrayFromHeap(dzInfo) as Float32Array).set(dz);
      kernels!.conv1FilterGrad(kernels!.offset(padded), kernels!.offset(dzInfo), kernels!.offset(out), n, h, w, filters, k);
      const actual = backend.typedArrayFromHeap(out) as Float32Array;
      expect(actual).toHaveLength(expected.length);
      let maxDiff = 0;
      let maxValue = 0;
      expected.forEach((value, i) => {
        maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - value));
        maxValue = Math.max(maxValue, Math.abs(value));
      });
      expect(maxValue).toBeGreaterThan(0.1);
      expect(maxDiff).toBeLessThan(1e-4 * Math.max(1, maxValue));
    } finally {
      for (const info of [padded, dzInfo, out]) backend.disposeData(info.dataId);
    }
  });
});

describe('sgdMomentum', () => {
  it.each([
    ['momentum 0.9, a count that is not a multiple of 4, into a new buffer', 0.9, 1027, false],
    ['momentum 0.9, in place', 0.9, 64, true],
    ['plain SGD with the gradient as its own velocity', 0, 1001, true],
  ] as const)('%s', (_, momentum, count, inPlace) => {
    const backend = tf.backend();
    if (!(backend instanceof BackendWasm)) throw new Error('wasm backend expected');
    const kernels = simdKernels(backend)!;
    const w = randomValues(count, 1);
    const g = randomValues(count, 2);
    const v = momentum > 0 ? randomValues(count, 3) : g;
    const lr = 0.05;
    // tfjs's MomentumOptimizer in float32: v' = v·m + g, w' = w − lr·v'
    const m = Math.fround(momentum);
    const expectedV = Float32Array.from(v, (value, i) => Math.fround(Math.fround(value * m) + g[i]!));
    const expectedW = Float32Array.from(w, (value, i) => Math.fround(value - Math.fround(Math.fround(lr) * expectedV[i]!)));
    const infos = [w, g, ...(momentum > 0 ? [v] : []), ...(inPlace ? [] : [new Float32Array(count)])].map((values) => {
      const info = backend.makeOutput([values.length], 'float32');
      (backend.typedArrayFromHeap(info) as Float32Array).set(values);
      return info;
    });
    try {
      const [wInfo, gInfo] = infos;
      const vInfo = momentum > 0 ? infos[2]! : gInfo!;
      const outInfo = inPlace ? wInfo! : infos[infos.length - 1]!;
      kernels.sgdMomentum(kernels.offset(wInfo!), kernels.offset(gInfo!), kernels.offset(vInfo), kernels.offset(outInfo), count, lr, momentum);
      expect(Array.from(backend.typedArrayFromHeap(outInfo) as Float32Array)).toEqual(Array.from(expectedW));
      if (momentum > 0) expect(Array.from(backend.typedArrayFromHeap(vInfo) as Float32Array)).toEqual(Array.from(expectedV));
      if (!inPlace) expect(Array.from(backend.typedArrayFromHeap(wInfo!) as Float32Array)).toEqual(Array.from(w));
    } finally {
      for (const info of infos) backend.disposeData(info.dataId);
    }
  });
});
