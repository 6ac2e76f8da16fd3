import type * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '@tensorflow/tfjs';
import type { Heap } from './fused-heap.js';
import type { ConvLayer, DenseLayer, FlattenLayer, Layer } from './fused-plan.js';
import { lapPhase, timePhase, type StepProfile } from './fused-profile.js';
import type { SimdKernels } from './simd/index.js';

/**
 * The fused step's forward and backward passes with XNNPACK (tfjs's wasm kernels) running the convolutions and
 * matrix products: where our kernels (fused-fma.ts) cannot run or do not cover the model, or when a test or benchmark
 * asks for XNNPACK (FusedStepOptions.kernels).
 */

/** What a layer's backward pass needs from its forward pass. Owned tensors are freed after the step. */
export interface XnnpackSaved {
  input: TensorInfo;
  output: TensorInfo;
  /** dense: the input transposed to [inputs, batch] */
  inputT?: TensorInfo;
}

export class XnnpackPasses {
  constructor(
    private readonly heap: Heap,
    private readonly kernels: SimdKernels,
    private readonly layers: readonly Layer[],
    private readonly profile: StepProfile | undefined,
  ) {}

  /** The forward pass alone, for evaluation: nothing timed, nothing kept for a backward pass. Returns the logits. */
  logits(params: readonly TensorInfo[], input: TensorInfo, owned: TensorInfo[]): TensorInfo {
    let x = input;
    for (const layer of this.layers) x = this.forwardLayer(layer, params, x, owned).output;
    return x;
  }

  /** The forward pass of a training step, layer by layer timed. Returns the logits; `saved` gets what backward needs. */
  forward(params: readonly TensorInfo[], input: TensorInfo, owned: TensorInfo[], saved: XnnpackSaved[]): TensorInfo {
    let x = input;
    for (const [index, layer] of this.layers.entries()) {
      const entry = timePhase(this.profile, `${layer.kind} ${index} forward`, () => this.forwardLayer(layer, params, x, owned));
      saved.push(entry);
      x = entry.output;
    }
    return x;
  }

  /** From the logits' gradient down: `grads` gets every weight's gradient (owned by the caller), in spec order. */
  backward(
    params: readonly TensorInfo[],
    saved: readonly XnnpackSaved[],
    dLogits: TensorInfo,
    inputPadded: TensorInfo | undefined,
    grads: (TensorInfo | undefined)[],
    owned: TensorInfo[],
  ): void {
    let dy: TensorInfo | undefined = dLogits;
    for (let i = this.layers.length - 1; i >= 0 && dy; i--) {
      const layer = this.layers[i]!;
      if (layer.kind === 'maxPool') {
        // compile() guarantees a conv right below: both go back in one pass.
        const conv = this.layers[i - 1] as ConvLayer;
        const padded = i - 1 === 0 ? inputPadded : undefined;
        dy = this.poolConvBackward(i - 1, conv, params, saved[i - 1]!, saved[i]!, dy, padded, this.firstWeighted(i - 1), grads, owned);
        i--;
      } else {
        const above: TensorInfo = dy;
        dy = timePhase(this.profile, `${layer.kind} ${i} backward`, () =>
          this.denseOrFlattenBackward(layer, params, saved[i]!, above, this.firstWeighted(i), grads, owned),
        );
      }
    }
  }

  /** No layer below `index` has weights, so the gradient need not travel further down. */
  private firstWeighted(index: number): boolean {
    return this.layers.slice(0, index).every((layer) => layer.kind !== 'conv' && layer.kind !== 'dense');
  }

  private forwardLayer(layer: Layer, params: readonly TensorInfo[], x: TensorInfo, owned: TensorInfo[]): XnnpackSaved {
    const heap = this.heap;
    switch (layer.kind) {
      case 'conv': {
        const output = heap.run(
          'FusedConv2D',
          { x, filter: params[layer.kernel]!, bias: params[layer.bias]! },
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
        const kernelT = heap.transpose(params[layer.kernel]!, [1, 0]);
        const outputT = heap.run('BatchMatMul', { a: kernelT, b: inputT }, { transposeA: false, transposeB: false });
        heap.free(kernelT);
        const output = heap.alloc([batch, layer.units]);
        owned.push(output);
        const yT = heap.view(outputT);
        const y = heap.view(output);
        const bias = heap.view(params[layer.bias]!);
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
  private denseOrFlattenBackward(
    layer: DenseLayer | FlattenLayer | ConvLayer,
    params: readonly TensorInfo[],
    saved: XnnpackSaved,
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
    // dxᵀ = W·dzᵀ keeps the small operand on the right (see forwardLayer).
    const dxT = heap.run('BatchMatMul', { a: params[layer.kernel]!, b: dzT }, { transposeA: false, transposeB: false });
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
    params: readonly TensorInfo[],
    convSaved: XnnpackSaved,
    poolSaved: XnnpackSaved,
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
    let clock = this.profile?.clock();
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
    clock = lapPhase(this.profile, `maxPool ${index + 1} + relu backward`, clock);

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
    clock = lapPhase(this.profile, `conv ${index} filter gradient`, clock);
    if (isFirst || !dz) return undefined;

    // dx = dz ⋆ rot180(W) with in/out channels swapped: [k, k, O, C].
    const rotated = heap.alloc([k, k, filters, inChannels]);
    owned.push(rotated);
    {
      const w = heap.view(params[conv.kernel]!);
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
    lapPhase(this.profile, `conv ${index} input gradient`, clock);
    return dx;
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
