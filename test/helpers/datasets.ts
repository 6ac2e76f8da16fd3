import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { create as createTar } from 'tar';
import { encodeIdx } from '../../shared/data/idx.js';
import type { SampleShape } from '../../shared/data/types.js';
import { createRandom } from '../../shared/random.js';

/**
 * Test data in the exact published formats: IDX files (raw and gzipped) and CIFAR-10's binary archive, made from
 * seeded images whose class shows in the pixels, so a model can learn them.
 */

export interface SyntheticImages {
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
}

/** `count` images of `shape`: label k brightens the k-th band of rows in every channel, over seeded noise. */
export function syntheticImages(count: number, shape: SampleShape, classes: number, seed: number): SyntheticImages {
  const [height, width, channels] = shape;
  const random = createRandom(seed);
  const labels = Uint8Array.from({ length: count }, () => random.nextInt(classes));
  const images = new Uint8Array(count * height * width * channels);
  const bandRows = Math.max(1, Math.floor(height / classes));
  for (let n = 0; n < count; n++) {
    const band = labels[n]! % Math.max(1, Math.floor(height / bandRows));
    for (let y = 0; y < height; y++) {
      const lit = Math.floor(y / bandRows) === band;
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < channels; c++) {
          images[((n * height + y) * width + x) * channels + c] = (lit ? 150 : 20) + random.nextInt(80) + c * 10;
        }
      }
    }
  }
  return { images, labels };
}

/** IDX image and label files of the set: 3-D for one channel (like MNIST), 4-D otherwise. */
export function idxFiles(set: SyntheticImages, shape: SampleShape): { images: Uint8Array; labels: Uint8Array } {
  const [height, width, channels] = shape;
  const count = set.labels.length;
  const dims = channels === 1 ? [count, height, width] : [count, height, width, channels];
  return { images: encodeIdx(dims, set.images), labels: encodeIdx([count], set.labels) };
}

export const gzip = (bytes: Uint8Array): Uint8Array => new Uint8Array(gzipSync(bytes, { level: 1 }));

export function md5(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

export const CIFAR_CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** The value of CIFAR record `record` of batch `batch` at channel plane `channel`, pixel `pixel` (row-major). */
export function cifarPixel(batch: number, record: number, channel: number, pixel: number): number {
  return (cifarLabel(batch, record) * 23 + channel * 60 + ((pixel * 13 + record) % 71)) & 0xff;
}

export function cifarLabel(batch: number, record: number): number {
  return (record * 7 + batch) % 10;
}

export interface CifarArchiveOptions {
  /** bytes cut from the end of this member */
  readonly truncate?: { readonly member: string; readonly bytes: number };
  /** a label byte ≥ 10 in this member's record */
  readonly badLabel?: { readonly member: string; readonly record: number; readonly label: number };
  readonly omit?: string;
}

/**
 * cifar-10-binary.tar.gz as published: cifar-10-batches-bin/ with data_batch_1..5.bin and test_batch.bin (10,000
 * records of 1 label byte + 1,024 red, 1,024 green and 1,024 blue bytes each) and batches.meta.txt, tarred with
 * node-tar and gzipped. Returns the archive's path, size and MD5 (the checksum the test then expects).
 */
export async function writeCifarArchive(dir: string, name: string, options: CifarArchiveOptions = {}): Promise<{ file: string; bytes: number; md5: string }> {
  const root = path.join(dir, `${name}-tree`);
  const folder = path.join(root, 'cifar-10-batches-bin');
  await mkdir(folder, { recursive: true });
  const members = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'];
  for (const [batch, member] of members.entries()) {
    if (options.omit === member) continue;
    const bytes = new Uint8Array(10_000 * 3073);
    for (let record = 0; record < 10_000; record++) {
      const at = record * 3073;
      bytes[at] = cifarLabel(batch, record);
      for (let channel = 0; channel < 3; channel++) {
        for (let pixel = 0; pixel < 1024; pixel++) bytes[at + 1 + channel * 1024 + pixel] = cifarPixel(batch, record, channel, pixel);
      }
    }
    if (options.badLabel?.member === member) bytes[options.badLabel.record * 3073] = options.badLabel.label;
    const cut = options.truncate?.member === member ? options.truncate.bytes : 0;
    await writeFile(path.join(folder, member), bytes.subarray(0, bytes.byteLength - cut));
  }
  await writeFile(path.join(folder, 'batches.meta.txt'), `${CIFAR_CLASS_NAMES.join('\n')}\n\n`);
  await writeFile(path.join(folder, 'readme.html'), '<meta HTTP-EQUIV="REFRESH" content="0; url=http://www.cs.toronto.edu/~kriz/cifar.html">\n');
  const file = path.join(dir, `${name}.tar.gz`);
  await createTar({ gzip: { level: 1 }, cwd: root, file, portable: true }, ['cifar-10-batches-bin']);
  await rm(root, { recursive: true, force: true });
  const archive = new Uint8Array(await readFile(file));
  return { file, bytes: archive.byteLength, md5: md5(archive) };
}
