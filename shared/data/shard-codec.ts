import { MAX_CLASSES, NUM_CLASSES, sampleSize, type Dataset, type Normalization } from './types.js';

/**
 * A labelled image set as one binary object, little-endian: a client's shard, and an imported dataset's train and
 * test sets (datasets/<name>/train.bin). Version 2:
 *
 *   offset  size              field
 *   0       4                 magic "FLSD"
 *   4       4   uint32        format version (2)
 *   8       4   uint32        count
 *   12      4   uint32        rows
 *   16      4   uint32        cols
 *   20      4   uint32        channels
 *   24      4   uint32        classes (labels are 0..classes−1)
 *   28      4   uint32        n: normalised channels, 0 (pixels only scaled to [0, 1]) or channels
 *   32      8n  float32 pairs per-channel mean and standard deviation, on the [0, 1] scale
 *   H       count             labels, uint8                                (H = 32 + 8n)
 *   H+count count×rows×cols×channels  pixels, uint8, row-major with channels interleaved
 *
 * Version 1 (grey 28×28 MNIST shards of earlier builds: 20-byte header, no channels, classes or normalisation) is
 * still read. Raw bytes rather than JSON or float tensors: an MNIST shard of 12,000 images is 9.4 MB this way, and
 * decoding is a copy, not a parse.
 */
const MAGIC = 'FLSD';
const VERSION = 2;
const HEADER_BYTES = 32;
const V1_HEADER_BYTES = 20;

export class ShardFormatError extends Error {
  override name = 'ShardFormatError';
}

export function encodeShard(dataset: Dataset): Uint8Array {
  const { count, rows, cols, channels, classes, images, labels, normalization } = dataset;
  for (const [field, value] of [['count', count], ['rows', rows], ['cols', cols], ['channels', channels]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
      throw new ShardFormatError(`cannot encode shard: ${field} must be an integer from 0 to 2^32−1 (got ${value})`);
    }
  }
  if (!Number.isInteger(classes) || classes < 1 || classes > MAX_CLASSES) {
    throw new ShardFormatError(`cannot encode shard: classes must be an integer from 1 to ${MAX_CLASSES} (got ${classes})`);
  }
  if (labels.length !== count) {
    throw new ShardFormatError(`cannot encode shard: ${labels.length} labels for ${count} images`);
  }
  if (images.length !== count * sampleSize(dataset)) {
    throw new ShardFormatError(
      `cannot encode shard: ${images.length} pixels, expected ${count}×${rows}×${cols}×${channels} = ${count * sampleSize(dataset)}`,
    );
  }
  assertLabels(labels, classes, 'cannot encode shard');
  const normalized = normalization ? channels : 0;
  if (normalization) checkNormalization(normalization, channels, 'cannot encode shard');

  const labelsAt = HEADER_BYTES + 8 * normalized;
  const bytes = new Uint8Array(labelsAt + count + images.length);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, count, true);
  view.setUint32(12, rows, true);
  view.setUint32(16, cols, true);
  view.setUint32(20, channels, true);
  view.setUint32(24, classes, true);
  view.setUint32(28, normalized, true);
  for (let c = 0; c < normalized; c++) {
    view.setFloat32(HEADER_BYTES + 8 * c, normalization!.mean[c]!, true);
    view.setFloat32(HEADER_BYTES + 8 * c + 4, normalization!.std[c]!, true);
  }
  bytes.set(labels, labelsAt);
  bytes.set(images, labelsAt + count);
  return bytes;
}

/** The shard in `bytes`. Its arrays are copies, so a caller may reuse `bytes` (e.g. a pooled Buffer) afterwards. */
export function decodeShard(bytes: Uint8Array): Dataset {
  if (bytes.byteLength < 8) {
    throw new ShardFormatError(`not a shard: ${bytes.byteLength} bytes is shorter than the header`);
  }
  const magic = new TextDecoder().decode(bytes.subarray(0, 4));
  if (magic !== MAGIC) {
    const hex = (data: Uint8Array) => Array.from(data, (byte) => byte.toString(16).padStart(2, '0')).join(' ');
    throw new ShardFormatError(`not a shard: starts with bytes ${hex(bytes.subarray(0, 8))}, expected ${hex(new TextEncoder().encode(MAGIC))} "${MAGIC}"`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== VERSION && version !== 1) {
    throw new ShardFormatError(`shard format version ${version} is not supported (this build reads versions 1 and ${VERSION})`);
  }
  const headerBytes = version === 1 ? V1_HEADER_BYTES : HEADER_BYTES;
  if (bytes.byteLength < headerBytes) {
    throw new ShardFormatError(`not a shard: ${bytes.byteLength} bytes is shorter than the ${headerBytes}-byte header`);
  }
  const count = view.getUint32(8, true);
  const rows = view.getUint32(12, true);
  const cols = view.getUint32(16, true);
  const channels = version === 1 ? 1 : view.getUint32(20, true);
  const classes = version === 1 ? NUM_CLASSES : view.getUint32(24, true);
  const normalized = version === 1 ? 0 : view.getUint32(28, true);
  if (classes < 1 || classes > MAX_CLASSES) throw new ShardFormatError(`corrupt shard: header says ${classes} classes (1 to ${MAX_CLASSES})`);
  if (normalized !== 0 && normalized !== channels) {
    throw new ShardFormatError(`corrupt shard: ${normalized} normalised channels for images of ${channels} channels`);
  }
  const labelsAt = headerBytes + 8 * normalized;
  const pixels = count * rows * cols * channels;
  const expectedBytes = labelsAt + count + pixels;
  if (bytes.byteLength !== expectedBytes) {
    const problem = bytes.byteLength < expectedBytes ? 'truncated' : 'has trailing bytes';
    throw new ShardFormatError(
      `shard ${problem}: header says ${count} images of ${rows}×${cols}×${channels} (${expectedBytes} bytes), got ${bytes.byteLength} bytes`,
    );
  }
  let normalization: Normalization | undefined;
  if (normalized > 0) {
    const mean = Array.from({ length: normalized }, (_, c) => view.getFloat32(headerBytes + 8 * c, true));
    const std = Array.from({ length: normalized }, (_, c) => view.getFloat32(headerBytes + 8 * c + 4, true));
    normalization = { mean, std };
    checkNormalization(normalization, channels, 'corrupt shard');
  }
  // new Uint8Array(view) copies; `slice` would not when `bytes` is a Node Buffer.
  const labels = new Uint8Array(bytes.subarray(labelsAt, labelsAt + count));
  assertLabels(labels, classes, 'corrupt shard');
  const images = new Uint8Array(bytes.subarray(labelsAt + count, expectedBytes));
  return { count, rows, cols, channels, classes, labels, images, ...(normalization ? { normalization } : {}) };
}

function assertLabels(labels: Uint8Array, classes: number, context: string): void {
  const bad = labels.findIndex((label) => label >= classes);
  if (bad >= 0) throw new ShardFormatError(`${context}: image ${bad} has label ${labels[bad]}, expected 0–${classes - 1}`);
}

function checkNormalization(normalization: Normalization, channels: number, context: string): void {
  const { mean, std } = normalization;
  if (mean.length !== channels || std.length !== channels) {
    throw new ShardFormatError(`${context}: normalisation has ${mean.length} means and ${std.length} deviations for ${channels} channels`);
  }
  if (!mean.every(Number.isFinite) || !std.every((s) => Number.isFinite(s) && s > 0)) {
    throw new ShardFormatError(`${context}: normalisation needs finite means and positive deviations (got mean ${mean.join(', ')}, std ${std.join(', ')})`);
  }
}
