import { z } from 'zod';
import { alignTo4, assertLittleEndian, assertSameLayout, COMPRESSED_UPDATE_MAGIC, WeightsError, type TensorLayout } from '../weights/codec.js';
import type { CompressedTensor, CompressedUpdate, Encoding, TopkScope } from './compress.js';
import { topkCount, type SparseTensor } from './topk.js';

/**
 * A compressed update Δ as one binary object (FLW2; FLW1 is float32 weights, shared/weights/codec.ts):
 *
 *   offset   size  field
 *   0        4     magic "FLW2"
 *   4        4     uint32 LE: header length H in bytes
 *   8        H     header: UTF-8 JSON {"content":"delta","encoding":"float16"|"int8"|"topk",["ratio":r,]["scope":"model",]
 *                  "tensors":[{name,shape}…]}
 *   8+H      0–3   zero padding to a multiple of 4
 *   …              one section per tensor, in header order, each padded with zeros to a multiple of 4 bytes:
 *                    float16  N × uint16 LE binary16
 *                    int8     float32 LE scale, then N × int8 levels in [−127, 127]
 *                    topk     k × float32 LE values, then k indices, strictly increasing, each < N, as unsigned LE
 *                             integers of 2 bytes (N ≤ 2¹⁶), 3 bytes (N ≤ 2²⁴) or 4; k = ⌈ratio × N⌉ (at least 1)
 *                  or, for topk with "scope":"model", a single topk section over the tensors laid end to end in
 *                  header order (N = every tensor's values); without "scope" a topk object is per tensor.
 *
 * Every size follows from the header, so the decoder knows the exact length before it reads a value and rejects an
 * object whose header claims more (or fewer) values than its bytes hold; it also rejects an unknown encoding or
 * content, a ratio outside (0, 1], non-finite values, out-of-order or out-of-range indices and level −128.
 */

const PREFIX_BYTES = 8;
const MAX_HEADER_BYTES = 1 << 20;
export const ENCODINGS: readonly Encoding[] = ['float16', 'int8', 'topk'];
const TOPK_SCOPES: readonly TopkScope[] = ['model', 'tensor'];

const headerSchema = z.strictObject({
  content: z.literal('delta'),
  encoding: z.string(),
  ratio: z.number().optional(),
  scope: z.string().optional(),
  tensors: z.array(z.strictObject({ name: z.string().min(1), shape: z.array(z.int().min(0)) })),
});

export function indexBytes(size: number): 2 | 3 | 4 {
  return size <= 2 ** 16 ? 2 : size <= 2 ** 24 ? 3 : 4;
}

const sizeOf = (shape: readonly number[]) => shape.reduce((size, dimension) => size * dimension, 1);

/** Bytes of one tensor's section, padding included. */
function sectionBytes(encoding: Encoding, size: number, ratio: number | undefined): number {
  switch (encoding) {
    case 'float16':
      return alignTo4(2 * size);
    case 'int8':
      return 4 + alignTo4(size);
    case 'topk': {
      const k = topkCount(ratio!, size);
      return 4 * k + alignTo4(k * indexBytes(size));
    }
  }
}

export function encodeCompressedUpdate(update: CompressedUpdate): Uint8Array {
  assertLittleEndian();
  const ratio = update.encoding === 'topk' ? update.ratio : undefined;
  const wholeModel = update.encoding === 'topk' && update.scope === 'model';
  const header = new TextEncoder().encode(
    JSON.stringify({
      content: 'delta',
      encoding: update.encoding,
      ...(ratio !== undefined ? { ratio } : {}),
      // Per-tensor top-k objects keep the header they had before model-wide top-k existed.
      ...(wholeModel ? { scope: 'model' } : {}),
      tensors: update.tensors.map(({ name, shape }) => ({ name, shape: [...shape] })),
    }),
  );
  const dataOffset = alignTo4(PREFIX_BYTES + header.byteLength);
  const modelSize = update.tensors.reduce((total, tensor) => total + sizeOf(tensor.shape), 0);
  const total = wholeModel
    ? dataOffset + sectionBytes('topk', modelSize, ratio)
    : update.tensors.reduce((bytes, tensor) => bytes + sectionBytes(update.encoding, sizeOf(tensor.shape), ratio), dataOffset);
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode(COMPRESSED_UPDATE_MAGIC), 0);
  view.setUint32(4, header.byteLength, true);
  bytes.set(header, PREFIX_BYTES);
  if (update.encoding === 'topk' && update.scope === 'model') {
    writeTopkSection(bytes, dataOffset, 'the update', update.kept, modelSize, update.ratio);
    return bytes;
  }
  let offset = dataOffset;
  for (const tensor of update.tensors as readonly CompressedTensor[]) {
    const size = sizeOf(tensor.shape);
    if ('bits' in tensor) {
      checkLength(`tensor ${JSON.stringify(tensor.name)}`, tensor.bits.length, size);
      // Typed arrays are little-endian here (codec.ts checks the platform), so their bytes are the format's.
      bytes.set(bytesOf(tensor.bits), offset);
    } else if ('quantized' in tensor) {
      checkLength(`tensor ${JSON.stringify(tensor.name)}`, tensor.quantized.length, size);
      view.setFloat32(offset, tensor.scale, true);
      bytes.set(new Uint8Array(tensor.quantized.buffer, tensor.quantized.byteOffset, size), offset + 4);
    } else {
      writeTopkSection(bytes, offset, `tensor ${JSON.stringify(tensor.name)}`, tensor, size, ratio!);
    }
    offset += sectionBytes(update.encoding, size, ratio);
  }
  return bytes;
}

function writeTopkSection(bytes: Uint8Array, offset: number, what: string, sparse: SparseTensor, size: number, ratio: number): void {
  const k = topkCount(ratio, size);
  checkLength(what, sparse.values.length, k);
  checkLength(what, sparse.indices.length, k);
  const width = indexBytes(size);
  bytes.set(bytesOf(sparse.values), offset);
  const indexOffset = offset + 4 * k;
  for (let i = 0; i < k; i++) {
    const index = sparse.indices[i]!;
    for (let b = 0; b < width; b++) bytes[indexOffset + width * i + b] = (index >>> (8 * b)) & 0xff;
  }
}

function bytesOf(array: Uint16Array | Float32Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

function checkLength(what: string, actual: number, expected: number): void {
  if (actual !== expected) throw new WeightsError(`cannot encode update: ${what} has ${actual} entries, expected ${expected}`);
}

/**
 * The payload of an FLW2 object, checked as described above and, when `expected` is given, against the model's
 * tensor names, order and shapes. `context` starts every error message.
 */
export function decodeCompressedUpdate(bytes: Uint8Array, expected?: readonly TensorLayout[], context = 'update'): CompressedUpdate {
  assertLittleEndian();
  if (bytes.byteLength < PREFIX_BYTES) throw new WeightsError(`${context}: ${bytes.byteLength} bytes is too short for the ${PREFIX_BYTES}-byte prefix`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = new TextDecoder().decode(bytes.subarray(0, 4));
  if (magic !== COMPRESSED_UPDATE_MAGIC) {
    throw new WeightsError(`${context}: not a compressed update (starts with ${JSON.stringify(magic)}, expected ${JSON.stringify(COMPRESSED_UPDATE_MAGIC)})`);
  }
  const headerBytes = view.getUint32(4, true);
  if (headerBytes > MAX_HEADER_BYTES || PREFIX_BYTES + headerBytes > bytes.byteLength) {
    throw new WeightsError(`${context}: truncated: the header claims ${headerBytes} bytes, ${bytes.byteLength - PREFIX_BYTES} follow the prefix`);
  }
  const header = parseHeader(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerBytes), context);
  const encoding = header.encoding as Encoding;
  if (!ENCODINGS.includes(encoding)) {
    throw new WeightsError(`${context}: unknown encoding ${JSON.stringify(header.encoding)}; this version of flambda reads ${ENCODINGS.map((name) => JSON.stringify(name)).join(', ')}`);
  }
  const { ratio } = header;
  if (encoding === 'topk' && !(ratio !== undefined && ratio > 0 && ratio <= 1)) {
    throw new WeightsError(`${context}: topk ratio must be greater than 0 and at most 1 (got ${ratio ?? 'none'})`);
  }
  if (encoding !== 'topk' && ratio !== undefined) throw new WeightsError(`${context}: a ${encoding} update has no ratio (got ${ratio})`);
  const { scope } = header;
  if (encoding !== 'topk' && scope !== undefined) throw new WeightsError(`${context}: a ${encoding} update has no scope (got ${JSON.stringify(scope)})`);
  if (scope !== undefined && !TOPK_SCOPES.includes(scope as TopkScope)) {
    throw new WeightsError(`${context}: unknown topk scope ${JSON.stringify(scope)}; this version of flambda reads ${TOPK_SCOPES.map((name) => JSON.stringify(name)).join(', ')}`);
  }
  const wholeModel = scope === 'model';
  if (expected !== undefined) assertSameLayout(header.tensors, expected, context);

  const dataOffset = alignTo4(PREFIX_BYTES + headerBytes);
  let expectedBytes = dataOffset;
  let valueCount = 0;
  for (const tensor of header.tensors) {
    const size = sizeOf(tensor.shape);
    if (!Number.isSafeInteger(size)) throw new WeightsError(`${context}: tensor ${JSON.stringify(tensor.name)} has an impossible shape [${tensor.shape.join(', ')}]`);
    valueCount += size;
    if (!wholeModel) expectedBytes += sectionBytes(encoding, size, ratio);
  }
  if (wholeModel) expectedBytes += sectionBytes('topk', valueCount, ratio);
  if (bytes.byteLength !== expectedBytes) {
    const problem = bytes.byteLength < expectedBytes ? 'truncated' : 'trailing bytes';
    throw new WeightsError(
      `${context}: ${problem}: the header's ${header.tensors.length} ${encoding} tensors (${valueCount} values) need ${expectedBytes} bytes, got ${bytes.byteLength}`,
    );
  }

  if (wholeModel) {
    const kept = readSection(bytes, view, dataOffset, 'topk', valueCount, ratio, `${context}: the model-wide top-k`) as SparseTensor;
    return { encoding: 'topk', ratio: ratio!, scope: 'model', tensors: header.tensors, kept };
  }
  let offset = dataOffset;
  const tensors = header.tensors.map((head) => {
    const size = sizeOf(head.shape);
    const where = `${context}: tensor ${JSON.stringify(head.name)}`;
    const section = readSection(bytes, view, offset, encoding, size, ratio, where);
    offset += sectionBytes(encoding, size, ratio);
    return { name: head.name, shape: head.shape, ...section };
  });
  return (encoding === 'topk' ? { encoding, ratio: ratio!, scope: 'tensor', tensors } : { encoding, tensors }) as CompressedUpdate;
}

function readSection(bytes: Uint8Array, view: DataView, offset: number, encoding: Encoding, size: number, ratio: number | undefined, where: string) {
  switch (encoding) {
    case 'float16': {
      const bits = new Uint16Array(size);
      // Copied byte by byte into an aligned array: the object may sit at any offset in its buffer.
      new Uint8Array(bits.buffer).set(bytes.subarray(offset, offset + 2 * size));
      for (let i = 0; i < size; i++) {
        const pattern = bits[i]!;
        if ((pattern & 0x7c00) === 0x7c00) throw new WeightsError(`${where} value ${i} is ${pattern & 0x3ff ? 'NaN' : 'infinite'} (binary16 0x${pattern.toString(16)})`);
      }
      return { bits };
    }
    case 'int8': {
      const scale = view.getFloat32(offset, true);
      if (!(Number.isFinite(scale) && scale >= 0)) throw new WeightsError(`${where} has scale ${scale}; it must be finite and not negative`);
      const quantized = new Int8Array(size);
      new Uint8Array(quantized.buffer).set(bytes.subarray(offset + 4, offset + 4 + size));
      const bad = quantized.indexOf(-128);
      if (bad >= 0) throw new WeightsError(`${where} value ${bad} is level -128, outside [-127, 127]`);
      return { scale, quantized };
    }
    case 'topk': {
      const k = topkCount(ratio!, size);
      const width = indexBytes(size);
      const values = new Float32Array(k);
      new Uint8Array(values.buffer).set(bytes.subarray(offset, offset + 4 * k));
      const indices = new Uint32Array(k);
      const indexOffset = offset + 4 * k;
      let previous = -1;
      for (let i = 0; i < k; i++) {
        if (!Number.isFinite(values[i]!)) throw new WeightsError(`${where} kept value ${i} is ${values[i]}`);
        let index = 0;
        for (let b = width - 1; b >= 0; b--) index = index * 256 + bytes[indexOffset + width * i + b]!;
        if (index <= previous || index >= size) {
          throw new WeightsError(`${where} index ${i} is ${index}; indices must increase strictly and stay below the ${size} values they index (previous ${previous})`);
        }
        indices[i] = index;
        previous = index;
      }
      return { indices, values };
    }
  }
}

function parseHeader(headerBytes: Uint8Array, context: string): z.output<typeof headerSchema> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch {
    throw new WeightsError(`${context}: corrupt: the header is not valid UTF-8 JSON`);
  }
  const parsed = headerSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('');
    throw new WeightsError(`${context}: corrupt: header${where}: ${issue.message}`);
  }
  return parsed.data;
}
