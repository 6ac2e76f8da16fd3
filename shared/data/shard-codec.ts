import { NUM_CLASSES, type Dataset } from './types.js';

/**
 * A client's shard as one binary object, little-endian:
 *
 *   offset  size              field
 *   0       4                 magic "FLSD"
 *   4       4   uint32        format version (1)
 *   8       4   uint32        count
 *   12      4   uint32        rows
 *   16      4   uint32        cols
 *   20      count             labels, uint8 0–9
 *   20+count count×rows×cols  pixels, uint8, row-major
 *
 * Raw bytes rather than JSON or float tensors: an MNIST shard of 12,000 images is 9.4 MB this way, and decoding is a
 * copy, not a parse.
 */
const MAGIC = 'FLSD';
const VERSION = 1;
const HEADER_BYTES = 20;

export class ShardFormatError extends Error {
  override name = 'ShardFormatError';
}

export function encodeShard(dataset: Dataset): Uint8Array {
  const { count, rows, cols, images, labels } = dataset;
  for (const [field, value] of [['count', count], ['rows', rows], ['cols', cols]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
      throw new ShardFormatError(`cannot encode shard: ${field} must be an integer from 0 to 2^32−1 (got ${value})`);
    }
  }
  if (labels.length !== count) {
    throw new ShardFormatError(`cannot encode shard: ${labels.length} labels for ${count} images`);
  }
  if (images.length !== count * rows * cols) {
    throw new ShardFormatError(`cannot encode shard: ${images.length} pixels, expected ${count}×${rows}×${cols} = ${count * rows * cols}`);
  }
  assertLabels(labels, 'cannot encode shard');

  const bytes = new Uint8Array(HEADER_BYTES + count + images.length);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, count, true);
  view.setUint32(12, rows, true);
  view.setUint32(16, cols, true);
  bytes.set(labels, HEADER_BYTES);
  bytes.set(images, HEADER_BYTES + count);
  return bytes;
}

/**
 * How many images a shard of `byteLength` bytes holds, for images of `pixelsPerImage` pixels: what the aggregator
 * checks a client's claimed sample count against from the shard's size alone (HEAD), without reading it.
 */
export function shardSampleCount(byteLength: number, pixelsPerImage: number): number {
  const count = (byteLength - HEADER_BYTES) / (1 + pixelsPerImage);
  if (!Number.isInteger(count) || count < 0) {
    throw new ShardFormatError(`a shard of ${byteLength} bytes cannot hold whole images of ${pixelsPerImage} pixels`);
  }
  return count;
}

/** The shard in `bytes`. Its arrays are copies, so a caller may reuse `bytes` (e.g. a pooled Buffer) afterwards. */
export function decodeShard(bytes: Uint8Array): Dataset {
  if (bytes.byteLength < HEADER_BYTES) {
    throw new ShardFormatError(`not a shard: ${bytes.byteLength} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  }
  const magic = new TextDecoder().decode(bytes.subarray(0, 4));
  if (magic !== MAGIC) {
    const hex = (data: Uint8Array) => Array.from(data, (byte) => byte.toString(16).padStart(2, '0')).join(' ');
    throw new ShardFormatError(`not a shard: starts with bytes ${hex(bytes.subarray(0, 8))}, expected ${hex(new TextEncoder().encode(MAGIC))} "${MAGIC}"`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== VERSION) {
    throw new ShardFormatError(`shard format version ${version} is not supported (this build reads version ${VERSION})`);
  }
  const count = view.getUint32(8, true);
  const rows = view.getUint32(12, true);
  const cols = view.getUint32(16, true);
  const pixels = count * rows * cols;
  const expectedBytes = HEADER_BYTES + count + pixels;
  if (bytes.byteLength !== expectedBytes) {
    const problem = bytes.byteLength < expectedBytes ? 'truncated' : 'has trailing bytes';
    throw new ShardFormatError(
      `shard ${problem}: header says ${count} images of ${rows}×${cols} (${expectedBytes} bytes), got ${bytes.byteLength} bytes`,
    );
  }
  // new Uint8Array(view) copies; `slice` would not when `bytes` is a Node Buffer.
  const labels = new Uint8Array(bytes.subarray(HEADER_BYTES, HEADER_BYTES + count));
  assertLabels(labels, 'corrupt shard');
  return { count, rows, cols, labels, images: new Uint8Array(bytes.subarray(HEADER_BYTES + count, expectedBytes)) };
}

function assertLabels(labels: Uint8Array, context: string): void {
  const bad = labels.findIndex((label) => label >= NUM_CLASSES);
  if (bad >= 0) throw new ShardFormatError(`${context}: image ${bad} has label ${labels[bad]}, expected 0–${NUM_CLASSES - 1}`);
}
