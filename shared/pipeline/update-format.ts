import type { ObjectStore } from '../cloud/ports.js';
import { decodeUpdate } from '../compression/index.js';
import type { CompressionConfig } from '../config/compression.js';
import type { ModelWeights } from '../weights/types.js';
import { UpdateRejectedError, type UpdateLayout } from './inspect-update.js';

/** A compressed update is at most 8 bytes a value (top-k with ratio 1: a float32 value and a 4-byte index) + header. */
const MAX_BYTES_PER_VALUE = 8;
const HEADER_SLACK_BYTES = 64 * 1024;

export function isCompressed(compression: CompressionConfig | undefined): compression is Exclude<CompressionConfig, { kind: 'none' }> {
  return compression !== undefined && compression.kind !== 'none';
}

/**
 * Checks a compressed update before it may count: its size against the most any encoding of the model can take (so
 * the aggregator never reads an unbounded object), then the FLW2 decoder, which works out the exact length from the
 * header before reading a value: a header that lies about the sizes is rejected with the decoder's reason. Returns
 * the object's size, which the report's updateBytes must equal.
 */
export async function readCompressedUpdate(store: ObjectStore, layout: UpdateLayout, compression: CompressionConfig, key: string): Promise<number> {
  const values = layout.averaged.reduce((total, { shape }) => total + shape.reduce((size, dimension) => size * dimension, 1), 0);
  const limit = MAX_BYTES_PER_VALUE * values + HEADER_SLACK_BYTES;
  const found = await store.getAtMost(key, limit);
  if (!found) throw new UpdateRejectedError(`its update ${key} does not exist`);
  const { bytes } = found;
  if (!bytes) {
    throw new UpdateRejectedError(`its update is ${found.info.size} bytes; a ${compression.kind}-compressed update of model ${layout.model} is at most ${limit} bytes`);
  }
  // Only the names and shapes matter to an FLW2 decode; the global model's values are not needed to validate it.
  decodeUpdate(bytes, zeroWeights(layout), { compression, context: 'compressed update' });
  return bytes.byteLength;
}

function zeroWeights(layout: UpdateLayout): ModelWeights {
  return layout.averaged.map(({ name, shape }) => ({ name, shape: [...shape], values: new Float32Array(shape.reduce((size, dimension) => size * dimension, 1)) }));
}
