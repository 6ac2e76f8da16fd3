import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../shared/engine/backend.js';
import { buildModel } from '../shared/engine/build-model.js';
import { randomValues } from './helpers/random.js';

/**
 * Our wasm training kernels against tfjs's pure-JS cpu kernels (the reference), on the same random inputs.
 * Kernels are invoked by name through the engine, exactly as the conv2d / matMul gradients invoke them.
 */

type Backend = 'wasm' | 'cpu';
interface Result {
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

const TOLERANCE = 1e-4;


function randomTensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(randomValues(shape.reduce((a, b) => a * b, 1), seed), shape, 'float32');
}

async function runOn(backend: Backend, compute: () => tf.Tensor): Promise<Result> {
  await tf.setBackend(backend);
  try {
    const output = tf.tidy(compute);
    const result = { shape: output.shape, values: new Float32Array(output.dataSync()) };
    output.dispose();
    return result;
  } finally {
    await tf.setBackend('wasm');
  }
}

async function compareBackends(compute: () => tf.Tensor): Promise<{ wasm: Result; cpu: Result; maxDiff: number }> {
  const cpu = await runOn('cpu', compute);
  const wasm = await runOn('wasm', compute);
  expect(wasm.shape).toEqual(cpu.shape);
  let maxDiff = 0;
  for (let i = 0; i < cpu.values.length; i++) maxDiff = Math.max(maxDiff, Math.abs(wasm.values[i]! - cpu.values[i]!));
  return { wasm, cpu, maxDiff };
}

interface ConvCase {
  readonly batch: number;
  readonly height: number;
  readonly width: number;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: number;
  readonly stride: number;
  readonly pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
  readonly dataFormat?: 'NHWC' | 'NCHW';
}

function describeCase(c: ConvCase): string {
  const pad = typeof c.pad === 'string' ? c.pad : `explicit ${JSON.stringify(c.pad.slice(1, 3))}`;
  return (
    `x ${c.batch}×${c.height}×${c.width}×${c.inChannels}, ${c.kernel}×${c.kernel}→${c.outChannels}, ` +
    `stride ${c.stride}, ${pad}, ${c.dataFormat ?? 'NHWC'}`
  );
}

function convShapes(c: ConvCase): { x: number[]; dy: number[]; filter: [number, number, number, number] } {
  const info = tf.backend_util.computeConv2DInfo(
    [c.batch, c.height, c.width, c.inChannels],
    [c.kernel, c.kernel, c.inChannels, c.outChannels],
    c.stride,
    1,
    c.pad,
  );
  const channelsFirst = c.dataFormat === 'NCHW';
  return {
    x: channelsFirst ? [c.batch, c.inChannels, c.height, c.width] : [c.batch, c.height, c.width, c.inChannels],
    dy: channelsFirst
      ? [c.batch, c.outChannels, info.outHeight, info.outWidth]
      : [c.batch, info.outHeight, info.outWidth, c.outChannels],
    filter: [c.kernel, c.kernel, c.inChannels, c.outChannels],
  };
}

const FILTER_CASES: ConvCase[] = [
  { batch: 1, height: 8, width: 8, inChannels: 1, outChannels: 4, kernel: 3, stride: 1, pad: 'same' },
  { batch: 3, height: 9, width: 7, inChannels: 3, outChannels: 8, kernel: 3, stride: 1, pad: 'valid' },
  { batch: 4, height: 10, width: 10, inChannels: 16, outChannels: 32, kernel: 5, stride: 1, pad: 'same' },
  { batch: 2, height: 7, width: 7, inChannels: 32, outChannels: 64, kernel: 5, stride: 1, pad: 'same' },
  { batch: 2, height: 9, width: 9, inChannels: 4, outChannels: 6, kernel: 3, stride: 2, pad: 'same' },
  { batch: 3, height: 10, width: 11, inChannels: 5, outChannels: 7, kernel: 3, stride: 2, pad: 'valid' },
  { batch: 2, height: 12, width: 12, inChannels: 2, outChannels: 3, kernel: 5, stride: 3, pad: 'valid' },
  { batch: 2, height: 13, width: 13, inChannels: 3, outChannels: 4, kernel: 4, stride: 3, pad: 'same' },
  { batch: 2, height: 7, width: 6, inChannels: 3, outChannels: 5, kernel: 3, stride: 1, pad: [[0, 0], [2, 0], [1, 2], [0, 0]] },
  { batch: 2, height: 8, width: 8, inChannels: 3, outChannels: 5, kernel: 3, stride: 2, pad: 'same', dataFormat: 'NCHW' },
];

const INPUT_CASES: ConvCase[] = [
  { batch: 1, height: 8, width: 8, inChannels: 1, outChannels: 4, kernel: 3, stride: 1, pad: 'same' },
  { batch: 3, height: 9, width: 7, inChannels: 3, outChannels: 8, kernel: 3, stride: 1, pad: 'valid' },
  { batch: 4, height: 10, width: 10, inChannels: 16, outChannels: 32, kernel: 5, stride: 1, pad: 'same' },
  { batch: 2, height: 7, width: 7, inChannels: 32, outChannels: 64, kernel: 5, stride: 1, pad: 'same' },
  { batch: 2, height: 7, width: 6, inChannels: 3, outChannels: 5, kernel: 3, stride: 1, pad: [[0, 0], [2, 0], [1, 2], [0, 0]] },
  // Not covered by the fast path: must fall back to tfjs's own kernel and still be right.
  { batch: 2, height: 9, width: 9, inChannels: 4, outChannels: 6, kernel: 3, stride: 2, pad: 'same' },
  { batch: 2, height: 6, width: 6, inChannels: 2, outChannels: 3, kernel: 3, stride: 1, pad: [[0, 0], [4, 0], [0, 0], [0, 0]] },
];

beforeAll(async () => {
  const info = await initBackend('wasm');
  expect(info.backend).toBe('wasm');
});

describe('wasm Conv2DBackpropFilter', () => {
  it.each(FILTER_CASES.map((c) => [describeCase(c), c] as const))('matches cpu: %s', async (_, c) => {
    const shapes = convShapes(c);
    const { maxDiff, cpu } = await compareBackends(() =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: randomTensor(shapes.x, 1), dy: randomTensor(shapes.dy, 2) }, {
        strides: [c.stride, c.stride],
        pad: c.pad,
        dataFormat: c.dataFormat ?? 'NHWC',
        filterShape: shapes.filter,
      }) as tf.Tensor,
    );
    expect(cpu.shape).toEqual(shapes.filter);
    expect(maxDiff).toBeLessThan(TOLERANCE);
  });
});

describe('wasm Conv2DBackpropInput', () => {
  it.each(INPUT_CASES.map((c) => [describeCase(c), c] as const))('matches cpu: %s', async (_, c) => {
    const shapes = convShapes(c);
    const { maxDiff, cpu } = await compareBackends(() =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy: randomTensor(shapes.dy, 3), filter: randomTensor(shapes.filter, 4) }, {
        strides: [c.stride, c.stride],
        pad: c.pad,
        dataFormat: c.dataFormat ?? 'NHWC',
        inputShape: shapes.x,
      }) as tf.Tensor,
    );
    expect(cpu.shape).toEqual(shapes.x);
    expect(maxDiff).toBeLessThan(TOLERANCE);
  });
});

describe('wasm BatchMatMul', () => {
  const cases = [
    { a: [5, 7], b: [7, 3], transposeA: false, transposeB: false },
    { a: [7, 5], b: [7, 3], transposeA: true, transposeB: false },
    { a: [5, 7], b: [3, 7], transposeA: false, transposeB: true },
    { a: [7, 5], b: [3, 7], transposeA: true, transposeB: true },
    { a: [32, 128], b: [32, 10], transposeA: true, transposeB: false },
    { a: [32, 10], b: [128, 10], transposeA: false, transposeB: true },
    { a: [4, 6, 5], b: [4, 3, 6], transposeA: true, transposeB: true },
    { a: [1, 6, 5], b: [3, 6, 4], transposeA: true, transposeB: false },
  ];
  it.each(cases.map((c) => [`a ${c.a} b ${c.b} transposeA=${c.transposeA} transposeB=${c.transposeB}`, c] as const))(
    'matches cpu: %s',
    async (_, c) => {
      const { maxDiff } = await compareBackends(() =>
        tf.engine().runKernel('BatchMatMul', { a: randomTensor(c.a, 5), b: randomTensor(c.b, 6) }, {
          transposeA: c.transposeA,
          transposeB: c.transposeB,
        }) as tf.Tensor,
      );
      expect(maxDiff).toBeLessThan(TOLERANCE);
    },
  );
});

describe('wasm MaxPoolGrad', () => {
  const cases = [
    { shape: [4, 8, 8, 3], filter: 2, stride: 2, pad: 'valid', values: 'uniform' },
    { shape: [4, 8, 8, 3], filter: 2, stride: 2, pad: 'valid', values: 'ties' },
    // tfjs 4.22's own wasm kernel loses the gradient of windows with no positive value.
    { shape: [2, 6, 6, 3], filter: 2, stride: 2, pad: 'valid', values: 'negative' },
    { shape: [2, 7, 7, 5], filter: 2, stride: 2, pad: 'same', values: 'ties' },
    { shape: [2, 7, 9, 4], filter: 3, stride: 2, pad: 'same', values: 'uniform' },
    { shape: [2, 6, 6, 2], filter: 3, stride: 1, pad: 'same', values: 'ties' },
    { shape: [3, 9, 8, 2], filter: 3, stride: 2, pad: 'valid', values: 'ties' },
  ] as const;
  it.each(cases.map((c) => [`x ${c.shape.join('×')}, ${c.filter}×${c.filter} stride ${c.stride} ${c.pad}, ${c.values} values`, c] as const))(
    'matches cpu, routing ties to the same position: %s',
    async (_, c) => {
      const size = c.shape.reduce((a, b) => a * b, 1);
      const uniform = randomValues(size, 9);
      const xValues =
        c.values === 'ties'
          ? uniform.map((v) => Math.floor((v + 0.5) * 3)) // from {0, 1, 2}: most windows hold several equal maxima
          : c.values === 'negative'
            ? uniform.map((v) => v - 0.6)
            : uniform;
      const { maxDiff } = await compareBackends(() => {
        const input = tf.tensor4d(xValues, [...c.shape] as [number, number, number, number]);
        const output = tf.maxPool(input, c.filter, c.stride, c.pad);
        const dy = randomTensor(output.shape, 10);
        return tf.engine().runKernel('MaxPoolGrad', { dy, input, output }, {
          filterSize: c.filter,
          strides: c.stride,
          pad: c.pad,
        }) as tf.Tensor;
      });
      // Each input gets the gradient of the windows whose first maximum it is: with no overlap, exactly.
      if (c.filter === c.stride) expect(maxDiff).toBe(0);
      expect(maxDiff).toBeLessThan(TOLERANCE);
    },
  );
});

describe('whole-model gradients', () => {
  it('cnn-small: every weight gradient on wasm matches cpu', async () => {
    const model = buildModel('cnn-small', 7);
    const images = randomValues(4 * 28 * 28, 8).map((v) => v + 0.5);
    const labels = [3, 1, 4, 1];
    const gradientsOn = async (backend: Backend) => {
      await tf.setBackend(backend);
      try {
        const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
        const { grads } = tf.variableGrads(() => {
          const logits = model.apply(tf.tensor4d(images, [4, 28, 28, 1]), { training: true }) as tf.Tensor;
          return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), 10), logits) as tf.Scalar;
        }, variables);
        const out = variables.map((v) => ({ name: v.name, values: new Float32Array(grads[v.name]!.dataSync()) }));
        tf.dispose(grads);
        return out;
      } finally {
        await tf.setBackend('wasm');
      }
    };
    try {
      const cpu = await gradientsOn('cpu');
      const wasm = await gradientsOn('wasm');
      expect(wasm.map((g) => g.name)).toEqual(cpu.map((g) => g.name));
      for (const [i, reference] of cpu.entries()) {
        const actual = wasm[i]!.values;
        let diff = 0;
        let norm = 0;
        for (let j = 0; j < reference.values.length; j++) {
          diff += (actual[j]! - reference.values[j]!) ** 2;
          norm += reference.values[j]! ** 2;
        }
        expect(norm, `${reference.name} has a non-zero gradient`).toBeGreaterThan(0);
        expect(Math.sqrt(diff / norm), `relative error of ${reference.name}`).toBeLessThan(1e-4);
      }
    } finally {
      model.dispose();
    }
  });
});
