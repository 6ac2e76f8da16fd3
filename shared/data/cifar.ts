import { Parser, type ReadEntry } from 'tar';
import { gunzipIfNeeded } from './idx.js';
import { DatasetFormatError, type Dataset } from './types.js';

/**
 * CIFAR-10's binary version (cifar-10-binary.tar.gz): cifar-10-batches-bin/ holds data_batch_1.bin … data_batch_5.bin
 * and test_batch.bin, 10,000 records each of 1 label byte and 3,072 pixel bytes — the 1,024 red values of the 32×32
 * image row by row, then the green, then the blue — and batches.meta.txt, the class names one per line.
 */
export const CIFAR_SIDE = 32;
export const CIFAR_CHANNELS = 3;
const PLANE = CIFAR_SIDE * CIFAR_SIDE;
const RECORD_BYTES = 1 + CIFAR_CHANNELS * PLANE;
export const CIFAR_RECORDS_PER_BATCH = 10_000;
export const CIFAR_TRAIN_BATCHES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'] as const;
export const CIFAR_TEST_BATCH = 'test_batch.bin';
export const CIFAR_META = 'batches.meta.txt';
export const CIFAR_FOLDER = 'cifar-10-batches-bin';
const CIFAR_CLASSES = 10;

export interface CifarArchive {
  readonly train: Dataset;
  readonly test: Dataset;
  readonly classNames: readonly string[];
}

/** The archive's regular files by their name inside cifar-10-batches-bin/ (other folders' files are ignored). */
export async function readTarMembers(archive: Uint8Array, what: string): Promise<Map<string, Uint8Array>> {
  const tarBytes = gunzipIfNeeded(archive, what);
  const members = new Map<string, Uint8Array>();
  const problems: string[] = [];
  await new Promise<void>((resolve) => {
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => chunks.push(chunk));
        entry.on('end', () => {
          if (entry.type === 'File' || entry.type === 'OldFile') {
            const body = Buffer.concat(chunks);
            members.set(entry.path, new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
          }
        });
      },
    });
    parser.on('error', (error: Error) => problems.push(error.message));
    parser.on('close', () => resolve());
    parser.end(Buffer.from(tarBytes.buffer, tarBytes.byteOffset, tarBytes.byteLength));
  });
  if (problems.length > 0) throw new DatasetFormatError(`${what}: not a readable tar archive (${problems[0]})`);
  if (members.size === 0) throw new DatasetFormatError(`${what}: a tar archive with no files in it`);
  return members;
}

/** Parses the archive's batches into our layout (images height × width × channels), checking every record. */
export async function readCifar10Archive(archive: Uint8Array, what = 'cifar-10-binary.tar.gz'): Promise<CifarArchive> {
  const members = await readTarMembers(archive, what);
  const member = (name: string): Uint8Array => {
    const found = members.get(`${CIFAR_FOLDER}/${name}`) ?? members.get(name);
    if (!found) {
      throw new DatasetFormatError(
        `${what}: ${CIFAR_FOLDER}/${name} is missing (the archive holds ${[...members.keys()].slice(0, 8).join(', ')}); is this the binary version of CIFAR-10?`,
      );
    }
    return found;
  };
  const classNames = new TextDecoder()
    .decode(member(CIFAR_META))
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  if (classNames.length !== CIFAR_CLASSES) {
    throw new DatasetFormatError(`${what}: ${CIFAR_META} names ${classNames.length} classes, CIFAR-10 has ${CIFAR_CLASSES}`);
  }
  const train = batchesToDataset(CIFAR_TRAIN_BATCHES.map((name) => ({ name, bytes: member(name) })), what);
  const test = batchesToDataset([{ name: CIFAR_TEST_BATCH, bytes: member(CIFAR_TEST_BATCH) }], what);
  return { train, test, classNames };
}

function batchesToDataset(batches: readonly { name: string; bytes: Uint8Array }[], what: string): Dataset {
  const count = batches.length * CIFAR_RECORDS_PER_BATCH;
  const images = new Uint8Array(count * RECORD_BYTES - count);
  const labels = new Uint8Array(count);
  batches.forEach(({ name, bytes }, batch) => {
    const expected = CIFAR_RECORDS_PER_BATCH * RECORD_BYTES;
    if (bytes.byteLength !== expected) {
      const problem = bytes.byteLength < expected ? 'truncated' : 'too long';
      throw new DatasetFormatError(
        `${what}: ${name} is ${problem}: ${bytes.byteLength.toLocaleString('en-US')} bytes, expected ${CIFAR_RECORDS_PER_BATCH.toLocaleString('en-US')} ` +
          `records of ${RECORD_BYTES.toLocaleString('en-US')} bytes (${expected.toLocaleString('en-US')})`,
      );
    }
    for (let record = 0; record < CIFAR_RECORDS_PER_BATCH; record++) {
      const from = record * RECORD_BYTES;
      const label = bytes[from]!;
      if (label >= CIFAR_CLASSES) {
        throw new DatasetFormatError(`${what}: ${name} record ${record} has label ${label}, CIFAR-10's labels are 0–${CIFAR_CLASSES - 1}`);
      }
      const sample = batch * CIFAR_RECORDS_PER_BATCH + record;
      labels[sample] = label;
      // channel-major planes → channels interleaved per pixel
      const to = sample * CIFAR_CHANNELS * PLANE;
      const red = from + 1;
      for (let pixel = 0, at = to; pixel < PLANE; pixel++, at += CIFAR_CHANNELS) {
        images[at] = bytes[red + pixel]!;
        images[at + 1] = bytes[red + PLANE + pixel]!;
        images[at + 2] = bytes[red + 2 * PLANE + pixel]!;
      }
    }
  });
  return { count, rows: CIFAR_SIDE, cols: CIFAR_SIDE, channels: CIFAR_CHANNELS, classes: CIFAR_CLASSES, images, labels };
}
