import * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '@tensorflow/tfjs';
import { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { LocalTrainingConfig, ModelName } from '../config/schema.js';
import { NUM_CLASSES, type Dataset } from '../data/types.js';
import { architecture, MODEL_INPUT_SHAPE, weightSpecs, type LayerSpec } from '../models/index.js';
import type { ModelWeights } from '../weights/types.js';

/**
 * One training step of our fixed architectures on the wasm backend, written out by hand: forward with fused
 * conv + bias + relu, backward in the order of the layers, and the optimizer in one JavaScript pass per weight.
 * The tfjs tape path spends ~60 % of a cnn-small step outside the convolutions and matmuls (recording the tape,
 * ~30 elementwise kernels for the momentum update, a generic MaxPoolGrad, bias reductions); here the
 * heavy lifting still goes to XNNPACK and everything elementwise is a single loop over the wasm heap.
 * Checked against tfjs autograd on the cpu backend in test/engine-fused.test.ts.
 */

const [IMAGE_ROWS, IMAGE_COLS, IMAGE_CHANNELS] = MODEL_INPUT_SHAPE;
const PIXELS = IMAGE_ROWS * IMAGE_COLS * IMAGE_CHANNELS;

/** tfjs's Adam epsilon for float32 (ENGINE.backend.epsilon()), so both paths take the same steps. */
const ADAM_EPSILON = 1e-7;
const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;

/** Whether the fused step can run now: it needs the wasm backend to be the active one. */
export function fusedStepAvailable(): boolean {
  return tf.getBackend() === 'wasm' && tf.backend() instanceof BackendWasm;
}

/** Float32 tensors on the wasm heap, outside the tfjs engine: nothing here is tracked, so every owner frees. */
class Heap {
  constructor(readonly backend: BackendWasm) {}

  alloc(shape: readonly number[]): TensorInfo {
    return this.backend.makeOutput([...shape], 'float32');
  }

  /** A view that stays valid only until the next allocation (the heap may grow and detach it). */
  view(info: TensorInfo): Float32Array {
    return this.backend.typedArrayFromHeap(info) as Float32Array;
  }

  free(...infos: readonly (TensorInfo | undefined)[]): void {
    for (const info of infos) if (info) this.backend.disposeData(info.dataId);
  }

  /** Same data, another shape: never free both the alias and its source. */
  alias(info: TensorInfo, shape: readonly number[]): TensorInfo {
    return { dataId: info.dataId, shape: [...shape], dtype: info.dtype };
  }

  run(kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): TensorInfo {
    const kernel = tf.getKernel(kernelName, 'wasm');
    if (!kernel) throw new Error(`wasm kernel ${kernelName} is not registered`);
    const output = kernel.kernelFunc({ inputs, backend: this.backend, attrs });
    const single = Array.isArray(output) ? output[0] : output;
    if (!single || (Array.isArray(output) && output.length !== 1)) throw new Error(`wasm kernel ${kernelName} did not return one output`);
    return single;
  }

  transpose2d(info: TensorInfo): TensorInfo {
    return this.run('Transpose', { x: info }, { perm: [1, 0] });
  }
}

interface ConvLayer {
  readonly kind: 'conv';
  readonly kernel: number;
  readonly bias: number;
  readonly kernelSize: number;
  readonly inChannels: number;
  readonly filters: number;
}
interface PoolLayer {
  readonly kind: 'maxPool';
  /** the input is a relu output, so the relu's gradient mask can be applied while routing the pool's */
  readonly afterRelu: boolean;
}
interface FlattenLayer {
  readonly kind: 'flatten';
}
interface DenseLayer {
  readonly kind: 'dense';
  readonly kernel: number;
  readonly bias: number;
  readonly inputs: number;
  readonly units: number;
  readonly relu: boolean;
}
type Layer = ConvLayer | PoolLayer | FlattenLayer | DenseLayer;

/** What a layer's backward pass needs from its forward pass. Owned tensors are freed after the step. */
interface Saved {
  input: TensorInfo;
  output: TensorInfo;
  /** dense: the input transposed to [inputs, batch] */
  inputT?: TensorInfo;
}

function compile(model: ModelName): { layers: Layer[]; specs: ReturnType<typeof weightSpecs> } {
  const specs = weightSpecs(model);
  const index = (name: string) => {
    const at = specs.findIndex((spec) => spec.name === name);
    if (at < 0) throw new Error(`model ${model} has no weight ${name}`);
    return at;
  };
  const layers: Layer[] = [];
  let previous: LayerSpec | undefined;
  for (const layer of architecture(model)) {
    switch (layer.kind) {
      case 'conv': {
        const kernel = index(`${layer.name}/kernel`);
        const [, , inChannels = 0] = specs[kernel]!.shape;
        layers.push({ kind: 'conv', kernel, bias: index(`${layer.name}/bias`), kernelSize: layer.kernelSize, inChannels, filters: layer.filters });
        break;
      }
      case 'maxPool':
        layers.push({ kind: 'maxPool', afterRelu: previous?.kind === 'conv' });
        break;
      case 'flatten':
        layers.push({ kind: 'flatten' });
        break;
      case 'dense': {
        const kernel = index(`${layer.name}/kernel`);
        const [inputs = 0] = specs[kernel]!.shape;
        layers.push({ kind: 'dense', kernel, bias: index(`${layer.name}/bias`), inputs, units: layer.units, relu: layer.activation === 'relu' });
        break;
      }
    }
    previous = layer;
  }
  return { layers, specs };
}

export interface FusedBatchResult {
  /** mean softmax cross-entropy over the batch */
  readonly loss: number;
  /** how many of the batch the model (before this step) classified right */
  readonly correct: number;
}

export interface FusedStepOptions {
  readonly local: LocalTrainingConfig;
  /** FedProx μ: adds μ·(w − anchor) to every gradient */
  readonly proximalMu?: number;
  readonly anchor?: ModelWeights;
  /** SCAFFOLD's c − cᵢ, added to every gradient as it is */
  readonly correction?: ModelWeights;
}

/**
 * A model's weights on the wasm heap plus its optimizer state, trained one mini-batch at a time. Weight tensors
 * are replaced (not overwritten) after each step: the wasm backend caches XNNPACK operators with their packed
 * weights by tensor id, so writing in place would leave stale packed copies behind.
 */
export class FusedTrainer {
  private readonly heap: Heap;
  private readonly layers: Layer[];
  private readonly specs: ReturnType<typeof weightSpecs>;
  private params: TensorInfo[];
  private readonly velocity: Float32Array[];
  private readonly secondMoment: Float32Array[];
  private adamPower1 = ADAM_BETA1;
  private adamPower2 = ADAM_BETA2;
  private readonly anchor: readonly Float32Array[];
  private readonly correction: readonly Float32Array[];
  private disposed = false;

  constructor(
    model: ModelName,
    weights: ModelWeights,
    private readonly options: FusedStepOptions,
  ) {
    const backend = tf.backend();
    if (!(backend instanceof BackendWasm)) throw new Error('the fused training step needs the wasm backend to be active');
    this.heap = new Heap(backend);
    ({ layers: this.layers, specs: this.specs } = compile(model));
    const ordered = (what: string, given: ModelWeights) => this.inSpecOrder(given, what);
    const initial = ordered('weights', weights);
    this.anchor = (options.proximalMu ?? 0) > 0 ? ordered('anchor', options.anchor ?? weights) : [];
    this.correction = options.correction ? ordered('objective.gradientCorrection', options.correction) : [];
    const sizes = this.specs.map((spec) => spec.shape.reduce((a, b) => a * b, 1));
    const { optimizer, momentum } = options.local;
    this.velocity = optimizer === 'adam' || momentum > 0 ? sizes.map((size) => new Float32Array(size)) : [];
    this.secondMoment = optimizer === 'adam' ? sizes.map((size) => new Float32Array(size)) : [];
    this.params = this.specs.map((spec, i) => {
      const info = this.heap.alloc(spec.shape);
      this.heap.view(info).set(initial[i]!);
      return info;
    });
  }

  private inSpecOrder(weights: ModelWeights, what: string): Float32Array[] {
    const byName = new Map(weights.map((tensor) => [tensor.name, tensor]));
    return this.specs.map((spec) => {
      const tensor = byName.get(spec.name);
      const size = spec.shape.reduce((a, b) => a * b, 1);
      if (!tensor || tensor.values.length !== size) throw new Error(`${what}: ${spec.name} is missing or has the wrong size`);
      return tensor.values;
    });
  }

  /** The current weights, copied off the heap, in the model's order. */
  weights(): ModelWeights {
    return this.specs.map((spec, i) => ({ name: spec.name, shape: [...spec.shape], values: new Float32Array(this.heap.view(this.params[i]!)) }));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.heap.free(...this.params);
    this.params = [];
  }

  /**
   * Loss and gradients of one batch without a step (for tests and gradient checks); `images` are
   * [n, 28, 28, 1] floats. The caller owns nothing: gradients are copied off the heap.
   */
  gradients(images: Float32Array, labels: Uint8Array): { loss: number; correct: number; gradients: ModelWeights } {
    const { loss, correct, grads } = this.forwardBackward(this.uploadImages(images, labels.length), labels);
    try {
      return {
        loss,
        correct,
        gradients: this.specs.map((spec, i) => ({ name: spec.name, shape: [...spec.shape], values: new Float32Array(this.heap.view(grads[i]!)) })),
      };
    } finally {
      this.heap.free(...grads);
    }
  }

  /**
   * One optimizer step on `rows` of the dataset. Returns the batch loss before the step; a non-finite loss
   * leaves the weights untouched so the caller can stop without a poisoned update.
   */
  step(dataset: Dataset, rows: ArrayLike<number>, start: number, end: number): FusedBatchResult {
    const count = end - start;
    const input = this.heap.alloc([count, IMAGE_ROWS, IMAGE_COLS, IMAGE_CHANNELS]);
    const pixels = this.heap.view(input);
    const labels = new Uint8Array(count);
    const { images } = dataset;
    for (let row = 0; row < count; row++) {
      const sample = rows[start + row]!;
      const label = dataset.labels[sample]!;
      if (label >= NUM_CLASSES) throw new Error(`sample ${sample} has label ${label}, expected 0–${NUM_CLASSES - 1}`);
      labels[row] = label;
      const from = sample * PIXELS;
      const to = row * PIXELS;
      for (let p = 0; p < PIXELS; p++) pixels[to + p] = images[from + p]! / 255;
    }
    const { loss, correct, grads } = this.forwardBackward(input, labels);
    try {
      if (Number.isFinite(loss)) this.applyGradients(grads);
    } finally {
      this.heap.free(...grads);
    }
    return { loss, correct };
  }

  private uploadImages(images: Float32Array, count: number): TensorInfo {
    if (images.length !== count * PIXELS) throw new Error(`expected ${count} images of ${PIXELS} values, got ${images.length} values`);
    const input = this.heap.alloc([count, IMAGE_ROWS, IMAGE_COLS, IMAGE_CHANNELS]);
    this.heap.view(input).set(images);
    return input;
  }

  /** Takes ownership of `input`. Returns gradients in spec order, owned by the caller. */
  private forwardBackward(input: TensorInfo, labels: Uint8Array): { loss: number; correct: number; grads: TensorInfo[] } {
    if (this.disposed) throw new Error('this trainer was disposed');
    const owned: TensorInfo[] = [input];
    const saved: Saved[] = [];
    const grads: (TensorInfo | undefined)[] = this.specs.map(() => undefined);
    try {
      let x = input;
      for (const layer of this.layers) {
        const entry = this.forward(layer, x, owned);
        saved.push(entry);
        x = entry.output;
      }
      const batch = labels.length;
      const dLogits = this.heap.alloc([batch, NUM_CLASSES]);
      owned.push(dLogits);
      const { loss, correct } = softmaxCrossEntropy(this.heap.view(x), labels, this.heap.view(dLogits));

      let dy: TensorInfo | undefined = dLogits;
      for (let i = this.layers.length - 1; i >= 0 && dy; i--) {
        dy = this.backward(this.layers[i]!, saved[i]!, dy, i === 0 || this.firstWeighted(i), grads, owned);
      }
      const complete = grads.map((grad, i) => {
        if (!grad) throw new Error(`no gradient for ${this.specs[i]!.name}`);
        return grad;
      });
      return { loss, correct, grads: complete };
    } catch (error) {
      this.heap.free(...grads);
      throw error;
    } finally {
      this.heap.free(...owned);
    }
  }

  /** No layer below `index` has weights, so the gradient need not travel further down. */
  private firstWeighted(index: number): boolean {
    return this.layers.slice(0, index).every((layer) => layer.kind !== 'conv' && layer.kind !== 'dense');
  }

  private forward(layer: Layer, x: TensorInfo, owned: TensorInfo[]): Saved {
    const heap = this.heap;
    switch (layer.kind) {
      case 'conv': {
        const output = heap.run(
          'FusedConv2D',
          { x, filter: this.params[layer.kernel]!, bias: this.params[layer.bias]! },
          { strides: [1, 1], pad: 'same', dilations: [1, 1], dataFormat: 'NHWC', activation: 'relu' },
        );
        owned.push(output);
        return { input: x, output };
      }
      case 'maxPool': {
        const output = heap.run('MaxPool', { x }, { filterSize: [2, 2], strides: [2, 2], pad: 'valid' });
        owned.push(output);
        return { input: x, output };
      }
      case 'flatten': {
        const [batch = 0, ...rest] = x.shape;
        return { input: x, output: heap.alias(x, [batch, rest.reduce((a, b) => a * b, 1)]) };
      }
      case 'dense': {
        const [batch = 0] = x.shape;
        // XNNPACK packs the right-hand operand on every call (by tensor id, and weights change every step), so
        // the big weight matrix goes on the left: yᵀ = Wᵀ·xᵀ packs the batch instead. Measured 1.7–2× faster.
        const inputT = heap.transpose2d(x);
        owned.push(inputT);
        const kernelT = heap.transpose2d(this.params[layer.kernel]!);
        const outputT = heap.run('BatchMatMul', { a: kernelT, b: inputT }, { transposeA: false, transposeB: false });
        heap.free(kernelT);
        const output = heap.alloc([batch, layer.units]);
        owned.push(output);
        const yT = heap.view(outputT);
        const y = heap.view(output);
        const bias = heap.view(this.params[layer.bias]!);
        for (let unit = 0; unit < layer.units; unit++) {
          const b = bias[unit]!;
          for (let n = 0; n < batch; n++) {
            const value = yT[unit * batch + n]! + b;
            y[n * layer.units + unit] = layer.relu && !(value > 0) ? 0 : value;
          }
        }
        heap.free(outputT);
        return { input: x, output, inputT };
      }
    }
  }

  /** Returns the gradient for the layer's input (owned), or undefined when nothing below needs it. */
  private backward(
    layer: Layer,
    saved: Saved,
    dy: TensorInfo,
    isFirst: boolean,
    grads: (TensorInfo | undefined)[],
    owned: TensorInfo[],
  ): TensorInfo | undefined {
    const heap = this.heap;
    switch (layer.kind) {
      case 'dense': {
        const [batch = 0] = saved.output.shape;
        const units = layer.units;
        const dz = heap.alloc([batch, units]);
        const dzT = heap.alloc([units, batch]);
        const biasGrad = heap.alloc([units]);
        owned.push(dz, dzT);
        grads[layer.bias] = biasGrad;
        {
          const g = heap.view(dy);
          const y = heap.view(saved.output);
          const d = heap.view(dz);
          const dT = heap.view(dzT);
          const db = heap.view(biasGrad);
          db.fill(0);
          for (let n = 0; n < batch; n++) {
            for (let unit = 0; unit < units; unit++) {
              const at = n * units + unit;
              const value = layer.relu && !(y[at]! > 0) ? 0 : g[at]!;
              d[at] = value;
              dT[unit * batch + n] = value;
              db[unit] = db[unit]! + value;
            }
          }
        }
        grads[layer.kernel] = heap.run('BatchMatMul', { a: saved.inputT!, b: dz }, { transposeA: false, transposeB: false });
        if (isFirst) return undefined;
        // dxᵀ = W·dzᵀ keeps the small operand on the right (see forward).
        const dxT = heap.run('BatchMatMul', { a: this.params[layer.kernel]!, b: dzT }, { transposeA: false, transposeB: false });
        owned.push(dxT);
        const dx = heap.transpose2d(dxT);
        owned.push(dx);
        return dx;
      }
      case 'flatten':
        return heap.alias(dy, saved.input.shape);
      case 'maxPool': {
        const dx = heap.alloc(saved.input.shape);
        owned.push(dx);
        maxPool2x2Backward(saved.input.shape, heap.view(saved.input), heap.view(saved.output), heap.view(dy), heap.view(dx), layer.afterRelu);
        return dx;
      }
      case 'conv': {
        let dz = dy;
        if (!this.maskedByPool(layer)) {
          dz = heap.alloc(dy.shape);
          owned.push(dz);
          const g = heap.view(dy);
          const y = heap.view(saved.output);
          const d = heap.view(dz);
          for (let i = 0; i < d.length; i++) d[i] = y[i]! > 0 ? g[i]! : 0;
        }
        const biasGrad = heap.alloc([layer.filters]);
        grads[layer.bias] = biasGrad;
        sumChannels(heap.view(dz), heap.view(biasGrad));
        grads[layer.kernel] = heap.run(
          'Conv2DBackpropFilter',
          { x: saved.input, dy: dz },
          { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [layer.kernelSize, layer.kernelSize, layer.inChannels, layer.filters] },
        );
        if (isFirst) return undefined;
        const dx = heap.run(
          'Conv2DBackpropInput',
          { dy: dz, filter: this.params[layer.kernel]! },
          { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', inputShape: saved.input.shape },
        );
        owned.push(dx);
        return dx;
      }
    }
  }

  /** The layer right after this conv is a pool whose backward pass already applied the relu mask. */
  private maskedByPool(layer: ConvLayer): boolean {
    const next = this.layers[this.layers.indexOf(layer) + 1];
    return next?.kind === 'maxPool' && next.afterRelu;
  }

  private applyGradients(grads: readonly TensorInfo[]): void {
    const { learningRate, optimizer, momentum } = this.options.local;
    const mu = this.options.proximalMu ?? 0;
    const adam = optimizer === 'adam';
    const biasCorrection1 = 1 - this.adamPower1;
    const biasCorrection2 = 1 - this.adamPower2;
    this.params = this.params.map((param, i) => {
      // Allocate before taking views: growing the heap detaches them.
      const next = this.heap.alloc(this.specs[i]!.shape);
      const w = this.heap.view(param);
      const g = this.heap.view(grads[i]!);
      const out = this.heap.view(next);
      const anchor = this.anchor[i];
      const correction = this.correction[i];
      const v = this.velocity[i];
      const s = this.secondMoment[i];
      for (let k = 0; k < w.length; k++) {
        let gradient = g[k]!;
        if (anchor) gradient += mu * (w[k]! - anchor[k]!);
        if (correction) gradient += correction[k]!;
        if (adam) {
          const m1 = (v![k] = ADAM_BETA1 * v![k]! + (1 - ADAM_BETA1) * gradient);
          const m2 = (s![k] = ADAM_BETA2 * s![k]! + (1 - ADAM_BETA2) * gradient * gradient);
          out[k] = w[k]! - (learningRate * (m1 / biasCorrection1)) / (Math.sqrt(m2 / biasCorrection2) + ADAM_EPSILON);
        } else if (v) {
          const accumulated = (v[k] = momentum * v[k]! + gradient);
          out[k] = w[k]! - learningRate * accumulated;
        } else {
          out[k] = w[k]! - learningRate * gradient;
        }
      }
      this.heap.free(param);
      return next;
    });
    if (adam) {
      this.adamPower1 *= ADAM_BETA1;
      this.adamPower2 *= ADAM_BETA2;
    }
  }
}

/** Mean cross-entropy of softmax(logits) against the labels; writes d(loss)/d(logits) and counts argmax hits. */
function softmaxCrossEntropy(logits: Float32Array, labels: Uint8Array, dLogits: Float32Array): FusedBatchResult {
  const batch = labels.length;
  let total = 0;
  let correct = 0;
  for (let n = 0; n < batch; n++) {
    const row = n * NUM_CLASSES;
    let max = -Infinity;
    let argmax = 0;
    for (let c = 0; c < NUM_CLASSES; c++) {
      const value = logits[row + c]!;
      if (value > max) {
        max = value;
        argmax = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < NUM_CLASSES; c++) sum += Math.exp(logits[row + c]! - max);
    const label = labels[n]!;
    total += Math.log(sum) + max - logits[row + label]!;
    if (argmax === label) correct++;
    for (let c = 0; c < NUM_CLASSES; c++) {
      const p = Math.exp(logits[row + c]! - max) / sum;
      dLogits[row + c] = (p - (c === label ? 1 : 0)) / batch;
    }
  }
  return { loss: total / batch, correct };
}

/**
 * Routes each 2×2/stride-2 window's gradient to its first maximum in row-major order (the cpu backend's rule);
 * with `reluMask` a window whose maximum is not positive passes nothing, which is the preceding relu's gradient.
 */
function maxPool2x2Backward(
  shape: readonly number[],
  x: Float32Array,
  pooled: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  reluMask: boolean,
): void {
  const [batch = 0, height = 0, width = 0, channels = 0] = shape;
  const outHeight = Math.floor(height / 2);
  const outWidth = Math.floor(width / 2);
  const rowStride = width * channels;
  dx.fill(0);
  let o = 0;
  for (let n = 0; n < batch; n++) {
    for (let r = 0; r < outHeight; r++) {
      for (let c = 0; c < outWidth; c++) {
        const topLeft = ((n * height + 2 * r) * width + 2 * c) * channels;
        for (let ch = 0; ch < channels; ch++, o++) {
          const max = pooled[o]!;
          if (reluMask && !(max > 0)) continue;
          const p00 = topLeft + ch;
          const p01 = p00 + channels;
          const p10 = p00 + rowStride;
          const at = x[p00] === max ? p00 : x[p01] === max ? p01 : x[p10] === max ? p10 : p10 + channels;
          dx[at] = dy[o]!;
        }
      }
    }
  }
}

function sumChannels(values: Float32Array, out: Float32Array): void {
  const channels = out.length;
  const sums = new Float64Array(channels);
  for (let i = 0; i < values.length; i += channels) {
    for (let c = 0; c < channels; c++) sums[c] = sums[c]! + values[i + c]!;
  }
  out.set(sums);
}
