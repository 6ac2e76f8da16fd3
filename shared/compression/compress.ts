import type { CompressionConfig } from '../config/compression.js';
import { deriveSeed } from '../random.js';
import { assertFinite, WeightsError } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import { decodeFloat16Into, encodeFloat16 } from './float16.js';
import { dequantizeInt8Into, quantizeInt8 } from './int8.js';
import { flattenWeights, unflattenWeights } from '../secagg/weights-adapter.js';
import { densifyInto, sparsifyTopk, type SparseTensor } from './topk.js';

/** The lossy kinds; "none" uploads float32 weights in the FLW1 format and never reaches this module. */
export type Encoding = 'float16' | 'int8' | 'topk';

interface TensorHead {
  readonly name: string;
  readonly shape: readonly number[];
}

export type CompressedTensor =
  | (TensorHead & { readonly bits: Uint16Array })
  | (TensorHead & { readonly scale: number; readonly quantized: Int8Array })
  | (TensorHead & { readonly indices: Uint32Array; readonly values: Float32Array });

export type TopkScope = 'model' | 'tensor';

/**
 * A compressed update Δ as it is uploaded (shared/compression/format.ts writes it as an FLW2 object). Top-k over the
 * whole model keeps one sparse vector whose indices run over the tensors laid end to end in `tensors`' order.
 */
export type CompressedUpdate =
  | { readonly encoding: 'float16'; readonly tensors: readonly (TensorHead & { readonly bits: Uint16Array })[] }
  | { readonly encoding: 'int8'; readonly tensors: readonly (TensorHead & { readonly scale: number; readonly quantized: Int8Array })[] }
  | { readonly encoding: 'topk'; readonly ratio: number; readonly scope: 'tensor'; readonly tensors: readonly (TensorHead & SparseTensor)[] }
  | { readonly encoding: 'topk'; readonly ratio: number; readonly scope: 'model'; readonly tensors: readonly TensorHead[]; readonly kept: SparseTensor };

export type LossyCompression = Exclude<CompressionConfig, { kind: 'none' }>;

export interface Compressed {
  readonly payload: CompressedUpdate;
  /**
   * With error feedback: what this round's payload left out, (Δ + residual) − decompress(payload), to add to the
   * next round's Δ; client-private state. Undefined without error feedback.
   */
  readonly residual: ModelWeights | undefined;
}

/**
 * Compresses the update Δ (w_local − w_global), after adding the residual the previous round left when error
 * feedback is on (Karimireddy et al. 2019, "Error Feedback Fixes SignSGD"; Stich et al. 2018). Pure: `delta` and
 * `residual` are only read. `seed` drives stochastic rounding; derive it per client and round
 * (`compressionSeed`). Throws a WeightsError for a non-finite Δ: there is nothing sensible to send.
 */
export function compress(delta: ModelWeights, residual: ModelWeights | undefined, config: LossyCompression, seed: number): Compressed {
  const corrected = config.errorFeedback && residual !== undefined ? addResidual(delta, residual) : delta;
  corrected.forEach((tensor) => assertFinite(tensor.name, tensor.values, 'cannot compress update'));
  const payload = compressTensors(corrected, config, seed);
  if (!config.errorFeedback) return { payload, residual: undefined };
  const sent = decompress(payload);
  return {
    payload,
    residual: corrected.map((tensor, index) => ({ name: tensor.name, shape: [...tensor.shape], values: combine(tensor.values, sent[index]!.values, -1) })),
  };
}

/** The seed of one client's compression in one round. */
export function compressionSeed(experimentSeed: number, round: number, clientId: string): number {
  return deriveSeed(experimentSeed, 'compress', round, clientId);
}

function compressTensors(delta: ModelWeights, config: LossyCompression, seed: number): CompressedUpdate {
  const head = (tensor: TensorHead): TensorHead => ({ name: tensor.name, shape: [...tensor.shape] });
  switch (config.kind) {
    case 'float16':
      return { encoding: 'float16', tensors: delta.map((tensor) => ({ ...head(tensor), bits: encodeFloat16(tensor.values) })) };
    case 'int8':
      return {
        encoding: 'int8',
        tensors: delta.map((tensor, index) => ({ ...head(tensor), ...quantizeInt8(tensor.values, config.rounding, deriveSeed(seed, index)) })),
      };
    case 'topk':
      if (config.scope === 'model') return { encoding: 'topk', ratio: config.ratio, scope: 'model', tensors: delta.map(head), kept: sparsifyTopk(flattenWeights(delta).vector, config.ratio) };
      return { encoding: 'topk', ratio: config.ratio, scope: 'tensor', tensors: delta.map((tensor) => ({ ...head(tensor), ...sparsifyTopk(tensor.values, config.ratio) })) };
    default:
      throw new WeightsError(`unknown compression kind ${JSON.stringify((config as { kind: unknown }).kind)}`);
  }
}

/** The Δ the server reconstructs from a payload, one fresh float32 tensor each. */
export function decompress(payload: CompressedUpdate): ModelWeights {
  const flat = new Float32Array(payload.tensors.reduce((total, tensor) => total + sizeOf(tensor.shape), 0));
  decompressInto(payload, flat);
  return unflattenWeights(flat, payload.tensors);
}

/** Writes Δ into `flat` (zeros, the tensors end to end in the payload's order). */
export function decompressInto(payload: CompressedUpdate, flat: Float32Array): void {
  if (payload.encoding === 'topk' && payload.scope === 'model') {
    densifyInto(payload.kept, flat, 0);
    return;
  }
  let offset = 0;
  for (const tensor of payload.tensors as readonly CompressedTensor[]) {
    decompressTensorInto(tensor, flat, offset);
    offset += sizeOf(tensor.shape);
  }
}

const sizeOf = (shape: readonly number[]) => shape.reduce((size, dimension) => size * dimension, 1);

/** Writes a tensor's reconstructed values into `out` from `offset` (which must be zero there for top-k). */
function decompressTensorInto(tensor: CompressedTensor, out: Float32Array, offset: number): void {
  if ('bits' in tensor) decodeFloat16Into(tensor.bits, out, offset);
  else if ('quantized' in tensor) dequantizeInt8Into(tensor, out, offset);
  else densifyInto(tensor, out, offset);
}

function addResidual(delta: ModelWeights, residual: ModelWeights): ModelWeights {
  if (residual.length !== delta.length) throw new WeightsError(`error feedback: the residual has ${residual.length} tensors but the update has ${delta.length}`);
  return delta.map((tensor, index) => {
    const carried = residual[index]!;
    if (carried.name !== tensor.name || carried.values.length !== tensor.values.length) {
      throw new WeightsError(`error feedback: residual tensor ${index} is ${JSON.stringify(carried.name)} (${carried.values.length} values), the update's is ${JSON.stringify(tensor.name)} (${tensor.values.length})`);
    }
    return { name: tensor.name, shape: [...tensor.shape], values: combine(tensor.values, carried.values, 1) };
  });
}

/** a + sign·b in float32; a loop, since TypedArray.prototype.map with a callback measured 10× slower. */
function combine(a: Float32Array, b: Float32Array, sign: 1 | -1): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < out.length; i++) out[i] = a[i]! + sign * b[i]!;
  return out;
}
