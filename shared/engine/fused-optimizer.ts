import type { TensorInfo } from '@tensorflow/tfjs';
import type { LocalTrainingConfig } from '../config/schema.js';
import type { ModelWeights } from '../weights/types.js';
import type { Heap } from './fused-heap.js';
import { valuesInSpecOrder, type LayerPlan } from './fused-plan.js';
import type { SimdKernels } from './simd/index.js';

/** tfjs's Adam epsilon for float32 (ENGINE.backend.epsilon()), so both paths take the same steps. */
const ADAM_EPSILON = 1e-7;
const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;

/** The fields of FusedStepOptions the update reads (documented there). */
export interface UpdateOptions {
  readonly local: LocalTrainingConfig;
  readonly proximalMu?: number;
  readonly anchor?: ModelWeights;
  readonly correction?: ModelWeights;
}

/** The fused step's weight update and the optimizer's state: the same whoever runs the passes (FMA or XNNPACK). */
export class FusedOptimizer {
  private readonly specs: LayerPlan['specs'];
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

  /** `weights` are the trainer's initial weights: FedProx's anchor when the options give none. */
  constructor(
    private readonly heap: Heap,
    private readonly kernels: SimdKernels,
    plan: LayerPlan,
    private readonly options: UpdateOptions,
    weights: ModelWeights,
  ) {
    this.specs = plan.specs;
    const packed = new Set(plan.layers.flatMap((layer) => (layer.kind === 'conv' ? [layer.kernel, layer.bias] : [])));
    this.packedByXnnpack = this.specs.map((_, i) => packed.has(i));
    this.anchor = (options.proximalMu ?? 0) > 0 ? valuesInSpecOrder(this.specs, options.anchor ?? weights, 'anchor') : [];
    this.correction = options.correction ? valuesInSpecOrder(this.specs, options.correction, 'objective.gradientCorrection') : [];
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
  }

  dispose(): void {
    this.heap.free(...this.momentumBuffers);
    this.momentumBuffers = [];
  }

  /**
   * Returns the weights after the step: conv kernels and biases in new tensors (their old ones freed), the others
   * updated in place. The gradients are changed (the strategy's terms folded in) but stay the caller's.
   */
  applyGradients(params: readonly TensorInfo[], grads: readonly TensorInfo[]): TensorInfo[] {
    const { learningRate: lr, optimizer, momentum } = this.options.local;
    const mu = this.options.proximalMu ?? 0;
    const adam = optimizer === 'adam';
    const biasCorrection1 = 1 - this.adamPower1;
    const biasCorrection2 = 1 - this.adamPower2;
    const updated = params.map((param, i) => {
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
    return updated;
  }
}
