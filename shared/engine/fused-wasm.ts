import * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '@tensorflow/tfjs';
import { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { LocalTrainingConfig, ModelName } from '../config/schema.js';
import type { Dataset } from '../data/types.js';
import { toModelSpec, type ModelSpec } from '../models/index.js';
import { FmaPasses, fmaPassesCover, type FmaSaved } from './fused-fma.js';
import { Heap } from './fused-heap.js';
import { FusedOptimizer } from './fused-optimizer.js';
import { layerPlan, valuesInSpecOrder, type Layer, type LayerPlan } from './fused-plan.js';
import { timePhase, type StepProfile } from './fused-profile.js';
import { uploadBatch, uploadRows } from './fused-upload.js';
import { XnnpackPasses, type XnnpackSaved } from './fused-xnnpack.js';
import { convKernels, relaxedSimdSupport, type MaddBuild } from './simd/conv.js';
import { simdKernels } from './simd/index.js';
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

/** Whether the fused step can train `model` now: it needs the wasm backend active and an architecture it covers. */
export function fusedStepAvailable(model: ModelName | ModelSpec): boolean {
  const backend = tf.getBackend() === 'wasm' ? tf.backend() : undefined;
  return backend instanceof BackendWasm && simdKernels(backend) !== undefined && layerPlan(model) !== undefined;
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
 * operator cache here (they are always the unpacked operand, see XnnpackPasses.forwardLayer) and are updated in place.
 */
export class FusedTrainer {
  private readonly heap: Heap;
  private readonly layers: readonly Layer[];
  private readonly specs: LayerPlan['specs'];
  private readonly plan: LayerPlan;
  private params: TensorInfo[];
  private readonly optimizer: FusedOptimizer;
  private disposed = false;
  /** our kernels' passes, when they run the convolutions (see FusedStepOptions.kernels) */
  private readonly fma?: FmaPasses;
  /** XNNPACK's passes, for when `fma` is not there */
  private readonly xnnpack: XnnpackPasses;
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
    this.heap = new Heap(backend);
    const plan = layerPlan(model);
    if (!plan) throw new Error(`the fused training step does not cover model ${toModelSpec(model).key}`);
    this.plan = plan;
    ({ layers: this.layers, specs: this.specs } = plan);
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
    this.xnnpack = new XnnpackPasses(this.heap, kernels, this.layers, options.profile);
    const initial = valuesInSpecOrder(this.specs, weights, 'weights');
    this.optimizer = new FusedOptimizer(this.heap, kernels, plan, options, weights);
    this.params = this.specs.map((spec, i) => {
      const info = this.heap.alloc(spec.shape);
      this.heap.view(info).set(initial[i]!);
      return info;
    });
  }

  /** Runs `run`, adding its milliseconds to the profile's `phase` when profiling. */
  private time<T>(phase: string, run: () => T): T {
    return timePhase(this.options.profile, phase, run);
  }

  /** The current weights, copied off the heap, in the model's order. */
  weights(): ModelWeights {
    return this.specs.map((spec, i) => ({ name: spec.name, shape: [...spec.shape], values: new Float32Array(this.heap.view(this.params[i]!)) }));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.fma?.dispose();
    this.heap.free(...this.params);
    this.optimizer.dispose();
    this.params = [];
  }

  /**
   * Loss and gradients of one batch without a step (for tests and gradient checks); `images` are
   * [n, height, width, channels] floats. The caller owns nothing: gradients are copied off the heap.
   */
  gradients(images: Float32Array, labels: Uint8Array): FusedBatchResult & { gradients: ModelWeights } {
    const count = labels.length;
    const pixels = this.plan.shape.reduce((a, b) => a * b, 1);
    if (images.length !== count * pixels) throw new Error(`expected ${count} images of ${pixels} values, got ${images.length} values`);
    const { input, inputPadded } = uploadBatch(this.heap, this.plan, count, (heapInput) => heapInput.set(images));
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
    const { labels, input, inputPadded } = this.time('batch upload', () => uploadRows(this.heap, this.plan, dataset, rows, start, end));
    const { loss, objectiveLoss, correct, grads } = this.forwardBackward(input, inputPadded, labels);
    try {
      if (Number.isFinite(loss) && Number.isFinite(objectiveLoss)) {
        this.time('optimizer update', () => {
          this.params = this.optimizer.applyGradients(this.params, grads);
        });
      }
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
    const { labels, input, inputPadded } = uploadRows(this.heap, this.plan, dataset, rows, 0, rows.length);
    const owned: TensorInfo[] = [input];
    if (inputPadded) owned.push(inputPadded);
    try {
      const x = this.fma ? this.fma.forward(this.params, input, inputPadded, owned, []) : this.xnnpack.logits(this.params, input, owned);
      return { logits: new Float32Array(this.heap.view(x)), labels };
    } finally {
      this.heap.free(...owned);
    }
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
    const saved: XnnpackSaved[] = [];
    const grads: (TensorInfo | undefined)[] = this.specs.map(() => undefined);
    try {
      const x = this.xnnpack.forward(this.params, input, owned, saved);
      const batch = labels.length;
      const dLogits = this.heap.alloc([batch, this.plan.classes]);
      owned.push(dLogits);
      const { loss, objectiveLoss, correct } = this.time('softmax cross-entropy', () =>
        softmaxCrossEntropy(this.heap.view(x), labels, this.heap.view(dLogits), this.plan.classes, this.options.logitAdjustment),
      );
      this.xnnpack.backward(this.params, saved, dLogits, inputPadded, grads, owned);
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
      const { classes } = this.plan;
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
}
