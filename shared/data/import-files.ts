import { createHash } from 'node:crypto';
import type { DatasetRecord } from './catalog.js';
import { decodeIdx, gunzipIfNeeded } from './idx.js';

/** The files an import is handed, and how they are recognised: by their IDX header first, their name second. */

export class DatasetImportError extends Error {
  override name = 'DatasetImportError';
}

export interface InputFile {
  /** as the user gave it; only its last segment is used, to recognise the file */
  readonly path: string;
  readonly bytes: Uint8Array;
}

export type DecodedFile = InputFile & { readonly content: Uint8Array };
export interface IdxPair {
  images: DecodedFile;
  labels: DecodedFile;
}

/** Images or labels, by the IDX header; a name that says otherwise means the files were mixed up. */
export function classify(file: InputFile): { kind: 'images' | 'labels'; content: Uint8Array } {
  const label = baseName(file.path);
  const content = gunzipIfNeeded(file.bytes, label);
  const { dims } = decodeIdx(content, label);
  const kind = dims.length === 1 ? 'labels' : dims.length >= 3 ? 'images' : undefined;
  if (!kind) throw new DatasetImportError(`${label}: a ${dims.length}-D IDX array (${dims.join(' × ')}) is neither images nor labels`);
  const lower = label.toLowerCase();
  const named = lower.includes('label') ? 'labels' : lower.includes('image') ? 'images' : undefined;
  if (named && named !== kind) {
    throw new DatasetImportError(`${label}: named like a ${named} file but holds ${kind} (${dims.join(' × ')}): were the files mixed up?`);
  }
  return { kind, content };
}

export function naturalPair(files: readonly InputFile[]): IdxPair {
  if (files.length !== 2) throw new DatasetImportError(`a client's data (or a test set) is one images file and one labels file (got ${files.length} files)`);
  const pair: Partial<IdxPair> = {};
  for (const file of files) {
    const { kind, content } = classify(file);
    if (pair[kind]) throw new DatasetImportError(`both files hold ${kind}: ${baseName(pair[kind].path)} and ${baseName(file.path)}`);
    pair[kind] = { ...file, content };
  }
  return pair as IdxPair;
}

export function sourceFile(file: InputFile, content: Uint8Array): DatasetRecord['files'][number] {
  return { name: baseName(file.path), bytes: file.bytes.byteLength, md5: md5Hex(content) };
}

export function md5Hex(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

export function baseName(filePath: string): string {
  return filePath.split(/[\\/]/).pop() ?? filePath;
}

export function stripGzip(name: string): string {
  return name.replace(/\.gz$/i, '');
}

export function splitOf(name: string): 'train' | 'test' | undefined {
  const lower = name.toLowerCase();
  if (lower.includes('t10k') || lower.includes('test')) return 'test';
  if (lower.includes('train')) return 'train';
  return undefined;
}

export function previewNames(names: readonly string[]): string {
  return names.length <= 10 ? names.join(', ') : `${names.slice(0, 8).join(', ')}, … ${names.at(-1)}`;
}

export function describeHistogram(histogram: readonly number[]): string {
  const present = histogram.flatMap((count, label) => (count > 0 ? [`${label}×${count}`] : []));
  return present.length <= 12 ? present.join(', ') : `${present.length} of ${histogram.length} classes`;
}
