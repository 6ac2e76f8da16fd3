import type { CompressionConfig } from '../config/compression.js';
import { flatLength, unflatten } from '../robust/flat.js';
import { assertFinite, COMPRESSED_UPDATE_MAGIC, decodeModelWeights, formatMagic, WeightsError, WEIGHTS_MAGIC } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import { decompressInto, type CompressedUpdate, type Encoding } from './compress.js';
import { decodeCompressedUpdate, encodeCompressedUpdate } from './format.js';

/** An uploaded update as the aggregator uses it: Δ = w_local − w_global, whatever the client's encoding. */
export interface DecodedUpdate {
  /** float32: an FLW1 object of trained weights (compression "none"); otherwise the FLW2 encoding */
  readonly encoding: 'float32' | Encoding;
  /** Δ with every tensor end to end in the model's order, ready for shared/robust */
  readonly flat: Float32Array;
  /** Δ as named tensors: views into `flat` */
  readonly delta: ModelWeights;
}

export interface DecodeUpdateOptions {
  /** the experiment's compression: an update encoded any other way is rejected */
  readonly compression?: CompressionConfig | undefined;
  /** starts every error message, e.g. "update from client-003" */
  readonly context?: string;
}

/**
 * The one call the aggregator makes per update, before validating it: reads an FLW1 (float32 weights) or FLW2
 * (compressed Δ) object, checks its format, its tensors against `global` and that every value is finite, and returns
 * Δ. Throws a WeightsError naming what is wrong.
 */
export function decodeUpdate(bytes: Uint8Array, global: ModelWeights, options: DecodeUpdateOptions = {}): DecodedUpdate {
  const context = options.context ?? 'update';
  const compressed = formatMagic(bytes) === COMPRESSED_UPDATE_MAGIC;
  if (options.compression !== undefined) expectFormat(compressed, options.compression, context);
  const flat = new Float32Array(flatLength(global));
  let encoding: DecodedUpdate['encoding'] = 'float32';
  if (!compressed) {
    // FLW1 errors keep their "weights:" wording: they are the same checks as for a global model.
    const weights = decodeModelWeights(bytes, global);
    let offset = 0;
    weights.forEach(({ values }, index) => {
      const base = global[index]!.values;
      for (let i = 0; i < values.length; i++) flat[offset + i] = values[i]! - base[i]!;
      offset += values.length;
    });
  } else {
    const payload = decodeCompressedUpdate(bytes, global, context);
    if (options.compression !== undefined) expectEncoding(payload, options.compression, context);
    encoding = payload.encoding;
    // The decoder checked the payload's tensors against `global`, so its layout is flat's.
    decompressInto(payload, flat);
  }
  assertFiniteFlat(flat, global, context);
  return { encoding, flat, delta: unflatten(flat, global) };
}

/**
 * The client's weights w = w_global + Δ, for the streaming mean. An FLW1 object's weights come back exactly as
 * uploaded (bit for bit what decodeModelWeights returns); a compressed Δ is added to `global` in float32.
 */
export function decodeUpdateWeights(bytes: Uint8Array, global: ModelWeights, options: DecodeUpdateOptions = {}): ModelWeights {
  if (formatMagic(bytes) !== COMPRESSED_UPDATE_MAGIC) {
    if (options.compression !== undefined) expectFormat(false, options.compression, options.context ?? 'update');
    return decodeModelWeights(bytes, global);
  }
  const { delta } = decodeUpdate(bytes, global, options);
  return global.map(({ name, shape, values }, index) => {
    const step = delta[index]!.values;
    const next = new Float32Array(values.length);
    for (let i = 0; i < values.length; i++) next[i] = values[i]! + step[i]!;
    assertFinite(name, next, `${options.context ?? 'update'}: global + Δ`);
    return { name, shape: [...shape], values: next };
  });
}

export { encodeCompressedUpdate };

function expectFormat(compressed: boolean, compression: CompressionConfig, context: string): void {
  if (compression.kind === 'none' && compressed) {
    throw new WeightsError(`${context}: is compressed (${COMPRESSED_UPDATE_MAGIC}) but the experiment's compression is "none" (float32 weights, ${WEIGHTS_MAGIC})`);
  }
  if (compression.kind !== 'none' && !compressed) {
    throw new WeightsError(`${context}: is not a compressed update (${COMPRESSED_UPDATE_MAGIC}) but the experiment's compression is ${JSON.stringify(compression.kind)}`);
  }
}

function expectEncoding(payload: CompressedUpdate, compression: CompressionConfig, context: string): void {
  if (payload.encoding !== compression.kind) {
    throw new WeightsError(`${context}: is ${JSON.stringify(payload.encoding)} but the experiment's compression is ${JSON.stringify(compression.kind)}`);
  }
  if (payload.encoding === 'topk' && compression.kind === 'topk' && payload.ratio !== compression.ratio) {
    throw new WeightsError(`${context}: has topk ratio ${payload.ratio} but the experiment's is ${compression.ratio}`);
  }
  if (payload.encoding === 'topk' && compression.kind === 'topk' && payload.scope !== compression.scope) {
    throw new WeightsError(`${context}: has topk scope ${JSON.stringify(payload.scope)} but the experiment's is ${JSON.stringify(compression.scope)}`);
  }
}

function assertFiniteFlat(flat: Float32Array, layout: ModelWeights, context: string): void {
  for (let i = 0; i < flat.length; i++) {
    if (!Number.isFinite(flat[i]!)) {
      let offset = 0;
      for (const tensor of layout) {
        if (i < offset + tensor.values.length) throw new WeightsError(`${context}: tensor ${JSON.stringify(tensor.name)} Δ value ${i - offset} is ${flat[i]}`);
        offset += tensor.values.length;
      }
    }
  }
}
