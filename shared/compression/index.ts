/**
 * Update compression. Client half (trainer): Δ = w_local − w_global → `compress(Δ, residual, config, seed)` →
 * `encodeCompressedUpdate(payload)` → upload, keeping `residual` as client-private state when error feedback is on.
 * Server half (aggregator): `decodeUpdate(bytes, global, { compression })` → Δ (or `decodeUpdateWeights` → w).
 */
export { compress, compressionSeed, decompress, decompressInto, type Compressed, type CompressedTensor, type CompressedUpdate, type Encoding, type LossyCompression, type TopkScope } from './compress.js';
export { decodeCompressedUpdate, encodeCompressedUpdate, ENCODINGS, indexBytes } from './format.js';
export { encodeFloat16, float16Table, FLOAT16_MAX, toFloat16Bits } from './float16.js';
export { quantizeInt8 } from './int8.js';
export { sparsifyTopk, topkCount } from './topk.js';
export { decodeUpdate, decodeUpdateWeights, type DecodedUpdate, type DecodeUpdateOptions } from './update-codec.js';
export { weightsDelta } from './delta.js';
