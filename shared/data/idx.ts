import { gunzipSync } from 'node:zlib';
import { DatasetFormatError, MAX_CLASSES, NUM_CLASSES, type Dataset } from './types.js';

/**
 * The IDX format of MNIST and Fashion-MNIST (yann.lecun.com/exdb/mnist): a big-endian magic 0x0000TTDD (TT the
 * element type, 0x08 for unsigned bytes; DD the number of dimensions), one uint32 per dimension, then the data.
 * Image files are 3-D (count, rows, cols) for grey images or 4-D (count, rows, cols, channels) for colour ones;
 * label files are 1-D.
 */
const UNSIGNED_BYTE = 0x08;
const GZIP_MAGIC = [0x1f, 0x8b] as const;

export interface IdxArray {
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

/** The bytes themselves, or their gunzipped content when they start with the gzip magic. */
export function gunzipIfNeeded(bytes: Uint8Array, what: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    const unzipped = gunzipSync(bytes);
    return new Uint8Array(unzipped.buffer, unzipped.byteOffset, unzipped.byteLength);
  } catch (error) {
    throw new DatasetFormatError(`${what}: gzip data is truncated or corrupt (${(error as Error).message})`);
  }
}

/** An unsigned-byte IDX array of any rank, checked against its header: the data must be exactly as long as it says. */
export function decodeIdx(bytes: Uint8Array, what: string): IdxArray {
  if (bytes.byteLength < 4) throw new DatasetFormatError(`${what}: ${bytes.byteLength} bytes is too short for an IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const type = (magic >>> 8) & 0xff;
  const rank = magic & 0xff;
  if (magic >>> 16 !== 0 || type !== UNSIGNED_BYTE || rank < 1 || rank > 4) {
    throw new DatasetFormatError(
      `${what}: starts with 0x${magic.toString(16).padStart(8, '0')}, not an unsigned-byte IDX file (0x00000801 to 0x00000804)`,
    );
  }
  const headerBytes = 4 + 4 * rank;
  if (bytes.byteLength < headerBytes) throw new DatasetFormatError(`${what}: truncated inside its ${headerBytes}-byte IDX header`);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.byteLength - headerBytes;
  if (actual !== expected) {
    const problem = actual < expected ? 'truncated' : 'longer than its header says';
    throw new DatasetFormatError(`${what}: ${problem}: header says ${dims.join(' × ')} = ${expected} bytes of data, found ${actual}`);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** An unsigned-byte IDX file of `dims` around `data` (tests, and the files the PyTorch reference reads). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.byteLength !== expected) throw new DatasetFormatError(`cannot encode IDX: ${data.byteLength} bytes for ${dims.join(' × ')}`);
  const bytes = new Uint8Array(4 + 4 * dims.length + data.byteLength);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, (UNSIGNED_BYTE << 8) | dims.length, false);
  dims.forEach((dim, i) => view.setUint32(4 + 4 * i, dim, false));
  bytes.set(data, 4 + 4 * dims.length);
  return bytes;
}

export interface IdxDatasetOptions {
  /** labels must be below this (default 10); a label at or above it is refused */
  readonly classes?: number;
  /** names the pair in messages, e.g. "train" */
  readonly what?: string;
}

/**
 * An image file and a label file (raw or gzipped IDX) as a Dataset, checking magic numbers, sizes, that both hold the
 * same number of items, and that every label is a class of the dataset.
 */
export function datasetFromIdx(imagesIdx: Uint8Array, labelsIdx: Uint8Array, options: IdxDatasetOptions = {}): Dataset {
  const prefix = options.what ? `${options.what} ` : '';
  const images = decodeIdx(gunzipIfNeeded(imagesIdx, `${prefix}images`), `${prefix}images`);
  const labels = decodeIdx(gunzipIfNeeded(labelsIdx, `${prefix}labels`), `${prefix}labels`);
  if (images.dims.length !== 3 && images.dims.length !== 4) {
    throw new DatasetFormatError(
      `${prefix}images: a ${images.dims.length}-D IDX array (${images.dims.join(' × ')}), expected count × rows × cols or count × rows × cols × channels` +
        (images.dims.length === 1 ? ': is this a label file?' : ''),
    );
  }
  if (labels.dims.length !== 1) {
    throw new DatasetFormatError(
      `${prefix}labels: a ${labels.dims.length}-D IDX array (${labels.dims.join(' × ')}), expected one label per image` +
        (labels.dims.length >= 3 ? ': is this an image file?' : ''),
    );
  }
  const [count = 0, rows = 0, cols = 0, channels = 1] = images.dims;
  const [labelCount = 0] = labels.dims;
  if (labelCount !== count) throw new DatasetFormatError(`${prefix}images has ${count} items but ${prefix}labels has ${labelCount}`);
  if (rows < 1 || cols < 1 || channels < 1) throw new DatasetFormatError(`${prefix}images: empty image shape ${rows}×${cols}×${channels}`);
  const classes = options.classes ?? NUM_CLASSES;
  assertClassCount(classes);
  assertLabelsBelow(labels.data, classes, `${prefix}labels`);
  return { count, rows, cols, channels, classes, images: images.data, labels: labels.data };
}

export function assertClassCount(classes: number): void {
  if (!Number.isInteger(classes) || classes < 2 || classes > MAX_CLASSES) {
    throw new DatasetFormatError(`a dataset has 2 to ${MAX_CLASSES} classes (got ${classes})`);
  }
}

export function assertLabelsBelow(labels: Uint8Array, classes: number, what: string): void {
  const bad = labels.findIndex((label) => label >= classes);
  if (bad >= 0) {
    throw new DatasetFormatError(`${what}: item ${bad} has label ${labels[bad]}, but the dataset has ${classes} classes (labels 0–${classes - 1})`);
  }
}
