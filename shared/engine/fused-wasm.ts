import * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '@tensorflow/tfjs';
import { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { LocalTrainingConfig, ModelName } from '../config/schema.js';
import type { Dataset } from '../data/types.js';
import { toModelSpec, type ModelSpec } from '../models/index.js';
import { writeModelInput } from './batches.js';
import { FmaPasses, fmaPassesCover, type FmaSaved } from './fused-fma.js';
import { convKernels, relaxedSimdSupport, type MaddBuild } from './simd/conv.js';
import { CONV1_FILTER_BLOCK, heapOffset, simdKernels, type SimdKernels } from './simd/index.js';
import { callKernel, transpose } from './wasm-kernels.js';
import { softmaxCrossEntropy } from './softmax-loss.js';
import type { LogitAdjustment } from '../strategies/types.js';
import type { ModelWeights } from '../weights/types.js';

/**
 * One training step of our fixed architectures on the wasm backend, written out by hand: forward with fused
 * conv + bias + relu, backward in the order of the layers, the SGD update in place on the heap. The tfjs tape path
 * spends ~60 % of a cnn-small step outside the convolutions and matmuls (recording the tape, ~30 elementwise
 * kernels for the momentum update, a generic MaxPoolGrad, bias reductions); here the convolutions and matmuls go
 * to our relaxed-SIMD FMA kernels (fused-fma.ts, simd/conv.wat) where the runtime has them, to XNNPACK elsewhere,
 * and the rest to a few loops and our SIMD kernels (simd/kernels.wat), all on the wasm heap.
 * Checked against tfjs autograd on the cpu backend in test/engine-fused.test.ts, on every kind of kernels.
 */

/** tfjs's Adam epsilon for float32 (ENGINE.backend.epsilon()), so both paths take the same steps. */
const ADAM_EPSILON = 1e-7;
const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;

/** Whether the fused step can train `model` now: it needs the wasm backend active and an architecture it covers. */
export function fusedStepAvailable(model: ModelName | ModelSpec): boolean {
  const backend = tf.getBackend() === 'wasm' ? tf.backend() : undefined;
  return backend instanceof BackendWasm && simdKernels(backend) !== undefined && plan(model) !== undefined;
}

/** Float32 tensors on the wasm heap, outside the tfjs engine: nothing here is tracked, so every owner frees. */
export class Heap {
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
    return callKernel(kernelName, this.backend, inputs, attrs);
  }

  transpose(info: TensorInfo, perm: number[]): TensorInfo {
    return transpose(this.backend, info, perm);
  }

  /** where the tensor's data starts in the heap, in bytes */
  offset(info: TensorInfo): number {
    return heapOffset(this.backend, info);
  }
}

export interface ConvLayer {
  readonly kind: 'conv';
  readonly kernel: number;
  readonly bias: number;
  readonly kernelSize: number;
  readonly inChannels: number;
  readonly filters: number;
}
/** always right after a conv (see compile) */
interface PoolLayer {
  readonly kind: 'maxPool';
}
interface FlattenLayer {
  readonly kind: 'flatten';
}
export interface DenseLayer {
  readonly kind: 'dense';
  readonly kernel: number;
  readonly bias: number;
  readonly inputs: number;
  readonly units: number;
  readonly relu: boolean;
}
export type Layer = ConvLayer | PoolLayer | FlattenLayer | DenseLayer;

/** What a layer's backward pass needs from its forward pass. Owned tensors are freed after the step. */
interface Saved {
  input: TensorInfo;
  output: TensorInfo;
  /** dense: the input transposed to [inputs, batch] */
  inputT?: TensorInfo;
}

interface Compiled {
  readonly layers: readonly Layer[];
  readonly specs: ModelSpec['weights'];
  /** the input, [height, width, channels] */
  readonly shape: ModelSpec['input']['shape'];
  readonly classes: number;
  /** whether the first conv's filter gradient is our SIMD kernel's, which reads the input padded (grey images only) */
  readonly padsInput: boolean;
}

/**
 * The layer plan, or undefined for an architecture the fused step does not cover: it relies on every conv
 * (always relu) being followed by a 2×2 max-pool, whose backward pass then also does the relu's and hands the
 * conv its gradient in the two layouts the conv's own backward pass wants.
 */
function compile(model: ModelSpec): Compiled | undefined {
  const specs = model.weights;
  const index = (name: string) => {
    const at = specs.findIndex((spec) => spec.name === name);
    if (at < 0) throw new Error(`model ${model.key} has no weight ${name}`);
    return at;
  };
  const plan = model.layers;
  const layers: Layer[] = [];
  let padsInput = false;
  for (const [i, layer] of plan.entries()) {
    switch (layer.kind) {
      case 'conv': {
        if (plan[i + 1]?.kind !== 'maxPool') return undefined;
        const kernel = index(`${layer.name}/kernel`);
        const [, , inChannels = 0] = specs[kernel]!.shape;
        // A first layer's filter gradient is our SIMD kernel's job for grey images (in blocks of 16 filters); colour
        // images take the correlation path every other conv takes.
        if (i === 0) {
          padsInput = inChannels === 1;
          if (padsInput && layer.filters % CONV1_FILTER_BLOCK !== 0) return undefined;
        }
        layers.push({ kind: 'conv', kernel, bias: index(`${layer.name}/bias`), kernelSize: layer.kernelSize, inChannels, filters: layer.filters });
        break;
      }
      case 'maxPool':
        if (plan[i - 1]?.kind !== 'conv') return undefined;
        layers.push({ kind: 'maxPool' });
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
  }
  return { layers, specs, shape: model.input.shape, classes: model.input.classes, padsInput };
}

const compiled = new Map<string, Compiled | undefined>();

function plan(model: ModelName | ModelSpec): Compiled | undefined {
  const spec = toModelSpec(model);
  if (!compiled.has(spec.key)) compiled.set(spec.key, compile(spec));
  return compiled.get(spec.key);
}

export interface FusedBatchResult {
  /** mean softmax cross-entropy over the batch */
  readonly loss: number;
  /** mean loss the step descended: `loss`, or the adjusted cross-entropy with a logit adjustment */
  readonly objectiveLoss: number;
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
  /** a label-skew local objective's per-class transform of the logits in the loss (see softmax-loss.ts) */
  readonly logitAdjustment?: LogitAdjustment;
  /**
   * Who runs the convolutions and matrix products: 'auto' (default) our relaxed-SIMD FMA kernels (simd/conv.wat)
   * where the runtime has relaxed SIMD and the CPU a fused multiply-add, else XNNPACK through tfjs; 'fma',
   * 'mul-add' (our kernels built without FMA) and 'xnnpack' force one, for tests and benchmarks.
   */
  readonly kernels?: ConvolutionKernels;
  /** when given, the time spent in each phase of the step is added up here (bench/profile-step.ts) */
  readonly profile?: StepProfile;
}

export interface StepProfile {
  /** milliseconds by phase */
  readonly phases: Map<string, number>;
  /** milliseconds, e.g. performance.now() or this process's CPU time */
  readonly clock: () => number;
}

export type ConvolutionKernels = 'auto' | 'xnnpack' | MaddBuild;

/** Which kernels 'auto' picks on this runtime: ours with FMA where relaxed SIMD gives a real one, XNNPACK elsewhere. */
export function autoConvolutionKernels(): 'fma' | 'xnnpack' {
  const support = relaxedSimdSupport();
  return support.fused && (support.status === 'built in' || support.status === 'flag') ? 'fma' : 'xnnpack';
}

/**
 * A model's weights on the wasm heap plus its optimizer state, trained one mini-batch at a time. Conv weights are
 * replaced (not overwritten) after each step: the wasm backend caches XNNPACK operators with their packed weights
 * by tensor id, so writing them in place would leave stale packed copies behind. Dense weights never reach an
 * operator cache here (they are always the unpacked operand, see forward) and are updated in place.
 */
export class FusedTrainer {
  private readonly heap: Heap;
  private readonly kernels: SimdKernels;
  private readonly layers: readonly Layer[];
  private readonly specs: Compiled['specs'];
  private readonly compiled: Compiled;
  private params: TensorInfo[];
  /** SGD momentum buffers, on the heap for our SIMD update (none for plain SGD) */
  private momentumBuffers: TensorInfo[];
  /** Adam's moments, in JavaScript */
  private readonly firstMoment: Float32Array[];
  private readonly secondMoment: Float32Array[];
  private adamPower1 = ADAM_BETA1;
  private adamPower2 = ADAM_BETA2;
  /** conv kernels and biases: XNNPACK keeps packed copies of them by tensor id, so they must be replaced, not overwritten */
  private readonly packedByXnnpack: readonly boolean[];
  private readonly anchor: readonly Float32Array[];
  private readonly correction: readonly Float32Array[];
  private disposed = false;
  /** our kernels' passes, when they run the convolutions (see FusedStepOptions.kernels) */
  private readonly fma?: FmaPasses;
  /** who runs the convolutions and matrix products */
  readonly kernelsUsed: 'xnnpack' | MaddBuild;

  constructor(
    model: ModelName | ModelSpec,
    weights: ModelWeights,
    private readonly options: FusedStepOptions,
  ) {
    const backend = tf.backend();
    if (!(backend instanceof BackendWasm)) throw new Error('the fused training step needs the wasm backend to be active');
    const kernels = simdKernels(backend);
    if (!kernels) throw new Error('the fused training step needs wasm SIMD and access to the tfjs wasm memory');
    this.kernels = kernels;
    this.heap = new Heap(backend);
    const compiledModel = plan(model);
    if (!compiledModel) throw new Error(`the fused training step does not cover model ${toModelSpec(model).key}`);
    this.compiled = compiledModel;
    ({ layers: this.layers, specs: this.specs } = compiledModel);
    const wanted = options.kernels ?? 'auto';
    const build = wanted === 'auto' ? autoConvolutionKernels() : wanted;
    if (build !== 'xnnpack' && fmaPassesCover(this.layers)) {
      const conv = convKernels(backend, build);
      if (!conv && wanted !== 'auto') throw new Error(`the ${build} build of our convolution kernels cannot run here (no relaxed SIMD?)`);
      if (conv) this.fma = new FmaPasses(this.heap, conv, this.layers, (phase, run) => this.time(phase, run));
    } else if (build !== 'xnnpack' && wanted !== 'auto') {
      throw new Error(`our convolution kernels do not cover ${model}: every conv's channels must come in blocks of 8`);
    }
    this.kernelsUsed = this.fma ? build : 'xnnpack';
    const packed = new Set(this.layers.flatMap((layer) => (layer.kind === 'conv' ? [layer.kernel, layer.bias] : [])));
    this.packedByXnnpack = this.specs.map((_, i) => packed.has(i));
    const ordered = (what: string, given: ModelWeights) => this.inSpecOrder(given, what);
    const initial = ordered('weights', weights);
    this.anchor = (options.proximalMu ?? 0) > 0 ? ordered('anchor', options.anchor ?? weights) : [];
    this.correction = options.correction ? ordered('objective.gradientCorrection', options.correction) : [];
    const sizes = this.specs.map((spec) => spec.shape.reduce((a, b) => a * b, 1));
    const { optimizer, momentum } = options.local;
    this.firstMoment = optimizer === 'adam' ? sizes.map((size) => new Float32Array(size)) : [];
    this.secondMoment = optimizer === 'adam' ? sizes.map((size) => new Float32Array(size)) : [];
    this.momentumBuffers =
      optimizer === 'sgd' && momentum > 0
        ? this.specs.map((spec) => {
            const info = this.heap.alloc(spec.shape);
            this.heap.view(info).fill(0);
            return info;
          })
        : [];
    this.params = this.specs.map((spec, i) => {
      const info = this.heap.alloc(spec.shape);
      this.heap.view(info).set(initial[i]!);
      return info;
    });
  }

  /** When profiling: adds the time since `since` to `phase` and returns the clock now (for phases timed in a row). */
  private lap(phase: string, since: number | undefined): number | undefined {
    const profile = this.options.profile;
    if (!profile || since === undefined) return undefined;
    const now = profile.clock();
    profile.phases.set(phase, (profile.phases.get(phase) ?? 0) + now - since);
    return now;
  }

  /** Runs `run`, adding its milliseconds to the profile's `phase` when profiling. */
  private time<T>(phase: string, run: () => T): T {
    const profile = this.options.profile;
    if (!profile) return run();
    const started = profile.clock();
    try {
      return run();
    } finally {
      profile.phases.set(phase, (profile.phases.get(phase) ?? 0) + profile.clock() - started);
    }
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
    this.fma?.dispose();
    this.heap.free(...this.params, ...this.momentumBuffers);
    this.params = [];
    this.momentumBuffers = [];
  }

  /**
   * Loss and gradients of one batch without a step (for tests and gradient checks); `images` are
   * [n, height, width, channels] floats. The caller owns nothing: gradients are copied off the heap.
   */
  gradients(images: Float32Array, labels: Uint8Array): FusedBatchResult & { gradients: ModelWeights } {
    const count = labels.length;
    const pixels = this.compiled.shape.reduce((a, b) => a * b, 1);
    if (images.length !== count * pixels) throw new Error(`expected ${count} images of ${pixels} values, got ${images.length} values`);
    const { input, inputPadded } = this.uploadBatch(count, (pixels) => pixels.set(images));
    const { loss, objectiveLoss, correct, grads } = this.forwardBackward(input, inputPadded, labels);
    try {
      return {
        loss,
        objectiveLoss,
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
    const { labels, input, inputPadded } = this.time('batch upload', () => this.uploadRows(dataset, rows, start, end));
    const { loss, objectiveLoss, correct, grads } = this.forwardBackward(input, inputPadded, labels);
    try {
      if (Number.isFinite(loss) && Number.isFinite(objectiveLoss)) this.time('optimizer update', () => this.applyGradients(grads));
    } finally {
      this.heap.free(...grads);
    }
    return { loss, objectiveLoss, correct };
  }

  /**
   * The logits [end − start, 10] of samples start..end − 1 of the dataset under the current weights, and their
   * labels: the forward pass alone, for evaluation.
   */
  logits(dataset: Dataset, start: number, end: number): { logits: Float32Array; labels: Uint8Array } {
    if (this.disposed) throw new Error('this trainer was disposed');
    const rows = Uint32Array.from({ length: end - start }, (_, i) => start + i);
    const { labels, input, inputPadded } = this.uploadRows(dataset, rows, 0, rows.length);
    const owned: TensorInfo[] = [input];
    if (inputPadded) owned.push(inputPadded);
    try {
      let x = input;
      if (this.fma) x = this.fma.forward(this.params, input, inputPadded, owned, []);
      else for (const layer of this.layers) x = this.forward(layer, x, owned).output;
      return { logits: new Float32Array(this.heap.view(x)), labels };
    } finally {
      this.heap.free(...owned);
    }
  }

  /** Rows `rows[start..end)` of the dataset on the heap (see uploadBatch), with their labels. */
  private uploadRows(dataset: Dataset, rows: ArrayLike<number>, start: number, end: number): { labels: Uint8Array; input: TensorInfo; inputPadded?: TensorInfo } {
    const count = end - start;
    const labels = new Uint8Array(count);
    const { classes } = this.compiled;
    for (let row = 0; row < count; row++) {
      const sample = rows[start + row]!;
      const label = dataset.labels[sample]!;
      if (label >= classes) throw new Error(`sample ${sample} has label ${label}, expected 0–${classes - 1}`);
      labels[row] = label;
    }
    const batch = this.uploadBatch(count, (pixels) => writeModelInput(dataset, rows, start, end, pixels));
    return { labels, ...batch };
  }

  /**
   * The batch as [n, height, width, channels] and, when the first layer is a conv on grey images, also zero-padded by
   * its kernel ([n, height + k − 1, width + k − 1]), the layout our SIMD kernel reads for that conv's filter gradient.
   */
  private uploadBatch(count: number, fill: (pixels: Float32Array) => void): { input: TensorInfo; inputPadded?: TensorInfo } {
    const first = this.layers[0];
    const k = first?.kind === 'conv' && this.compiled.padsInput ? first.kernelSize : 0;
    const [rows, cols, channels] = this.compiled.shape;
    const input = this.heap.alloc([count, rows, cols, channels]);
    const padded = k ? this.heap.alloc([count, rows + k - 1, cols + k - 1]) : undefined;
    const pixels = this.heap.view(input);
    fill(pixels);
    if (!padded) return { input };
    writePadded(pixels, count, k, this.heap.view(padded), rows, cols);
    return { input, inputPadded: padded };
  }

  /** Takes ownership of the inputs. Returns gradients in spec order, owned by the caller. */
  private forwardBackward(
    input: TensorInfo,
    inputPadded: TensorInfo | undefined,
    labels: Uint8Array,
  ): FusedBatchResult & { grads: TensorInfo[] } {
    if (this.disposed) throw new Error('this trainer was disposed');
    if (this.fma) return this.fmaForwardBackward(this.fma, input, inputPadded, labels);
    const owned: TensorInfo[] = [input];
    if (inputPadded) owned.push(inputPadded);
    const saved: Saved[] = [];
    const grads: (TensorInfo | undefined)[] = this.specs.map(() => undefined);
    try {
      let x = input;
      for (const [index, layer] of this.layers.entries()) {
        const entry = this.time(`${layer.kind} ${index} forward`, () => this.forward(layer, x, owned));
        saved.push(entry);
        x = entry.output;
      }
      const batch = labels.length;
      const dLogits = this.heap.alloc([batch, this.compiled.classes]);
      owned.push(dLogits);
      const { loss, objectiveLoss, correct } = this.time('softmax cross-entropy', () =>
        softmaxCrossEntropy(this.heap.view(x), labels, this.heap.view(dLogits), this.compiled.classes, this.options.logitAdjustment),
      );

      let dy: TensorInfo | undefined = dLogits;
      for (let i = this.layers.length - 1; i >= 0 && dy; i--) {
        const layer = this.layers[i]!;
        if (layer.kind === 'maxPool') {
          // compile() guarantees a conv right below: both go back in one pass.
          const conv = this.layers[i - 1] as ConvLayer;
          const padded = i - 1 === 0 ? inputPadded : undefined;
          dy = this.poolConvBackward(i - 1, conv, saved[i - 1]!, saved[i]!, dy, padded, this.firstWeighted(i - 1), grads, owned);
          i--;
        } else {
          const above: TensorInfo = dy;
          dy = this.time(`${layer.kind} ${i} backward`, () => this.backward(layer, saved[i]!, above, this.firstWeighted(i), grads, owned));
        }
      }
      const complete = grads.map((grad, i) => {
        if (!grad) throw new Error(`no gradient for ${this.specs[i]!.name}`);
        return grad;
      });
      return { loss, objectiveLoss, correct, grads: complete };
    } catch (error) {
      this.heap.free(...grads);
      throw error;
    } finally {
      this.heap.free(...owned);
    }
  }

  /** forwardBackward on our kernels (fused-fma.ts). */
  private fmaForwardBackward(
    fma: FmaPasses,
    input: TensorInfo,
    inputPadded: TensorInfo | undefined,
    labels: Uint8Array,
  ): FusedBatchResult & { grads: TensorInfo[] } {
    const owned: TensorInfo[] = [input];
    if (inputPadded) owned.push(inputPadded);
    const grads: (TensorInfo | undefined)[] = this.specs.map(() => undefined);
    try {
      const saved: FmaSaved[] = [];
      const logits = fma.forward(this.params, input, inputPadded, owned, saved);
      const { classes } = this.compiled;
      const dLogits = this.heap.alloc([labels.length, classes]);
      owned.push(dLogits);
      const { loss, objectiveLoss, correct } = this.time('softmax cross-entropy', () =>
        softmaxCrossEntropy(this.heap.view(logits), labels, this.heap.view(dLogits), classes, this.options.logitAdjustment),
      );
      fma.backward(this.params, saved, dLogits, labels.length, grads, owned);
      const complete = grads.map((grad, i) => {
        if (!grad) throw new Error(`no gradient for ${this.specs[i]!.name}`);
        return grad;
      });
      return { loss, objectiveLoss, correct, grads: complete };
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
        const inputT = heap.transpose(x, [1, 0]);
        owned.push(inputT);
        const kernelT = heap.transpose(this.params[layer.kernel]!, [1, 0]);
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

  /** Dense and flatten layers. Returns the gradient for the layer's input (owned), or undefined when unneeded. */
  private backward(
    layer: DenseLayer | FlattenLayer | ConvLayer,
    saved: Saved,
    dy: TensorInfo,
    isFirst: boolean,
    grads: (TensorInfo | undefined)[],
    owned: TensorInfo[],
  ): TensorInfo | undefined {
    const heap = this.heap;
    if (layer.kind === 'flatten') return heap.alias(dy, saved.input.shape);
    if (layer.kind === 'conv') throw new Error('a conv without its max-pool reached the fused backward pass');
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
    const dx = heap.transpose(dxT, [1, 0]);
    owned.push(dx);
    return dx;
  }

  /**
   * Back through max-pool, relu and conv in one go. The pool's gradient is routed straight into the conv's
   * pre-activation gradient dz, written in the layouts the kernels below want, with the bias gradient summed on
   * the way. The filter gradient of the first layer (one grey channel) is our SIMD kernel over the padded images
   * (simd/kernels.wat); for the others it is one valid correlation with dz as a batch of O images [O, H, W, N]
   * and the input as the filter [H, W, N, C]: this way round XNNPACK packs the smaller operand and runs ~1.3–1.6×
   * faster than with dz as the filter. The input gradient is a 'full' correlation of dz with the rotated kernel.
   */
  private poolConvBackward(
    index: number,
    conv: ConvLayer,
    convSaved: Saved,
    poolSaved: Saved,
    dy: TensorInfo,
    inputPadded: TensorInfo | undefined,
    isFirst: boolean,
    grads: (TensorInfo | undefined)[],
    owned: TensorInfo[],
  ): TensorInfo | undefined {
    const heap = this.heap;
    const [batch = 0, height = 0, width = 0] = convSaved.output.shape;
    const { kernelSize: k, inChannels, filters } = conv;
    // 'same' padding at stride 1, as tfjs computes it: the extra row/column goes at the bottom/right.
    const padBefore = Math.floor((k - 1) / 2);
    const padAfter = k - 1 - padBefore;

    // dz [N, H, W, O] for the input gradient and the SIMD filter gradient; [O, H, W, N] as images for the conv one.
    const dz = inputPadded || !isFirst ? heap.alloc([batch, height, width, filters]) : undefined;
    if (dz) owned.push(dz);
    const dzImages = inputPadded ? undefined : heap.alloc([filters, height, width, batch]);
    if (dzImages) owned.push(dzImages);
    const biasGrad = heap.alloc([filters]);
    grads[conv.bias] = biasGrad;
    const { kernels } = this;
    let clock = this.options.profile?.clock();
    kernels.maxPoolReluBackward(
      kernels.offset(convSaved.output),
      kernels.offset(poolSaved.output),
      kernels.offset(dy),
      dz ? kernels.offset(dz) : 0,
      dzImages ? kernels.offset(dzImages) : 0,
      kernels.offset(biasGrad),
      batch,
      height,
      width,
      filters,
    );
    clock = this.lap(`maxPool ${index + 1} + relu backward`, clock);

    if (inputPadded && dz) {
      const kernelGrad = heap.alloc([k, k, inChannels, filters]);
      grads[conv.kernel] = kernelGrad;
      kernels.conv1FilterGrad(kernels.offset(inputPadded), kernels.offset(dz), kernels.offset(kernelGrad), batch, height, width, filters, k);
    } else if (dzImages) {
      const inputAsFilter = heap.transpose(convSaved.input, [1, 2, 0, 3]);
      owned.push(inputAsFilter);
      const correlation = heap.run('Conv2D', { x: dzImages, filter: inputAsFilter }, convAttrs(padAfter, padBefore));
      owned.push(correlation);
      // correlation[o, a, b, c] = dW[k−1−a, k−1−b, c, o]
      const kernelGrad = heap.alloc([k, k, inChannels, filters]);
      grads[conv.kernel] = kernelGrad;
      const from = heap.view(correlation);
      const to = heap.view(kernelGrad);
      for (let o = 0; o < filters; o++) {
        for (let tap = 0; tap < k * k; tap++) {
          const source = (o * k * k + (k * k - 1 - tap)) * inChannels;
          for (let c = 0; c < inChannels; c++) to[(tap * inChannels + c) * filters + o] = from[source + c]!;
        }
      }
    }
    clock = this.lap(`conv ${index} filter gradient`, clock);
    if (isFirst || !dz) return undefined;

    // dx = dz ⋆ rot180(W) with in/out channels swapped: [k, k, O, C].
    const rotated = heap.alloc([k, k, filters, inChannels]);
    owned.push(rotated);
    {
      const w = heap.view(this.params[conv.kernel]!);
      const r = heap.view(rotated);
      for (let tap = 0; tap < k * k; tap++) {
        const source = (k * k - 1 - tap) * inChannels * filters;
        const target = tap * filters * inChannels;
        for (let c = 0; c < inChannels; c++) {
          for (let o = 0; o < filters; o++) r[target + o * inChannels + c] = w[source + c * filters + o]!;
        }
      }
    }
    const dx = heap.run('Conv2D', { x: dz, filter: rotated }, convAttrs(padAfter, padBefore));
    owned.push(dx);
    this.lap(`conv ${index} input gradient`, clock);
    return dx;
  }

  private applyGradients(grads: readonly TensorInfo[]): void {
    const { learningRate: lr, optimizer, momentum } = this.options.local;
    const mu = this.options.proximalMu ?? 0;
    const adam = optimizer === 'adam';
    const biasCorrection1 = 1 - this.adamPower1;
    const biasCorrection2 = 1 - this.adamPower2;
    this.params = this.params.map((param, i) => {
      // Allocate before taking views: growing the heap detaches them.
      const next = this.packedByXnnpack[i] ? this.heap.alloc(this.specs[i]!.shape) : param;
      const w = this.heap.view(param);
      const g = this.heap.view(grads[i]!);
      const out = this.heap.view(next);
      const size = w.length;
      // The gradient is ours to change: fold the strategy's terms in first, then the optimizer's update.
      const anchor = this.anchor[i];
      if (anchor) for (let k = 0; k < size; k++) g[k] = g[k]! + mu * (w[k]! - anchor[k]!);
      const correction = this.correction[i];
      if (correction) for (let k = 0; k < size; k++) g[k] = g[k]! + correction[k]!;
      const v = this.firstMoment[i];
      const s = this.secondMoment[i];
      if (adam && v && s) {
        for (let k = 0; k < size; k++) {
          const gradient = g[k]!;
          const m1 = (v[k] = ADAM_BETA1 * v[k]! + (1 - ADAM_BETA1) * gradient);
          const m2 = (s[k] = ADAM_BETA2 * s[k]! + (1 - ADAM_BETA2) * gradient * gradient);
          out[k] = w[k]! - (lr * (m1 / biasCorrection1)) / (Math.sqrt(m2 / biasCorrection2) + ADAM_EPSILON);
        }
      } else {
        // Plain SGD is momentum 0 with the gradient as its own (overwritten) velocity.
        const { kernels } = this;
        const velocity = this.momentumBuffers[i] ?? grads[i]!;
        kernels.sgdMomentum(kernels.offset(param), kernels.offset(grads[i]!), kernels.offset(velocity), kernels.offset(next), size, lr, this.momentumBuffers[i] ? momentum : 0);
      }
      if (next !== param) this.heap.free(param);
      return next;
    });
    if (adam) {
      this.adamPower1 *= ADAM_BETA1;
      this.adamPower2 *= ADAM_BETA2;
    }
  }
}

/** Stride-1 conv attributes with explicit padding: `before` rows/columns at the top/left, `after` at the bottom/right. */
function convAttrs(before: number, after: number): tf.NamedAttrMap {
  return {
    strides: [1, 1],
    pad: [
      [0, 0],
      [before, after],
      [before, after],
      [0, 0],
    ],
    dilations: [1, 1],
    dataFormat: 'NHWC',
  };
}

/** The grey images zero-padded for a k×k 'same' kernel: [n, rows + k − 1, cols + k − 1], the top/left pad first. */
function writePadded(pixels: Float32Array, count: number, k: number, padded: Float32Array, rows: number, cols: number): void {
  const pad = Math.floor((k - 1) / 2);
  const paddedCols = cols + k - 1;
  const paddedPlane = (rows + k - 1) * paddedCols;
  padded.fill(0);
  for (let n = 0; n < count; n++) {
    for (let i = 0; i < rows; i++) {
      const from = n * rows * cols + i * cols;
      padded.set(pixels.subarray(from, from + cols), n * paddedPlane + (i + pad) * paddedCols + pad);
    }
  }
}
