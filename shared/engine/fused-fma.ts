import type { TensorInfo } from '@tensorflow/tfjs';
import type { Heap } from './fused-heap.js';
import type { ConvLayer, DenseLayer, Layer } from './fused-plan.js';
import { CONV_CHANNEL_BLOCK, type ConvKernels } from './simd/conv.js';

/**
 * The fused step's forward and backward passes on our own kernels (simd/conv.wat: relaxed-SIMD FMA where the
 * runtime has it) instead of XNNPACK's. Same maths and the same results as fused-xnnpack.ts's passes (checked against
 * tfjs autograd on the cpu backend in test/engine-fused.test.ts), in layouts chosen for the kernels: every conv
 * reads its input already zero-padded (the max-pool before it writes into the padding's interior), the max-pool +
 * relu backward pass writes dz straight into the padded buffer the input-gradient conv reads, and a dense layer's
 * input gradient stays transposed ([inputs, batch]) because the layer below reads it with strides.
 */

const FLOAT = 4;
/** a filter row of a panel of 8 outputs, in bytes (simd/conv.wat's packPanels) */
const PANEL_ROW = CONV_CHANNEL_BLOCK * FLOAT;
/** A dense forward pass whose weights exceed this goes in slices (see denseForward). */
const DENSE_SLICE_BYTES = 512 * 1024;
const DENSE_SLICE_INPUTS = 256;
const DENSE_SLICE_UNITS = 64;

/** Images on the heap: `origin` is the byte offset of pixel (0, 0) of image 0, rows and images `row`/`image` bytes apart. */
interface Images {
  readonly info: TensorInfo;
  readonly origin: number;
  readonly row: number;
  readonly image: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

/** dy[n, f] at `info` + n·`sample` + f·`feature` floats: a transposed gradient is read as it is. */
interface Gradient {
  readonly info: TensorInfo;
  readonly sample: number;
  readonly feature: number;
}

/** What each layer's backward pass needs from the forward pass. */
export type FmaSaved =
  | { readonly kind: 'conv'; readonly input: Images; readonly output: Images }
  | { readonly kind: 'maxPool'; readonly output: Images }
  | { readonly kind: 'flatten' }
  | { readonly kind: 'dense'; readonly input: TensorInfo; readonly output: TensorInfo };

export type PhaseTimer = <T>(phase: string, run: () => T) => T;

/** Whether these passes cover the plan: every conv's channels (in, except the first's, and out) in blocks of 8. */
export function fmaPassesCover(layers: readonly Layer[]): boolean {
  return layers.every(
    (layer, i) =>
      layer.kind !== 'conv' || (layer.filters % CONV_CHANNEL_BLOCK === 0 && (i === 0 || layer.inChannels % CONV_CHANNEL_BLOCK === 0)),
  );
}

/** 'same' padding at stride 1 as tfjs computes it: the extra row/column of an even kernel goes at the bottom/right. */
function padBefore(kernelSize: number): number {
  return Math.floor((kernelSize - 1) / 2);
}

export class FmaPasses {
  /** zero-padded buffers kept from step to step (see padded) */
  private readonly buffers = new Map<string, Images>();

  constructor(
    private readonly heap: Heap,
    private readonly kernels: ConvKernels,
    private readonly layers: readonly Layer[],
    private readonly time: PhaseTimer,
  ) {}

  private offset(info: TensorInfo): number {
    return this.heap.offset(info);
  }

  /**
   * Images of `height`×`width`×`channels` with `pad` zero rows/columns before and `k − 1 − pad` after, kept from step
   * to step under `key` (and the batch size): no kernel writes outside the interior, and every interior value
   * a kernel does not write stays zero, so the buffer is zeroed once, not every step (clearing a fresh one was
   * ~5 % of a cnn-small step). Freed by dispose().
   */
  private padded(key: string, count: number, height: number, width: number, channels: number, k: number, pad: number): Images {
    const name = `${key} ×${count}`;
    const kept = this.buffers.get(name);
    if (kept) return kept;
    const rows = height + k - 1;
    const cols = width + k - 1;
    const info = this.heap.alloc([count, rows, cols, channels]);
    this.heap.view(info).fill(0);
    const row = cols * channels * FLOAT;
    const images = { info, origin: this.offset(info) + pad * row + pad * channels * FLOAT, row, image: rows * row, height, width, channels };
    this.buffers.set(name, images);
    return images;
  }

  /** Frees the buffers kept from step to step. */
  dispose(): void {
    this.heap.free(...[...this.buffers.values()].map((images) => images.info));
    this.buffers.clear();
  }

  private dense(info: TensorInfo, height: number, width: number, channels: number): Images {
    const row = width * channels * FLOAT;
    return { info, origin: this.offset(info), row, image: height * row, height, width, channels };
  }

  /**
   * The batch's logits. `input` is the batch [n, h, w, c]; `inputPadded`, when given, the same zero-padded for the
   * first conv ([n, h + k − 1, w + k − 1, c], pad before = ⌊(k − 1)/2⌋). Everything allocated goes to `owned`.
   */
  forward(params: readonly TensorInfo[], input: TensorInfo, inputPadded: TensorInfo | undefined, owned: TensorInfo[], saved: FmaSaved[]): TensorInfo {
    const [count = 0, height = 0, width = 0, channels = 1] = input.shape;
    const first = this.layers[0];
    let x: Images | TensorInfo = input;
    if (first?.kind === 'conv') {
      const pad = padBefore(first.kernelSize);
      if (inputPadded && channels === first.inChannels) {
        const row = (width + first.kernelSize - 1) * channels * FLOAT;
        const origin = this.offset(inputPadded) + pad * row + pad * channels * FLOAT;
        x = { info: inputPadded, origin, row, image: (height + first.kernelSize - 1) * row, height, width, channels };
      } else {
        x = this.padded('input', count, height, width, channels, first.kernelSize, pad);
        copyImages(this.heap.view(input), this.heap.view(x.info), x, this.offset(x.info), count);
      }
    }
    for (const [i, layer] of this.layers.entries()) {
      switch (layer.kind) {
        case 'conv': {
          const images = x as Images;
          const out = this.heap.alloc([count, images.height, images.width, layer.filters]);
          owned.push(out);
          const output = this.dense(out, images.height, images.width, layer.filters);
          const pad = padBefore(layer.kernelSize);
          const origin = images.origin - pad * images.row - pad * images.channels * FLOAT;
          const rows = layer.kernelSize * layer.kernelSize * images.channels;
          const panels = this.heap.alloc([rows * layer.filters]);
          owned.push(panels);
          this.time(`conv ${i} forward`, () => {
            this.kernels.packPanels(this.offset(params[layer.kernel]!), this.offset(panels), rows, layer.filters);
            this.kernels.conv2d(
              origin, images.row, images.image, this.offset(panels), PANEL_ROW, rows * PANEL_ROW, this.offset(params[layer.bias]!),
              output.origin, output.row, output.image, count, images.height, images.width, images.channels, layer.filters, layer.kernelSize, 1,
            );
          });
          saved.push({ kind: 'conv', input: images, output });
          x = output;
          break;
        }
        case 'maxPool': {
          const images = x as Images;
          const next = this.layers[i + 1];
          const height = images.height >> 1;
          const width = images.width >> 1;
          let output: Images;
          if (next?.kind === 'conv') output = this.padded(`pool ${i}`, count, height, width, images.channels, next.kernelSize, padBefore(next.kernelSize));
          else {
            const info = this.heap.alloc([count, height, width, images.channels]);
            owned.push(info);
            output = this.dense(info, height, width, images.channels);
          }
          this.time(`maxPool ${i} forward`, () =>
            this.kernels.maxPool2x2(images.origin, output.origin, output.row, output.image, count, images.height, images.width, images.channels),
          );
          saved.push({ kind: 'maxPool', output });
          x = output;
          break;
        }
        case 'flatten': {
          const info = 'info' in x ? (x as Images).info : x;
          x = this.heap.alias(info, [count, info.shape.slice(1).reduce((a, b) => a * b, 1)]);
          saved.push({ kind: 'flatten' });
          break;
        }
        case 'dense': {
          const inputInfo = x as TensorInfo;
          const output = this.heap.alloc([count, layer.units]);
          owned.push(output);
          this.time(`dense ${i} forward`, () => this.denseForward(layer, params, inputInfo, output, count));
          saved.push({ kind: 'dense', input: inputInfo, output });
          x = output;
          break;
        }
      }
    }
    if ('origin' in x) throw new Error('the fused forward pass must end in a dense layer (the logits)');
    return x;
  }

  /**
   * y = act(x·W + b). Every block of 4 rows sweeps all of W, so a W much bigger than the cache (cnn-mcmahan's dense1:
   * 6.4 MB) goes in slices of 256 inputs × 64 units (64 KB) that stay cached for the whole batch: without them this
   * product took 3× as long as XNNPACK's, with them it takes 0.6× (bench:profile, cnn-mcmahan, AMD EPYC).
   */
  private denseForward(layer: DenseLayer, params: readonly TensorInfo[], input: TensorInfo, output: TensorInfo, count: number): void {
    const { inputs, units } = layer;
    const x = this.offset(input);
    const w = this.offset(params[layer.kernel]!);
    const y = this.offset(output);
    const bias = this.offset(params[layer.bias]!);
    const relu = layer.relu ? 1 : 0;
    if (inputs * units * FLOAT <= DENSE_SLICE_BYTES || units % DENSE_SLICE_UNITS !== 0) {
      this.kernels.gemm(x, inputs * FLOAT, FLOAT, w, units * FLOAT, y, units * FLOAT, count, units, inputs, bias, relu, 0);
      return;
    }
    for (let from = 0; from < inputs; from += DENSE_SLICE_INPUTS) {
      const depth = Math.min(DENSE_SLICE_INPUTS, inputs - from);
      const last = from + depth === inputs;
      for (let unit = 0; unit < units; unit += DENSE_SLICE_UNITS) {
        this.kernels.gemm(
          x + from * FLOAT, inputs * FLOAT, FLOAT, w + (from * units + unit) * FLOAT, units * FLOAT, y + unit * FLOAT, units * FLOAT,
          count, DENSE_SLICE_UNITS, depth, bias + unit * FLOAT, last ? relu : 0, from > 0 ? 1 : 0,
        );
      }
    }
  }

  /**
   * Gradients of the mean loss whose gradient for the logits is `dLogits` [n, classes], in the order of `grads` (spec
   * order); every gradient is allocated here and owned by the caller, everything else goes to `owned`.
   */
  backward(params: readonly TensorInfo[], saved: readonly FmaSaved[], dLogits: TensorInfo, count: number, grads: (TensorInfo | undefined)[], owned: TensorInfo[]): void {
    let dy: Gradient | undefined = { info: dLogits, sample: dLogits.shape[1]!, feature: 1 };
    const firstWeighted = this.layers.findIndex((layer) => layer.kind === 'conv' || layer.kind === 'dense');
    for (let i = this.layers.length - 1; i >= 0 && dy; i--) {
      const layer = this.layers[i]!;
      const entry = saved[i]!;
      if (layer.kind === 'dense' && entry.kind === 'dense') {
        dy = this.time(`dense ${i} backward`, () => this.denseBackward(layer, entry, params, dy!, count, i === firstWeighted, grads, owned));
      } else if (layer.kind === 'maxPool' && entry.kind === 'maxPool') {
        const conv = this.layers[i - 1] as ConvLayer;
        const convSaved = saved[i - 1]!;
        if (convSaved.kind !== 'conv') throw new Error('a max-pool without its conv reached the backward pass');
        dy = this.poolConvBackward(i - 1, conv, convSaved, entry.output, params, dy, count, i - 1 === firstWeighted, grads, owned);
        i--;
      } else if (layer.kind !== 'flatten') {
        throw new Error(`the fused backward pass cannot go through a ${layer.kind} layer here`);
      }
    }
  }

  private denseBackward(
    layer: DenseLayer, saved: { input: TensorInfo; output: TensorInfo }, params: readonly TensorInfo[], dy: Gradient, count: number,
    isFirst: boolean, grads: (TensorInfo | undefined)[], owned: TensorInfo[],
  ): Gradient | undefined {
    const { units, inputs } = layer;
    const dz = this.heap.alloc([count, units]);
    const dzT = this.heap.alloc([units, count]);
    const biasGrad = this.heap.alloc([units]);
    owned.push(dz, dzT);
    grads[layer.bias] = biasGrad;
    {
      const g = this.heap.view(dy.info);
      const y = this.heap.view(saved.output);
      const d = this.heap.view(dz);
      const dT = this.heap.view(dzT);
      const db = this.heap.view(biasGrad);
      db.fill(0);
      for (let n = 0; n < count; n++) {
        for (let unit = 0; unit < units; unit++) {
          const at = n * units + unit;
          const value = layer.relu && !(y[at]! > 0) ? 0 : g[n * dy.sample + unit * dy.feature]!;
          d[at] = value;
          dT[unit * count + n] = value;
          db[unit] = db[unit]! + value;
        }
      }
    }
    // dW = xᵀ·dz: x read transposed through its strides.
    const kernelGrad = this.heap.alloc([inputs, units]);
    grads[layer.kernel] = kernelGrad;
    this.kernels.gemm(
      this.offset(saved.input), FLOAT, inputs * FLOAT, this.offset(dz), units * FLOAT, this.offset(kernelGrad), units * FLOAT, inputs, units, count, 0, 0, 0,
    );
    if (isFirst) return undefined;
    // dxᵀ = W·dzᵀ [inputs, n]: the layer below reads it transposed.
    const dxT = this.heap.alloc([inputs, count]);
    owned.push(dxT);
    this.kernels.gemm(
      this.offset(params[layer.kernel]!), units * FLOAT, FLOAT, this.offset(dzT), count * FLOAT, this.offset(dxT), count * FLOAT, inputs, count, units, 0, 0, 0,
    );
    return { info: dxT, sample: 1, feature: count };
  }

  /** Back through a max-pool, its relu and its conv; returns the conv's input gradient, unless it is the first layer. */
  private poolConvBackward(
    index: number, conv: ConvLayer, convSaved: { input: Images; output: Images }, pooled: Images, params: readonly TensorInfo[], dy: Gradient,
    count: number, isFirst: boolean, grads: (TensorInfo | undefined)[], owned: TensorInfo[],
  ): Gradient | undefined {
    const { kernelSize: k, inChannels, filters } = conv;
    const { input, output } = convSaved;
    const { height, width } = output;
    // dz twice: in panels of 8 channels for the filter gradient and, unless this is the first layer, padded the
    // other way round for the input gradient, a 'full' correlation of dz with the rotated kernel.
    const dz = isFirst ? undefined : this.padded(`dz ${index}`, count, height, width, filters, k, k - 1 - padBefore(k));
    const panels = this.heap.alloc([count, height, width, filters]);
    owned.push(panels);
    // The pooling windows cover every pixel of an even-sized image; odd rows and columns outside them must read as 0.
    if (height % 2 || width % 2) this.heap.view(panels).fill(0);
    const panelBlock = height * width * PANEL_ROW;
    const panelImage = (filters / CONV_CHANNEL_BLOCK) * panelBlock;
    const biasGrad = this.heap.alloc([filters]);
    grads[conv.bias] = biasGrad;
    this.time(`maxPool ${index + 1} + relu backward`, () =>
      this.kernels.poolReluBackward(
        output.origin, pooled.origin, pooled.row, pooled.image, this.offset(dy.info), dy.sample * FLOAT, dy.feature * FLOAT,
        dz?.origin ?? 0, dz?.row ?? 0, dz?.image ?? 0, this.offset(panels), panelImage, panelBlock, this.offset(biasGrad), count, height, width, filters,
      ),
    );
    const kernelGrad = this.heap.alloc([k, k, inChannels, filters]);
    grads[conv.kernel] = kernelGrad;
    this.heap.view(kernelGrad).fill(0);
    const pad = padBefore(k);
    this.time(`conv ${index} filter gradient`, () =>
      this.kernels.conv2dFilterGrad(
        input.origin - pad * input.row - pad * inChannels * FLOAT, input.row, input.image,
        this.offset(panels), PANEL_ROW, width * PANEL_ROW, panelImage, panelBlock,
        this.offset(kernelGrad), count, height, width, inChannels, filters, k,
      ),
    );
    if (!dz) return undefined;

    // dx = dz ⋆ rot180(W) with in/out channels swapped ([k, k, O, C]), written straight into panels of 8 of the C
    // outputs ([C/8, k·k·O, 8]).
    const rows = k * k * filters;
    const rotated = this.heap.alloc([rows * inChannels]);
    owned.push(rotated);
    {
      const w = this.heap.view(params[conv.kernel]!);
      const r = this.heap.view(rotated);
      const block = CONV_CHANNEL_BLOCK;
      for (let tap = 0; tap < k * k; tap++) {
        const source = (k * k - 1 - tap) * inChannels * filters;
        for (let c = 0; c < inChannels; c++) {
          const target = (Math.floor(c / block) * rows + tap * filters) * block + (c % block);
          for (let o = 0; o < filters; o++) r[target + o * block] = w[source + c * filters + o]!;
        }
      }
    }
    const dx = this.heap.alloc([count, height, width, inChannels]);
    owned.push(dx);
    const origin = dz.origin - (k - 1 - pad) * dz.row - (k - 1 - pad) * filters * FLOAT;
    this.time(`conv ${index} input gradient`, () =>
      this.kernels.conv2d(
        origin, dz.row, dz.image, this.offset(rotated), PANEL_ROW, rows * PANEL_ROW, 0, this.offset(dx), width * inChannels * FLOAT, height * width * inChannels * FLOAT,
        count, height, width, filters, inChannels, k, 0,
      ),
    );
    return { info: dx, sample: height * width * inChannels, feature: 1 };
  }
}

/** [n, h, w, c] → the interior of `target` (a padded copy, zeroed already); `base` is where target's data starts. */
function copyImages(source: Float32Array, target: Float32Array, images: Images, base: number, count: number): void {
  const { height, width, channels } = images;
  const rowFloats = width * channels;
  for (let n = 0; n < count; n++) {
    for (let i = 0; i < height; i++) {
      const from = (n * height + i) * rowFloats;
      const to = (images.origin - base + n * images.image + i * images.row) / FLOAT;
      target.set(source.subarray(from, from + rowFloats), to);
    }
  }
}
