import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../shared/engine/backend.js';
import { convKernels, relaxedSimdSupport, type ConvKernels, type MaddBuild } from '../shared/engine/simd/conv.js';
import { heapOffset } from '../shared/engine/simd/index.js';
import { randomValues } from './helpers/random.js';

/**
 * Our conv.wat kernels, both builds (relaxed-SIMD FMA and multiply + add), against float64 arithmetic written out
 * here, on our models' shapes and on odd ones (sizes not a multiple of the 4×8 blocks, batch 1, one channel,
 * outputs inside padded buffers). The FMA build runs wherever the runtime has relaxed SIMD: Node 22, and Node 20
 * once relaxedSimdSupport() has set V8's flag, which it does here as the engine does at start.
 */

let backend: BackendWasm;
const support = relaxedSimdSupport();
const builds: MaddBuild[] = support.status === 'built in' || support.status === 'flag' ? ['mul-add', 'fma'] : ['mul-add'];

beforeAll(async () => {
  expect((await initBackend('wasm')).backend).toBe('wasm');
  const active = tf.backend();
  if (!(active instanceof BackendWasm)) throw new Error('wasm backend expected');
  backend = active;
});

it('relaxed SIMD is available on Node ≥ 20 (built in from V8 11.4, by flag on 11.3), with a real fused multiply-add', () => {
  expect(support.status === 'built in' || support.status === 'flag').toBe(true);
  expect(support.status).toBe(/^11\.3\./.test(process.versions.v8) ? 'flag' : 'built in');
  expect(support.fused).toBe(true);
});

it('a worker thread sees the same status once this thread has switched relaxed SIMD on', async () => {
  const moduleUrl = new URL('../shared/engine/simd/conv.ts', import.meta.url).href;
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     import('tsx/esm/api').then(({ tsImport }) => tsImport(${JSON.stringify(moduleUrl)}, ${JSON.stringify(import.meta.url)}))
       .then((conv) => parentPort.postMessage(conv.relaxedSimdSupport({})));`,
    { eval: true },
  );
  try {
    const fromWorker = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(fromWorker).toEqual(relaxedSimdSupport());
  } finally {
    await worker.terminate();
  }
});

/** Float32 arrays on the wasm heap for one test; freed by `free()`. */
class Heap {
  private readonly infos: tf.TensorInfo[] = [];
  put(values: Float32Array): number {
    const info = backend.makeOutput([values.length], 'float32');
    this.infos.push(info);
    (backend.typedArrayFromHeap(info) as Float32Array).set(values);
    return heapOffset(backend, info);
  }
  /** A copy of `length` floats from `offset`, which must lie inside one buffer of this heap. */
  read(offset: number, length: number): Float32Array {
    for (const info of this.infos) {
      const start = heapOffset(backend, info);
      const view = backend.typedArrayFromHeap(info) as Float32Array;
      const from = (offset - start) / 4;
      if (from >= 0 && from + length <= view.length) return view.slice(from, from + length);
    }
    throw new Error(`no buffer holds ${length} floats at ${offset}`);
  }
  free(): void {
    for (const info of this.infos) backend.disposeData(info.dataId);
  }
}

function withHeap<T>(run: (heap: Heap) => T): T {
  const heap = new Heap();
  try {
    return run(heap);
  } finally {
    heap.free();
  }
}

function kernels(build: MaddBuild): ConvKernels {
  const found = convKernels(backend, build);
  if (!found) throw new Error(`the ${build} build of conv.wat did not load`);
  return found;
}

/** max |actual − expected| ≤ tolerance · max(1, max |expected|), over arrays that are not all zero. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let maxDiff = 0;
  let maxValue = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - expected[i]!));
    maxValue = Math.max(maxValue, Math.abs(expected[i]!));
  }
  expect(maxValue).toBeGreaterThan(0);
  expect(maxDiff).toBeLessThanOrEqual(tolerance * Math.max(1, maxValue));
}

/** Images [n, h, w, c] zero-padded into [n, hp, wp, c], `pad` rows/columns at the top/left, the rest at the bottom/right. */
function padded(x: Float32Array, n: number, h: number, w: number, c: number, pad: number, hp = h + 2 * pad, wp = w + 2 * pad): Float32Array {
  const out = new Float32Array(n * hp * wp * c);
  for (let img = 0; img < n; img++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++)
        for (let ch = 0; ch < c; ch++) out[((img * hp + i + pad) * wp + j + pad) * c + ch] = x[((img * h + i) * w + j) * c + ch]!;
  return out;
}

// n, h, w, c, o, k: our models' layers (cnn-small conv1/conv2 forward and input gradient, cnn-mcmahan conv2), then odd ones
const CONV_SHAPES = [
  [2, 28, 28, 1, 16, 3],
  [2, 14, 14, 16, 32, 3],
  [2, 14, 14, 32, 16, 3],
  [1, 14, 14, 32, 64, 5],
  [1, 28, 28, 1, 32, 5],
  [3, 5, 7, 3, 8, 3],
  [1, 1, 1, 1, 8, 1],
  [2, 6, 9, 5, 24, 4],
  [2, 3, 2, 8, 16, 3],
] as const;

describe.each(builds)('conv.wat, %s build', (build) => {
  it.each(CONV_SHAPES)('conv2d: n %i, %i×%i×%i → %i channels, kernel %i, with bias and relu, into a padded output', (n, h, w, c, o, k) => {
    const pad = Math.floor((k - 1) / 2);
    const x = randomValues(n * h * w * c, h + c);
    const filter = randomValues(k * k * c * o, o + k);
    const bias = randomValues(o, 3);
    // 'same' correlation in float64: pad k − 1 split top/left = pad, bottom/right = the rest.
    const expected = new Float64Array(n * h * w * o);
    for (let img = 0; img < n; img++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++)
          for (let q = 0; q < o; q++) {
            let sum = bias[q]!;
            for (let a = 0; a < k; a++)
              for (let b = 0; b < k; b++) {
                const r = i + a - pad;
                const s = j + b - pad;
                if (r < 0 || r >= h || s < 0 || s >= w) continue;
                for (let ch = 0; ch < c; ch++) sum += x[((img * h + r) * w + s) * c + ch]! * filter[((a * k + b) * c + ch) * o + q]!;
              }
            expected[((img * h + i) * w + j) * o + q] = Math.max(0, sum);
          }
    // The input padded k − 1 (top/left `pad`), the output inside a buffer with a 1-pixel border.
    const hp = h + k - 1;
    const wp = w + k - 1;
    const xp = padded(x, n, h, w, c, pad, hp, wp);
    const actual = withHeap((heap) => {
      const yRows = h + 2;
      const yCols = w + 2;
      const y = heap.put(new Float32Array(n * yRows * yCols * o).fill(7));
      const yRow = yCols * o * 4;
      const yImage = yRows * yRow;
      // the filter packed in panels of 8 outputs, as the fused step hands it over
      const packed = heap.put(new Float32Array(filter.length));
      kernels(build).packPanels(heap.put(filter), packed, k * k * c, o);
      kernels(build).conv2d(heap.put(xp), wp * c * 4, hp * wp * c * 4, packed, 32, k * k * c * 32, heap.put(bias), y + yRow + o * 4, yRow, yImage, n, h, w, c, o, k, 1);
      const all = heap.read(y, n * yRows * yCols * o);
      const inner = new Float32Array(n * h * w * o);
      for (let img = 0; img < n; img++)
        for (let i = 0; i < yRows; i++)
          for (let j = 0; j < yCols; j++) {
            const at = ((img * yRows + i) * yCols + j) * o;
            if (i === 0 || j === 0 || i === yRows - 1 || j === yCols - 1) expect(all.subarray(at, at + o).every((v) => v === 7)).toBe(true);
            else inner.set(all.subarray(at, at + o), ((img * h + i - 1) * w + j - 1) * o);
          }
      return inner;
    });
    expectClose(actual, expected);
  });

  it('conv2d without bias or relu keeps negative outputs, reading an unpacked filter', () => {
    const [n, h, w, c, o, k] = [1, 4, 5, 2, 8, 3];
    const xp = padded(randomValues(n * h * w * c, 1), n, h, w, c, 1);
    const filter = randomValues(k * k * c * o, 2);
    const expected = new Float64Array(n * h * w * o);
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++)
        for (let q = 0; q < o; q++) {
          let sum = 0;
          for (let a = 0; a < k; a++) for (let t = 0; t < k * c; t++) sum += xp[(i + a) * (w + 2) * c + j * c + t]! * filter[(a * k * c + t) * o + q]!;
          expected[(i * w + j) * o + q] = sum;
        }
    const actual = withHeap((heap) => {
      const y = heap.put(new Float32Array(n * h * w * o));
      // the filter as tfjs stores it, [k, k, c, o]
      kernels(build).conv2d(heap.put(xp), (w + 2) * c * 4, 0, heap.put(filter), o * 4, 32, 0, y, w * o * 4, 0, n, h, w, c, o, k, 0);
      return heap.read(y, n * h * w * o);
    });
    expect(actual.some((v) => v < 0)).toBe(true);
    expectClose(actual, expected);
  });

  it.each(CONV_SHAPES)('conv2dFilterGrad: n %i, %i×%i×%i, %i filters, kernel %i, dz in panels and inside a padded buffer', (n, h, w, c, o, k) => {
    const pad = Math.floor((k - 1) / 2);
    const x = randomValues(n * h * w * c, h * c + 1);
    const dz = randomValues(n * h * w * o, o * k + 2);
    const expected = new Float64Array(k * k * c * o);
    for (let a = 0; a < k; a++)
      for (let b = 0; b < k; b++)
        for (let ch = 0; ch < c; ch++)
          for (let q = 0; q < o; q++) {
            let sum = 0;
            for (let img = 0; img < n; img++)
              for (let i = 0; i < h; i++)
                for (let j = 0; j < w; j++) {
                  const r = i + a - pad;
                  const s = j + b - pad;
                  if (r < 0 || r >= h || s < 0 || s >= w) continue;
                  sum += x[((img * h + r) * w + s) * c + ch]! * dz[((img * h + i) * w + j) * o + q]!;
                }
            expected[((a * k + b) * c + ch) * o + q] = sum;
          }
    const hp = h + k - 1;
    const wp = w + k - 1;
    const xp = padded(x, n, h, w, c, pad, hp, wp);
    // dz as NHWC inside a buffer with a 2-pixel border, and in panels of 8 channels ([n, o/8, h·w, 8])
    const dzPadded = padded(dz, n, h, w, o, 2);
    const dzPanels = new Float32Array(dz.length);
    dz.forEach((value, at) => {
      const q = at % o;
      const pixel = Math.floor(at / o) % (h * w);
      const img = Math.floor(at / (o * h * w));
      dzPanels[((img * (o / 8) + Math.floor(q / 8)) * h * w + pixel) * 8 + (q % 8)] = value;
    });
    for (const layout of ['padded', 'panels'] as const) {
      const actual = withHeap((heap) => {
        const dw = heap.put(new Float32Array(k * k * c * o));
        const x = heap.put(xp);
        if (layout === 'padded') {
          const dzRow = (w + 4) * o * 4;
          const dzImage = (h + 4) * dzRow;
          kernels(build).conv2dFilterGrad(x, wp * c * 4, hp * wp * c * 4, heap.put(dzPadded) + 2 * dzRow + 2 * o * 4, o * 4, dzRow, dzImage, 32, dw, n, h, w, c, o, k);
        } else {
          kernels(build).conv2dFilterGrad(x, wp * c * 4, hp * wp * c * 4, heap.put(dzPanels), 32, w * 32, o * h * w * 4, h * w * 32, dw, n, h, w, c, o, k);
        }
        return heap.read(dw, k * k * c * o);
      });
      expectClose(actual, expected, 2e-5);
    }
  });

  it('conv2dFilterGrad adds to what the output holds', () => {
    const [n, h, w, c, o, k] = [1, 3, 3, 1, 8, 3];
    const xp = padded(randomValues(9, 4), n, h, w, c, 1);
    const dz = randomValues(9 * o, 5);
    const [once, twice] = withHeap((heap) => {
      const dw = heap.put(new Float32Array(k * k * o));
      const args = [heap.put(xp), 5 * 4, 0, heap.put(dz), o * 4, 3 * o * 4, 0, 32, dw, n, h, w, c, o, k] as const;
      kernels(build).conv2dFilterGrad(...args);
      const first = heap.read(dw, k * k * o);
      kernels(build).conv2dFilterGrad(...args);
      return [first, heap.read(dw, k * k * o)];
    });
    expectClose(twice, once.map((v) => 2 * v));
  });

  // m, cols, depth: cnn-small's dense layers as forward, filter gradient (Aᵀ) and input gradient, then odd sizes
  it.each([
    [32, 128, 1568, false],
    [1568, 128, 32, true],
    [128, 10, 32, true],
    [1568, 32, 128, false],
    [32, 10, 128, false],
    [1, 1, 1, false],
    [7, 13, 5, true],
    [5, 8, 3, false],
    [9, 17, 33, true],
  ] as const)('gemm: %i×%i outputs, depth %i, A transposed: %s, with and without bias and relu', (m, cols, depth, transposedA) => {
    const a = randomValues(m * depth, m + depth);
    const b = randomValues(depth * cols, cols + 7);
    const bias = randomValues(cols, 9);
    const at = (r: number, t: number) => (transposedA ? a[t * m + r]! : a[r * depth + t]!);
    for (const withBias of [false, true]) {
      const expected = new Float64Array(m * cols);
      for (let r = 0; r < m; r++)
        for (let q = 0; q < cols; q++) {
          let sum = withBias ? bias[q]! : 0;
          for (let t = 0; t < depth; t++) sum += at(r, t) * b[t * cols + q]!;
          expected[r * cols + q] = withBias ? Math.max(0, sum) : sum;
        }
      // C's rows are cols + 3 floats apart, to check the row stride; the gaps must stay untouched.
      const cRow = cols + 3;
      const actual = withHeap((heap) => {
        const c = heap.put(new Float32Array(m * cRow).fill(5));
        const [aRow, aCol] = transposedA ? [4, m * 4] : [depth * 4, 4];
        kernels(build).gemm(heap.put(a), aRow, aCol, heap.put(b), cols * 4, c, cRow * 4, m, cols, depth, withBias ? heap.put(bias) : 0, withBias ? 1 : 0, 0);
        const all = heap.read(c, m * cRow);
        for (let r = 0; r < m; r++) expect(Array.from(all.subarray(r * cRow + cols, (r + 1) * cRow))).toEqual([5, 5, 5]);
        return Float32Array.from({ length: m * cols }, (_, i) => all[Math.floor(i / cols) * cRow + (i % cols)]!);
      });
      expectClose(actual, expected);
    }
  });
  it('gemm in slices of depth (accumulate) adds up to the whole product, bias first and relu last', () => {
    const [m, cols, depth] = [6, 19, 50];
    const a = randomValues(m * depth, 21);
    const b = randomValues(depth * cols, 22);
    const bias = randomValues(cols, 23);
    const expected = new Float64Array(m * cols);
    for (let r = 0; r < m; r++)
      for (let q = 0; q < cols; q++) {
        let sum = bias[q]!;
        for (let t = 0; t < depth; t++) sum += a[r * depth + t]! * b[t * cols + q]!;
        expected[r * cols + q] = Math.max(0, sum);
      }
    const actual = withHeap((heap) => {
      const [aAt, bAt, biasAt] = [heap.put(a), heap.put(b), heap.put(bias)];
      const c = heap.put(new Float32Array(m * cols).fill(Number.NaN));
      const slices = [0, 16, 17, 50];
      for (let s = 0; s + 1 < slices.length; s++) {
        const [from, to] = [slices[s]!, slices[s + 1]!];
        const last = s + 2 === slices.length;
        kernels(build).gemm(aAt + from * 4, depth * 4, 4, bAt + from * cols * 4, cols * 4, c, cols * 4, m, cols, to - from, biasAt, last ? 1 : 0, s > 0 ? 1 : 0);
      }
      return heap.read(c, m * cols);
    });
    expect(actual.some((v) => v === 0)).toBe(true);
    expectClose(actual, expected);
  });
});

describe('conv.wat pooling (the same in both builds)', () => {
  it.each([
    [2, 28, 28, 16],
    [1, 7, 5, 8],
    [3, 5, 4, 4],
  ])('maxPool2x2 and poolReluBackward: n %i, %i×%i, %i channels, ties and non-positive windows included', (n, h, w, c) => {
    const k = kernels('mul-add');
    const outH = h >> 1;
    const outW = w >> 1;
    // relu outputs with many exact zeros and repeated values, so ties and all-zero windows occur
    const x = randomValues(n * h * w * c, 11).map((v) => Math.max(0, Math.round(v * 8) / 8));
    const dy = randomValues(n * outH * outW * c, 12);
    const pooled = new Float32Array(n * outH * outW * c);
    const dz = new Float32Array(n * h * w * c);
    const bias = new Float64Array(c);
    for (let img = 0; img < n; img++)
      for (let r = 0; r < outH; r++)
        for (let col = 0; col < outW; col++)
          for (let ch = 0; ch < c; ch++) {
            let best = -Infinity;
            let where = -1;
            for (let a = 0; a < 2; a++)
              for (let b = 0; b < 2; b++) {
                const at = ((img * h + 2 * r + a) * w + 2 * col + b) * c + ch;
                if (x[at]! > best) [best, where] = [x[at]!, at];
              }
            const o = ((img * outH + r) * outW + col) * c + ch;
            pooled[o] = best;
            if (best > 0) {
              dz[where] = dy[o]!;
              bias[ch] = bias[ch]! + dy[o]!;
            }
          }
    // dy handed over transposed ([f, n]), as a dense layer's input gradient is; pooled and dz inside padded buffers
    const dyT = new Float32Array(dy.length);
    const features = outH * outW * c;
    for (let img = 0; img < n; img++) for (let f = 0; f < features; f++) dyT[f * n + img] = dy[img * features + f]!;
    withHeap((heap) => {
      const pRow = (outW + 2) * c * 4;
      const pImage = (outH + 2) * pRow;
      const pooledBuffer = heap.put(new Float32Array(n * (outH + 2) * (outW + 2) * c));
      const pooledAt = pooledBuffer + pRow + c * 4;
      const xAt = heap.put(x);
      k.maxPool2x2(xAt, pooledAt, pRow, pImage, n, h, w, c);
      const pooledAll = heap.read(pooledBuffer, n * (outH + 2) * (outW + 2) * c);
      const pooledInner = Float32Array.from({ length: pooled.length }, (_, i) => {
        const ch = i % c;
        const col = Math.floor(i / c) % outW;
        const r = Math.floor(i / (c * outW)) % outH;
        const img = Math.floor(i / (c * outW * outH));
        return pooledAll[((img * (outH + 2) + r + 1) * (outW + 2) + col + 1) * c + ch]!;
      });
      expect(Array.from(pooledInner)).toEqual(Array.from(pooled));
      const dzRow = (w + 1) * c * 4;
      const dzImage = (h + 1) * dzRow;
      // every window position is written (0 where the gradient does not go); anything else is left alone
      const dzBuffer = heap.put(new Float32Array(n * (h + 1) * (w + 1) * c).fill(9));
      const biasAt = heap.put(new Float32Array(c).fill(3));
      // and, with 8 channels or more, in panels of 8 channels ([n, c/8, h·w, 8]) as well
      const withPanels = c % 8 === 0;
      const panels = withPanels ? heap.put(new Float32Array(n * h * w * c)) : 0;
      const panelBlock = h * w * 32;
      k.poolReluBackward(xAt, pooledAt, pRow, pImage, heap.put(dyT), 4, n * 4, dzBuffer, dzRow, dzImage, panels, (c / 8) * panelBlock, panelBlock, biasAt, n, h, w, c);
      if (withPanels) {
        const fromPanels = heap.read(panels, n * h * w * c);
        const asNhwc = Float32Array.from({ length: dz.length }, (_, at) => {
          const ch = at % c;
          const pixel = Math.floor(at / c) % (h * w);
          const img = Math.floor(at / (c * h * w));
          return fromPanels[((img * (c / 8) + Math.floor(ch / 8)) * h * w + pixel) * 8 + (ch % 8)]!;
        });
        expect(Array.from(asNhwc)).toEqual(Array.from(dz));
      }
      const dzAll = heap.read(dzBuffer, n * (h + 1) * (w + 1) * c);
      const dzInner = Float32Array.from({ length: dz.length }, (_, i) => {
        const ch = i % c;
        const j = Math.floor(i / c) % w;
        const r = Math.floor(i / (c * w)) % h;
        const img = Math.floor(i / (c * w * h));
        return dzAll[((img * (h + 1) + r) * (w + 1) + j) * c + ch]!;
      });
      const inWindow = (i: number) => {
        const j = Math.floor(i / c) % w;
        const r = Math.floor(i / (c * w)) % h;
        return r < 2 * outH && j < 2 * outW;
      };
      expect(Array.from(dzInner, (v, i) => (inWindow(i) ? v : v - 9))).toEqual(Array.from(dz));
      expect(dzAll.filter((v) => v === 9).length).toBe(dzAll.length - 4 * outH * outW * c * n);
      expectClose(heap.read(biasAt, c), bias);
    });
  });
});
