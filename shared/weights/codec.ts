import { z } from 'zod';
import type { ModelWeights, WeightTensor } from './types.js';

/**
 * Model weights as one self-contained binary object, so an upload is a single atomic S3 put:
 *
 *   offset   size  field
 *   0        4     magic "FLW1"
 *   4        4     uint32 LE: manifest length M in bytes
 *   8        M     manifest: UTF-8 JSON, tfjs `WeightsManifestEntry[]` ({ name, shape, dtype: "float32" })
 *   8+M      0–3   zero padding, so the data starts 4-byte aligned
 *   …        4·N   every tensor's values in manifest order, float32 little-endian (N = Σ product(shape))
 *
 * The magic is the format's version. "FLW2" is a compressed update Δ (float16, int8 or top-k; shared/compression/
 * format.ts, docs/compression.md): it holds a difference from the global model, not weights, so this decoder refuses
 * it by name, and shared/compression's `decodeUpdate` reads both.
 */
const MAGIC = 'FLW1';
export const WEIGHTS_MAGIC = MAGIC;
export const COMPRESSED_UPDATE_MAGIC = 'FLW2';
const PREFIX_BYTES = 8;

/** The 4-byte magic an object starts with ("FLW1", "FLW2", or anything else), or undefined when it is shorter. */
export function formatMagic(bytes: Uint8Array): string | undefined {
  return bytes.byteLength < 4 ? undefined : new TextDecoder().decode(bytes.subarray(0, 4));
}

export class WeightsError extends Error {
  override name = 'WeightsError';
}

/** A tensor's name and shape: what a model's architecture fixes and its training changes nothing about. */
export interface TensorLayout {
  readonly name: string;
  readonly shape: readonly number[];
}

const manifestSchema = z.array(
  z.object({
    name: z.string().min(1),
    shape: z.array(z.int().min(0)),
    dtype: z.literal('float32'),
  }),
);

const isLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function assertLittleEndian(): void {
  // Tensor bytes are copied as they lie in memory; every platform Node and Lambda run on is little-endian.
  if (!isLittleEndian) throw new WeightsError('weights: this codec needs a little-endian platform');
}

const sizeOf = (shape: readonly number[]) => shape.reduce((size, dimension) => size * dimension, 1);
const formatShape = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** Bytes as hex pairs ("03 ff 7a"): what is shown of data that is not text, so a reason never carries raw binary. */
export function hexBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join(' ');
}

function manifestFor(layout: readonly TensorLayout[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(layout.map(({ name, shape }) => ({ name, shape: [...shape], dtype: 'float32' }))));
}

/** The exact size encodeModelWeights gives weights of this layout: an update of any other size cannot be one. */
export function encodedWeightsSize(layout: readonly TensorLayout[]): number {
  const values = layout.reduce((total, tensor) => total + sizeOf(tensor.shape), 0);
  return alignTo4(PREFIX_BYTES + manifestFor(layout).byteLength) + 4 * values;
}

export function encodeModelWeights(weights: ModelWeights): Uint8Array {
  assertLittleEndian();
  weights.forEach((tensor, index) => {
    const where = `tensor ${index} (${JSON.stringify(tensor.name)})`;
    if (tensor.name.length === 0) throw new WeightsError(`cannot encode weights: tensor ${index} has an empty name`);
    if (!tensor.shape.every((dimension) => Number.isSafeInteger(dimension) && dimension >= 0)) {
      throw new WeightsError(`cannot encode weights: ${where} has shape ${formatShape(tensor.shape)}, expected non-negative integers`);
    }
    if (tensor.values.length !== sizeOf(tensor.shape)) {
      throw new WeightsError(
        `cannot encode weights: ${where} has ${tensor.values.length} values but shape ${formatShape(tensor.shape)} needs ${sizeOf(tensor.shape)}`,
      );
    }
  });
  const manifest = manifestFor(weights);
  const dataOffset = alignTo4(PREFIX_BYTES + manifest.byteLength);
  const dataBytes = weights.reduce((total, tensor) => total + tensor.values.byteLength, 0);
  const bytes = new Uint8Array(dataOffset + dataBytes);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(bytes.buffer).setUint32(4, manifest.byteLength, true);
  bytes.set(manifest, PREFIX_BYTES);
  let offset = dataOffset;
  for (const { values } of weights) {
    bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), offset);
    offset += values.byteLength;
  }
  return bytes;
}

/**
 * The weights in `bytes`, each tensor in its own freshly allocated Float32Array. Checks the format, and when
 * `expected` is given (e.g. the current global model) that names, order and shapes match it. Rejects NaN and ±Inf:
 * a diverged client's update must not reach the average.
 */
export function decodeModelWeights(bytes: Uint8Array, expected?: ModelWeights | readonly TensorLayout[]): ModelWeights {
  assertLittleEndian();
  if (bytes.byteLength < PREFIX_BYTES) {
    throw new WeightsError(`weights: ${bytes.byteLength} bytes is too short for the ${PREFIX_BYTES}-byte header`);
  }
  const magic = new TextDecoder().decode(bytes.subarray(0, 4));
  if (magic === COMPRESSED_UPDATE_MAGIC) {
    throw new WeightsError('weights: this is a compressed update (FLW2), a difference from the global model: decode it with decodeUpdate(bytes, global)');
  }
  if (magic !== MAGIC) {
    throw new WeightsError(`weights: not a flambda weights object (starts with bytes ${hexBytes(bytes.subarray(0, 8))}, expected ${hexBytes(new TextEncoder().encode(MAGIC))} "${MAGIC}")`);
  }
  const manifestBytes = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  if (PREFIX_BYTES + manifestBytes > bytes.byteLength) {
    throw new WeightsError(`weights: truncated: the manifest needs ${manifestBytes} bytes, only ${bytes.byteLength - PREFIX_BYTES} follow the header`);
  }
  const manifest = parseManifest(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + manifestBytes));
  if (expected !== undefined) assertSameLayout(manifest, expected, 'weights');

  const dataOffset = alignTo4(PREFIX_BYTES + manifestBytes);
  const valueCount = manifest.reduce((total, entry) => total + sizeOf(entry.shape), 0);
  const expectedBytes = dataOffset + 4 * valueCount;
  if (bytes.byteLength !== expectedBytes) {
    const problem = bytes.byteLength < expectedBytes ? 'truncated' : 'trailing bytes';
    throw new WeightsError(
      `weights: ${problem}: the manifest's ${manifest.length} tensors (${valueCount} float32 values) need ${expectedBytes} bytes, got ${bytes.byteLength}`,
    );
  }

  let offset = dataOffset;
  return manifest.map(({ name, shape }): WeightTensor => {
    const values = new Float32Array(sizeOf(shape));
    // Copying bytes (not viewing) both detaches the result from `bytes` and sidesteps its alignment.
    new Uint8Array(values.buffer).set(bytes.subarray(offset, offset + values.byteLength));
    offset += values.byteLength;
    assertFinite(name, values);
    return { name, shape, values };
  });
}

/**
 * Throws a WeightsError naming the first difference when `actual` and `expected` do not have the same tensor names,
 * order and shapes. `context` starts the message (e.g. "update from client-003").
 */
export function assertSameLayout(
  actual: readonly TensorLayout[],
  expected: readonly TensorLayout[],
  context: string,
): void {
  if (actual.length !== expected.length) {
    throw new WeightsError(
      `${context}: has ${actual.length} tensors but the model has ${expected.length} (${expected.map((tensor) => tensor.name).join(', ')})`,
    );
  }
  actual.forEach((tensor, index) => {
    const wanted = expected[index]!;
    if (tensor.name !== wanted.name) {
      throw new WeightsError(`${context}: tensor ${index} is ${JSON.stringify(tensor.name)} but the model has ${JSON.stringify(wanted.name)} there`);
    }
    const sameShape = tensor.shape.length === wanted.shape.length && tensor.shape.every((dimension, axis) => dimension === wanted.shape[axis]);
    if (!sameShape) {
      throw new WeightsError(
        `${context}: tensor ${JSON.stringify(tensor.name)} has shape ${formatShape(tensor.shape)} but the model's is ${formatShape(wanted.shape)}`,
      );
    }
  });
}

/** Throws a WeightsError when `values` holds NaN or ±Inf, naming the tensor, the first bad index and how many. */
export function assertFinite(name: string, values: Float32Array, context = 'weights'): void {
  let firstBad = -1;
  let badCount = 0;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      if (firstBad < 0) firstBad = i;
      badCount++;
    }
  }
  if (firstBad >= 0) {
    const more = badCount > 1 ? ` (${badCount} of its ${values.length} values are not finite)` : '';
    throw new WeightsError(`${context}: tensor ${JSON.stringify(name)} value ${firstBad} is ${values[firstBad]}${more}`);
  }
}

function parseManifest(manifestBytes: Uint8Array): readonly TensorLayout[] {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(manifestBytes));
  } catch {
    throw new WeightsError('weights: corrupt: the manifest is not valid UTF-8 JSON');
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('');
    throw new WeightsError(`weights: corrupt: manifest${where}: ${issue.message}`);
  }
  return parsed.data;
}

export function alignTo4(offset: number): number {
  return Math.ceil(offset / 4) * 4;
}
