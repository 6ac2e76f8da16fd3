import * as tf from '@tensorflow/tfjs';
import { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type {
  BatchMatMulAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  KernelBackend,
  KernelConfig,
  KernelFunc,
  MaxPoolGradAttrs,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from '@tensorflow/tfjs';

/**
 * Training kernels for the tfjs 4.22 wasm backend, mostly built from its own fast forward kernels (XNNPACK conv2d,
 * transpose). Without them CNN training fails (there is no wasm Conv2DBackpropFilter) or falls back to kernels
 * measured 8× (Conv2DBackpropInput) and 10–25× (BatchMatMul with a transpose flag) slower; MaxPoolGrad is also
 * a correctness fix. Each is checked against the cpu backend in test/engine-wasm-kernels.test.ts.
 */
export const WASM_TRAINING_KERNELS = ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul', 'MaxPoolGrad'] as const;

const BACKEND = 'wasm';

type KernelArgs = Parameters<KernelFunc>[0];

/** Calls a wasm kernel directly, outside the engine: no tape, no tracking, so the caller disposes what it gets. */
export function callKernel(name: string, backend: KernelBackend, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
  const config = tf.getKernel(name, BACKEND);
  if (!config) throw new Error(`wasm kernel ${name} is not registered: import @tensorflow/tfjs-backend-wasm first`);
  return single(name, config.kernelFunc({ inputs, backend, attrs }));
}

function single(name: string, output: TensorInfo | TensorInfo[]): TensorInfo {
  if (Array.isArray(output)) {
    if (output.length !== 1 || !output[0]) throw new Error(`wasm kernel ${name} returned ${output.length} outputs, expected 1`);
    return output[0];
  }
  return output;
}

function asKernelBackend(backend: KernelArgs['backend']): KernelBackend {
  if (!(backend instanceof tf.KernelBackend)) throw new Error('flambda wasm kernels were called without a tfjs backend');
  return backend;
}

function requireInput(inputs: NamedTensorInfoMap, name: string, kernel: string): TensorInfo {
  const input = inputs[name];
  if (!input) throw new Error(`${kernel}: missing input '${name}'`);
  return input;
}

export function transpose(backend: KernelBackend, x: TensorInfo, perm: number[]): TensorInfo {
  return callKernel('Transpose', backend, { x }, { perm });
}

/**
 * dW[kh,kw,c,o] = Σ_{n,i,j} xPadded[n, i·s + kh, j·s + kw, c] · dy[n,i,j,o] is itself a convolution: treat x as
 * a batch of C single images [C, H, W, N] and dy as a filter [Ho, Wo, N, O] dilated by the stride s.
 */
function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const backend = asKernelBackend(args.backend);
  const x = requireInput(args.inputs, 'x', 'Conv2DBackpropFilter');
  const dy = requireInput(args.inputs, 'dy', 'Conv2DBackpropFilter');
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  const channelsFirst = dataFormat === 'NCHW';
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    channelsFirst ? 'channelsFirst' : 'channelsLast',
  );
  const { top, bottom, left, right } = info.padInfo;

  const images = transpose(backend, x, channelsFirst ? [1, 2, 3, 0] : [3, 1, 2, 0]);
  const filter = transpose(backend, dy, channelsFirst ? [2, 3, 0, 1] : [1, 2, 0, 3]);
  const correlation = callKernel(
    'Conv2D',
    backend,
    { x: images, filter },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [info.strideHeight, info.strideWidth],
    },
  );
  backend.disposeData(images.dataId);
  backend.disposeData(filter.dataId);

  // [C, outH, outW, O]: at stride > 1 the last rows/cols of a 'valid' input are never read, so outH may exceed kh.
  const [, outHeight = 0, outWidth = 0] = correlation.shape;
  if (outHeight < info.filterHeight || outWidth < info.filterWidth) {
    backend.disposeData(correlation.dataId);
    throw new Error(
      `Conv2DBackpropFilter: internal shape error (${outHeight}×${outWidth} < ${info.filterHeight}×${info.filterWidth}) ` +
        `for x ${x.shape}, dy ${dy.shape}, strides ${strides}, pad ${JSON.stringify(pad)}`,
    );
  }
  let cropped = correlation;
  if (outHeight > info.filterHeight || outWidth > info.filterWidth) {
    cropped = callKernel(
      'Slice',
      backend,
      { x: correlation },
      { begin: [0, 0, 0, 0], size: [info.inChannels, info.filterHeight, info.filterWidth, info.outChannels] },
    );
    backend.disposeData(correlation.dataId);
  }
  const dw = transpose(backend, cropped, [1, 2, 0, 3]);
  backend.disposeData(cropped.dataId);
  return dw;
}

/**
 * At stride 1, dx is the 'full' correlation of dy with the filter rotated 180° and its in/out channels swapped:
 * XNNPACK's forward conv2d runs it ~8× faster than the wasm backend's own Conv2DBackpropInput.
 */
function makeConv2DBackpropInput(original: KernelFunc): KernelFunc {
  return (args) => {
    const backend = asKernelBackend(args.backend);
    const dy = requireInput(args.inputs, 'dy', 'Conv2DBackpropInput');
    const filter = requireInput(args.inputs, 'filter', 'Conv2DBackpropInput');
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as Conv2DBackpropInputAttrs;
    if (dataFormat === 'NCHW') return original(args);
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const padTop = info.filterHeight - 1 - info.padInfo.top;
    const padBottom = info.filterHeight - 1 - info.padInfo.bottom;
    const padLeft = info.filterWidth - 1 - info.padInfo.left;
    const padRight = info.filterWidth - 1 - info.padInfo.right;
    // Strides > 1 need dy dilated with zeros, and padding wider than the filter needs cropping: leave both to tfjs.
    if (info.strideHeight !== 1 || info.strideWidth !== 1 || Math.min(padTop, padBottom, padLeft, padRight) < 0) {
      return original(args);
    }
    const rotated = callKernel('Reverse', backend, { x: filter }, { dims: [0, 1] });
    const swapped = transpose(backend, rotated, [0, 1, 3, 2]);
    backend.disposeData(rotated.dataId);
    const dx = callKernel(
      'Conv2D',
      backend,
      { x: dy, filter: swapped },
      {
        strides: [1, 1],
        pad: [
          [0, 0],
          [padTop, padBottom],
          [padLeft, padRight],
          [0, 0],
        ],
        dataFormat: 'NHWC',
        dilations: [1, 1],
      },
    );
    backend.disposeData(swapped.dataId);
    return dx;
  };
}

/** XNNPACK's matmul with a transpose flag is 10–25× slower than an explicit transpose followed by a plain matmul. */
function makeBatchMatMul(original: KernelFunc): KernelFunc {
  return (args) => {
    const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
    if (!transposeA && !transposeB) return original(args);
    const backend = asKernelBackend(args.backend);
    const a = requireInput(args.inputs, 'a', 'BatchMatMul');
    const b = requireInput(args.inputs, 'b', 'BatchMatMul');
    const a2 = transposeA ? transpose(backend, a, swapLastTwo(a.shape.length)) : a;
    const b2 = transposeB ? transpose(backend, b, swapLastTwo(b.shape.length)) : b;
    try {
      return single(
        'BatchMatMul',
        original({ inputs: { a: a2, b: b2 }, backend, attrs: { ...args.attrs, transposeA: false, transposeB: false } }),
      );
    } finally {
      if (a2 !== a) backend.disposeData(a2.dataId);
      if (b2 !== b) backend.disposeData(b2.dataId);
    }
  };
}

/**
 * The wasm backend's own MaxPoolGrad is slow (~28 % of cnn-small's step time) and, in tfjs 4.22, wrong when every
 * value in a window is negative: it drops or misroutes that window's gradient (harmless after a relu, not in
 * general). This one walks each pooling window once in JavaScript, straight on the wasm heap, and routes dy to
 * the window's first maximum in row-major order, exactly as the cpu backend does (so ties resolve the same way on
 * both). Overlapping windows accumulate.
 */
function makeMaxPoolGrad(original: KernelFunc): KernelFunc {
  return (args) => {
    const backend = args.backend;
    const dy = requireInput(args.inputs, 'dy', 'MaxPoolGrad');
    const input = requireInput(args.inputs, 'input', 'MaxPoolGrad');
    if (!(backend instanceof BackendWasm) || input.dtype !== 'float32' || dy.dtype !== 'float32') return original(args);
    const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as MaxPoolGradAttrs;
    const info = tf.backend_util.computePool2DInfo(
      input.shape as [number, number, number, number],
      filterSize,
      strides,
      1,
      pad,
      dimRoundingMode,
    );
    const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
    const { strideHeight, strideWidth, effectiveFilterHeight, effectiveFilterWidth } = info;
    const { top, left } = info.padInfo;
    // Allocate first: growing the wasm heap would detach views taken before.
    const output = backend.makeOutput(input.shape, 'float32');
    const dx = backend.typedArrayFromHeap(output);
    const x = backend.typedArrayFromHeap(input);
    const gradient = backend.typedArrayFromHeap(dy);
    dx.fill(0);
    const maxValue = new Float32Array(channels);
    const maxIndex = new Int32Array(channels);
    for (let b = 0; b < batchSize; b++) {
      for (let yRow = 0; yRow < outHeight; yRow++) {
        const rowStart = yRow * strideHeight - top;
        const rowEnd = Math.min(inHeight, rowStart + effectiveFilterHeight);
        for (let yCol = 0; yCol < outWidth; yCol++) {
          const colStart = yCol * strideWidth - left;
          const colEnd = Math.min(inWidth, colStart + effectiveFilterWidth);
          maxValue.fill(Number.NEGATIVE_INFINITY);
          maxIndex.fill(-1);
          for (let xRow = Math.max(0, rowStart); xRow < rowEnd; xRow++) {
            for (let xCol = Math.max(0, colStart); xCol < colEnd; xCol++) {
              const base = ((b * inHeight + xRow) * inWidth + xCol) * channels;
              for (let d = 0; d < channels; d++) {
                const value = x[base + d]!;
                if (value > maxValue[d]!) {
                  maxValue[d] = value;
                  maxIndex[d] = base + d;
                }
              }
            }
          }
          const yBase = ((b * outHeight + yRow) * outWidth + yCol) * channels;
          for (let d = 0; d < channels; d++) {
            const at = maxIndex[d]!;
            if (at >= 0) dx[at] = dx[at]! + gradient[yBase + d]!;
          }
        }
      }
    }
    return output;
  };
}

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

const installed = new Set<KernelFunc>();

function replaceKernel(kernelName: string, build: (original: KernelFunc) => KernelFunc): void {
  const original = tf.getKernel(kernelName, BACKEND);
  if (original && installed.has(original.kernelFunc)) return;
  if (!original) throw new Error(`wasm kernel ${kernelName} is not registered: import @tensorflow/tfjs-backend-wasm first`);
  install(kernelName, build(original.kernelFunc), original);
}

function install(kernelName: string, kernelFunc: KernelFunc, original?: KernelConfig): void {
  if (original) tf.unregisterKernel(kernelName, BACKEND);
  installed.add(kernelFunc);
  // The original's setup (its cwrap of the C++ function) must still run if the backend is ever re-created.
  const config: KernelConfig = { kernelName, backendName: BACKEND, kernelFunc };
  if (original?.setupFunc) config.setupFunc = original.setupFunc;
  if (original?.disposeFunc) config.disposeFunc = original.disposeFunc;
  tf.registerKernel(config);
}

/**
 * Registers Conv2DBackpropFilter (missing in tfjs 4.22) and faster Conv2DBackpropInput / BatchMatMul / MaxPoolGrad
 * on the wasm backend. Idempotent. Cases the fast paths do not cover (backprop-input strides > 1, NCHW, non-float32
 * pooling) run the original kernel.
 */
export function registerWasmTrainingKernels(): void {
  const existingFilterKernel = tf.getKernel('Conv2DBackpropFilter', BACKEND);
  if (!existingFilterKernel || !installed.has(existingFilterKernel.kernelFunc)) {
    install('Conv2DBackpropFilter', conv2DBackpropFilter, existingFilterKernel);
  }
  replaceKernel('Conv2DBackpropInput', makeConv2DBackpropInput);
  replaceKernel('BatchMatMul', makeBatchMatMul);
  replaceKernel('MaxPoolGrad', makeMaxPoolGrad);
}
