import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetRecordSchema, type DatasetRecord } from '../shared/data/catalog.js';
import { gunzipIfNeeded } from '../shared/data/idx.js';
import { DatasetImportError, planImport, type ImportPlan, type ImportRequest, type InputFile } from '../shared/data/import.js';
import { BUILTIN_DATASETS, IDX_ROLES, type IdxRole } from '../shared/data/registry.js';
import { decodeShard } from '../shared/data/shard-codec.js';
import type { Dataset } from '../shared/data/types.js';
import { keys } from '../shared/protocol/keys.js';
import { cifarLabel, cifarPixel, gzip, idxFiles, md5, syntheticImages, writeCifarArchive } from './helpers/datasets.js';

/**
 * `flambda dataset import` without the CLI: the real Fashion-MNIST files Debian installs, and files the test makes in
 * the exact published formats (IDX raw and gzipped, CIFAR-10's binary tar.gz), good and broken.
 */

const FASHION_DIR = '/usr/share/datasets/fashion-mnist';
const FASHION = BUILTIN_DATASETS['fashion-mnist'].source;
if (FASHION.kind !== 'idx') throw new Error('fashion-mnist is registered with idx files');
const FASHION_NAMES = FASHION.files;

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'flambda-import-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function object(plan: ImportPlan, key: string): Uint8Array {
  const found = plan.objects.find((o) => o.key === key);
  expect(found, key).toBeDefined();
  return typeof found!.body === 'string' ? new TextEncoder().encode(found!.body) : found!.body;
}

function decoded(plan: ImportPlan, split: 'train' | 'test'): Dataset {
  return decodeShard(object(plan, keys.datasetSplit(plan.record.name, split)));
}

const refused = (request: ImportRequest) => expect(planImport(request)).rejects.toThrow(DatasetImportError);

describe('Fashion-MNIST, as Debian installs it', () => {
  it('imports the four gzipped idx files with their published checksums, keeping every image and label', async () => {
    expect(existsSync(FASHION_DIR), `${FASHION_DIR} is missing: apt-get install dataset-fashion-mnist`).toBe(true);
    const files: InputFile[] = await Promise.all(
      IDX_ROLES.map(async (role) => {
        const file = path.join(FASHION_DIR, `${FASHION_NAMES[role].name}.gz`);
        return { path: file, bytes: new Uint8Array(await readFile(file)) };
      }),
    );
    const plan = await planImport({ name: 'fashion-mnist', files });
    const record = datasetRecordSchema.parse(JSON.parse(new TextDecoder().decode(object(plan, keys.datasetInfo('fashion-mnist')))));
    expect(record).toMatchObject({ shape: [28, 28, 1], classes: 10, layout: 'central', verified: 'md5', normalization: null });
    expect(record.classNames.slice(0, 2)).toEqual(['T-shirt/top', 'Trouser']);
    expect(record.classNames.at(-1)).toBe('Ankle boot');
    expect(record.train).toEqual({ samples: 60_000, labelHistogram: new Array(10).fill(6000) });
    expect(record.test).toEqual({ samples: 10_000, labelHistogram: new Array(10).fill(1000) });
    // dataset.json goes last: a reader never sees a description of data that is not there yet
    expect(plan.objects.at(-1)!.key).toBe(keys.datasetInfo('fashion-mnist'));

    const test = decoded(plan, 'test');
    const rawImages = gunzipIfNeeded(files[2]!.bytes, 'test images');
    const rawLabels = gunzipIfNeeded(files[3]!.bytes, 'test labels');
    expect(Buffer.from(test.images).equals(Buffer.from(rawImages.subarray(16)))).toBe(true);
    expect(Buffer.from(test.labels).equals(Buffer.from(rawLabels.subarray(8)))).toBe(true);
  });
});

describe('Fashion-MNIST format, from files made here', () => {
  const made = () => {
    const train = idxFiles(syntheticImages(60, [28, 28, 1], 10, 1), [28, 28, 1]);
    const test = idxFiles(syntheticImages(20, [28, 28, 1], 10, 2), [28, 28, 1]);
    const content: Record<IdxRole, Uint8Array> = {
      'train-images': train.images,
      'train-labels': train.labels,
      'test-images': test.images,
      'test-labels': test.labels,
    };
    // The checksums these files have, instead of the published ones: only the counts then differ from Fashion-MNIST's.
    const expected = Object.fromEntries(IDX_ROLES.map((role) => [role, { name: FASHION_NAMES[role].name, md5: md5(content[role]) }])) as Record<
      IdxRole,
      { name: string; md5: string }
    >;
    return { content, expected };
  };
  const asFiles = (content: Record<IdxRole, Uint8Array>, zip: boolean): InputFile[] =>
    IDX_ROLES.map((role) => ({ path: `/data/${FASHION_NAMES[role].name}${zip ? '.gz' : ''}`, bytes: zip ? gzip(content[role]) : content[role] }));

  it('verifies checksums on the content, so gzipped and raw files import alike, and then the counts', async () => {
    const { content, expected } = made();
    for (const zip of [true, false]) {
      await expect(planImport({ name: 'fashion-mnist', files: asFiles(content, zip), expected: { files: expected } })).rejects.toThrow(
        /Fashion-MNIST train: 60 images of 28×28×1, expected 60000 of 28×28×1/,
      );
    }
  });

  it('refuses a file whose checksum is not the published one, naming the file and both checksums', async () => {
    const { content } = made();
    await expect(planImport({ name: 'fashion-mnist', files: asFiles(content, true) })).rejects.toThrow(
      new RegExp(`train-images-idx3-ubyte.gz: the MD5 of its content is ${md5(content['train-images'])}, Fashion-MNIST's train-images-idx3-ubyte has f4a8712d7a061bf5bd6d2ca38dc4d50a`),
    );
  });

  it('refuses truncated files, gzipped or raw, and says where the data ends', async () => {
    const { content, expected } = made();
    const cutGzip = asFiles(content, true).map((file, i) => (i === 0 ? { ...file, bytes: file.bytes.subarray(0, file.bytes.byteLength - 40) } : file));
    await expect(planImport({ name: 'fashion-mnist', files: cutGzip, expected: { files: expected } })).rejects.toThrow(
      /train-images-idx3-ubyte.gz: gzip data is truncated or corrupt/,
    );
    const cutRaw = { ...content, 'test-labels': content['test-labels'].subarray(0, 20) };
    const checksums = { ...expected, 'test-labels': { ...expected['test-labels'], md5: md5(cutRaw['test-labels']) } };
    await expect(planImport({ name: 'fashion-mnist', files: asFiles(cutRaw, false), expected: { files: checksums } })).rejects.toThrow(
      /test labels: truncated: header says 20 = 20 bytes of data, found 12/,
    );
  });

  it('refuses mislabelled files: swapped names, a missing file, a label outside the classes', async () => {
    const { content, expected } = made();
    const swapped = { ...content, 'train-images': content['train-labels'], 'train-labels': content['train-images'] };
    const swappedSums = { ...expected, 'train-images': { ...expected['train-images'], md5: expected['train-labels'].md5 }, 'train-labels': { ...expected['train-labels'], md5: expected['train-images'].md5 } };
    await expect(planImport({ name: 'fashion-mnist', files: asFiles(swapped, false), expected: { files: swappedSums } })).rejects.toThrow(
      /train images: a 1-D IDX array \(60\), expected count × rows × cols.*: is this a label file\?/,
    );
    await expect(planImport({ name: 'fashion-mnist', files: asFiles(content, false).slice(0, 3), expected: { files: expected } })).rejects.toThrow(
      /Fashion-MNIST needs t10k-labels-idx1-ubyte too/,
    );
    const badLabels = content['test-labels'].slice();
    badLabels[8 + 4] = 10;
    const badSums = { ...expected, 'test-labels': { ...expected['test-labels'], md5: md5(badLabels) } };
    await expect(planImport({ name: 'fashion-mnist', files: asFiles({ ...content, 'test-labels': badLabels }, false), expected: { files: badSums } })).rejects.toThrow(
      /test labels: item 4 has label 10, but the dataset has 10 classes \(labels 0–9\)/,
    );
    await refused({ name: 'fashion-mnist', files: [{ path: 'train-images.idx3', bytes: content['train-images'] }] });
  });
});

describe('CIFAR-10 binary, from archives made here in the published format', () => {
  let good: { file: string; bytes: number; md5: string };
  let archiveBytes: Uint8Array;
  beforeAll(async () => {
    good = await writeCifarArchive(scratch, 'cifar-10-binary');
    archiveBytes = new Uint8Array(await readFile(good.file));
  }, 120_000);

  const request = (file: string, bytes: Uint8Array, expected?: { bytes: number; md5: string }): ImportRequest => ({
    name: 'cifar10',
    files: [{ path: file, bytes }],
    ...(expected ? { expected: { archive: { name: 'cifar-10-binary.tar.gz', ...expected } } } : {}),
  });

  it('checks the archive size and MD5 against the published ones first', async () => {
    await expect(planImport(request(good.file, archiveBytes))).rejects.toThrow(
      new RegExp(`cifar-10-binary.tar.gz: ${good.bytes.toLocaleString('en-US')} bytes, but cifar-10-binary.tar.gz has 170,052,171`),
    );
    await expect(planImport(request(good.file, archiveBytes, { bytes: good.bytes, md5: 'c32a1d4ab5d03f1284b67883e8d87530' }))).rejects.toThrow(
      new RegExp(`MD5 ${good.md5}, but cifar-10-binary.tar.gz has c32a1d4ab5d03f1284b67883e8d87530`),
    );
  });

  it('converts every record to height × width × channels and normalises per channel with the training set\'s statistics', async () => {
    const plan = await planImport(request(good.file, archiveBytes, good));
    const record: DatasetRecord = plan.record;
    expect(record).toMatchObject({ name: 'cifar10', shape: [32, 32, 3], classes: 10, verified: 'md5' });
    expect(record.classNames).toEqual(BUILTIN_DATASETS.cifar10.classNames);
    expect(record.files).toEqual([{ name: 'cifar-10-binary.tar.gz', bytes: good.bytes, md5: good.md5 }]);
    const train = decoded(plan, 'train');
    const test = decoded(plan, 'test');
    expect([train.count, test.count]).toEqual([50_000, 10_000]);
    // batch 3 (index 2), record 4321: its label, and pixel (row 5, column 9) of each channel
    const sample = 2 * 10_000 + 4321;
    expect(train.labels[sample]).toBe(cifarLabel(2, 4321));
    for (let channel = 0; channel < 3; channel++) {
      expect(train.images[sample * 3072 + (5 * 32 + 9) * 3 + channel]).toBe(cifarPixel(2, 4321, channel, 5 * 32 + 9));
    }
    expect(test.labels[17]).toBe(cifarLabel(5, 17));
    expect(test.images[17 * 3072 + 2]).toBe(cifarPixel(5, 17, 2, 0));

    // mean and deviation recomputed here from the archive's own bytes, plane by plane
    const sums = [0, 0, 0];
    const squares = [0, 0, 0];
    for (let batch = 0; batch < 5; batch++) {
      for (let r = 0; r < 10_000; r++) {
        for (let c = 0; c < 3; c++) {
          for (let p = 0; p < 1024; p++) {
            const v = cifarPixel(batch, r, c, p) / 255;
            sums[c]! += v;
            squares[c]! += v * v;
          }
        }
      }
    }
    const n = 50_000 * 1024;
    const mean = sums.map((s) => s / n);
    const std = squares.map((s, c) => Math.sqrt(s / n - mean[c]! ** 2));
    record.normalization!.mean.forEach((m, c) => expect(m).toBeCloseTo(mean[c]!, 6));
    record.normalization!.std.forEach((s, c) => expect(s).toBeCloseTo(std[c]!, 6));
    // the shards carry it, so trainers and the evaluator standardise the same way
    expect(train.normalization!.mean[1]).toBeCloseTo(mean[1]!, 6);
    expect(test.normalization!.std[2]).toBeCloseTo(std[2]!, 6);
  }, 120_000);

  it('refuses a truncated batch, a label outside CIFAR-10\'s ten, and a missing batch, naming the member', async () => {
    const cases = [
      { options: { truncate: { member: 'data_batch_3.bin', bytes: 1000 } }, message: /data_batch_3.bin is truncated: 30,729,000 bytes, expected 10,000 records of 3,073 bytes \(30,730,000\)/ },
      { options: { badLabel: { member: 'test_batch.bin', record: 17, label: 10 } }, message: /test_batch.bin record 17 has label 10, CIFAR-10's labels are 0–9/ },
      { options: { omit: 'test_batch.bin' }, message: /cifar-10-batches-bin\/test_batch.bin is missing/ },
    ];
    for (const [index, { options, message }] of cases.entries()) {
      const broken = await writeCifarArchive(scratch, `broken-${index}`, options);
      const bytes = new Uint8Array(await readFile(broken.file));
      await expect(planImport(request(broken.file, bytes, broken))).rejects.toThrow(message);
      await rm(broken.file);
    }
    // not even a tar archive
    const notTar = gzip(new TextEncoder().encode('not a tar archive at all'.repeat(40)));
    await expect(planImport(request('cifar-10-binary.tar.gz', notTar, { bytes: notTar.byteLength, md5: md5(notTar) }))).rejects.toThrow(/not a readable tar archive|no files/);
  }, 300_000);
});

describe('your own dataset in idx format', () => {
  const shape = [12, 10, 3] as const;
  const files = (classes: number, zip = false): InputFile[] => {
    const train = idxFiles(syntheticImages(40, shape, classes, 3), shape);
    const test = idxFiles(syntheticImages(15, shape, classes, 4), shape);
    const wrap = (bytes: Uint8Array) => (zip ? gzip(bytes) : bytes);
    return [
      { path: 'letters/train-images-idx4-ubyte', bytes: wrap(train.images) },
      { path: 'letters/train-labels-idx1-ubyte', bytes: wrap(train.labels) },
      { path: 'letters/test-images-idx4-ubyte', bytes: wrap(test.images) },
      { path: 'letters/test-labels-idx1-ubyte', bytes: wrap(test.labels) },
    ];
  };

  it('takes any image size and class count, with class names', async () => {
    const plan = await planImport({ name: 'letters', files: files(5, true), classNames: ['a', 'b', 'c', 'd', 'e'] });
    expect(plan.record).toMatchObject({ shape: [12, 10, 3], classes: 5, classNames: ['a', 'b', 'c', 'd', 'e'], verified: 'structure', normalization: null });
    expect(decoded(plan, 'train')).toMatchObject({ count: 40, rows: 12, cols: 10, channels: 3, classes: 5 });
    // the class count defaults to the largest label + 1; per-channel normalisation on request
    const inferred = await planImport({ name: 'letters', files: files(5), normalize: 'per-channel' });
    expect(inferred.record.classes).toBe(5);
    expect(inferred.record.classNames).toEqual(['0', '1', '2', '3', '4']);
    expect(inferred.record.normalization?.mean).toHaveLength(3);
  });

  it('refuses a class count the labels do not fit, a split it cannot tell, and a built-in name', async () => {
    await expect(planImport({ name: 'letters', files: files(5), classes: 3 })).rejects.toThrow(/item \d+ has label [34], but the dataset has 3 classes \(labels 0–2\)/);
    await expect(planImport({ name: 'letters', files: files(5), classes: 4, classNames: ['a', 'b', 'c'] })).rejects.toThrow(/--classes 4 but --class-names lists 3 names/);
    const unnamed = files(5).map((file, i) => (i === 0 ? { ...file, path: 'letters/images-idx4-ubyte' } : file));
    await expect(planImport({ name: 'letters', files: unnamed })).rejects.toThrow(/cannot tell training from test data/);
    await expect(planImport({ name: 'letters', files: files(5).slice(0, 3) })).rejects.toThrow(/the test labels file is missing/);
    await expect(planImport({ name: 'mnist', files: files(5) })).rejects.toThrow(/mnist is built in/);
    await expect(planImport({ name: 'Letters!', files: files(5) })).rejects.toThrow(/dataset names use lowercase letters/);
  });
});

describe('natural partitions: each client imported on its own', () => {
  const shape = [8, 8, 1] as const;
  const clientFiles = (seed: number, count = 30, classes = 4, s: readonly [number, number, number] = shape): InputFile[] => {
    const idx = idxFiles(syntheticImages(count, s, classes, seed), s);
    return [
      { path: `c${seed}-images.idx`, bytes: idx.images },
      { path: `c${seed}-labels.idx`, bytes: idx.labels },
    ];
  };

  it('builds the dataset client by client, with metadata apart from the data, and a test set', async () => {
    await expect(planImport({ name: 'clinics', client: 'north', files: clientFiles(1) })).rejects.toThrow(/must say how many classes/);
    const first = await planImport({ name: 'clinics', client: 'north', classes: 4, files: clientFiles(1) });
    expect(first.record).toMatchObject({ layout: 'natural', clients: ['north'], classes: 4, train: null, test: null });
    expect(first.client).toMatchObject({ clientId: 'north', samples: 30 });
    expect(first.objects.map((o) => o.key)).toEqual([
      keys.datasetClientData('clinics', 'north'),
      keys.datasetClientInfo('clinics', 'north'),
      keys.datasetInfo('clinics'),
    ]);
    const second = await planImport({ name: 'clinics', client: 'south', files: clientFiles(2, 12), existing: first.record });
    expect(second.record.clients).toEqual(['north', 'south']);
    const test = await planImport({ name: 'clinics', test: true, files: clientFiles(3, 20), existing: second.record });
    expect(test.record.test?.samples).toBe(20);
    expect(test.record.clients).toEqual(['north', 'south']);
  });

  it('refuses a client whose images or classes do not match the dataset, and mixing layouts', async () => {
    const first = (await planImport({ name: 'clinics', client: 'north', classes: 4, files: clientFiles(1) })).record;
    await expect(planImport({ name: 'clinics', client: 'east', files: clientFiles(4, 30, 4, [9, 8, 1]), existing: first })).rejects.toThrow(
      /client east: images are 9×8×1, but dataset clinics has 8×8×1 images/,
    );
    await expect(planImport({ name: 'clinics', client: 'east', classes: 6, files: clientFiles(4), existing: first })).rejects.toThrow(
      /--classes 6 does not match dataset clinics, which has 4 classes/,
    );
    await expect(planImport({ name: 'clinics', client: 'east', files: clientFiles(4, 30, 7), existing: first })).rejects.toThrow(
      /client east labels: item \d+ has label [4-6], but the dataset has 4 classes/,
    );
    await expect(planImport({ name: 'clinics', client: 'bad/id', classes: 4, files: clientFiles(1) })).rejects.toThrow(/client ids use/);
    await expect(planImport({ name: 'clinics', files: clientFiles(1), existing: first })).rejects.toThrow(/holds per-client data/);
    await expect(planImport({ name: 'fashion-mnist', client: 'north', classes: 10, files: clientFiles(1) })).rejects.toThrow(/built-in dataset/);
  });
});
