import type { SQSEvent } from 'aws-lambda';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.js';
import { createAggregateHandler } from '../functions/aggregate.js';
import { createStartHandler } from '../functions/start.js';
import { createTimerHandler } from '../functions/timer.js';
import { createTrainHandler } from '../functions/train.js';
import { startLocalCloud, type LocalCloud } from '../local/cloud.js';
import { DirectoryObjectStore } from '../local/directory-store.js';
import type { ObjectStore } from '../shared/cloud/ports.js';
import type { ExperimentConfigInput } from '../shared/config/schema.js';
import { experimentMetricsSchema } from '../shared/metrics/schema.js';
import { parameterCount } from '../shared/models/index.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { keys } from '../shared/protocol/keys.js';
import { idxFiles, syntheticImages } from './helpers/datasets.js';
import { uploadConfig, waitForStatus } from './helpers/pipeline.js';

/**
 * Datasets through the whole pipeline on the embedded local cloud, imported with the real CLI into a local dataset
 * library: real Fashion-MNIST, a colour dataset of our own, and a natural partition whose data never moves. The store
 * each function gets records what it reads, per role and, for trainers, per client.
 */

const FASHION_DIR = '/usr/share/datasets/fashion-mnist';
const CLIENTS = { north: [0, 1], south: [2, 3], west: [0, 1, 2, 3] } as const;

interface Read {
  readonly role: string;
  readonly key: string;
}

let library: string;
let cloud: LocalCloud;
const reads: Read[] = [];

function recording(store: ObjectStore, role: string): ObjectStore {
  const note = (key: string) => reads.push({ role, key });
  return {
    bucket: store.bucket,
    put: (key, body, type) => store.put(key, body, type),
    get: (key) => (note(key), store.get(key)),
    getText: (key) => (note(key), store.getText(key)),
    exists: (key) => (note(key), store.exists(key)),
    head: (key) => (note(key), store.head(key)),
    getAtMost: (key, maxBytes) => (note(key), store.getAtMost(key, maxBytes)),
    list: (prefix) => (note(`list:${prefix}`), store.list(prefix)),
    delete: (key) => store.delete(key),
  };
}

async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void lines.push(parts.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void lines.push(parts.join(' ')));
  try {
    const code = await main(['node', 'flambda', ...args]);
    return { code, out: lines.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

/** Writes an images/labels idx pair of `count` images whose labels are all in `allowed`; returns the two paths. */
async function writePair(name: string, count: number, shape: readonly [number, number, number], allowed: readonly number[], seed: number) {
  const size = shape[0] * shape[1] * shape[2];
  const pool = syntheticImages(count * 8, shape, 4, seed);
  const chosen = Array.from(pool.labels.keys()).filter((n) => allowed.includes(pool.labels[n]!)).slice(0, count);
  expect(chosen).toHaveLength(count);
  const images = new Uint8Array(count * size);
  chosen.forEach((n, i) => images.set(pool.images.subarray(n * size, (n + 1) * size), i * size));
  const files = idxFiles({ images, labels: Uint8Array.from(chosen, (n) => pool.labels[n]!) }, shape);
  const imageFile = path.join(library, `${name}-images-idx3-ubyte`);
  const labelFile = path.join(library, `${name}-labels-idx1-ubyte`);
  await writeFile(imageFile, files.images);
  await writeFile(labelFile, files.labels);
  return [imageFile, labelFile];
}

beforeAll(async () => {
  library = await mkdtemp(path.join(os.tmpdir(), 'flambda-library-'));
  const where = ['--data-dir', library];
  // a natural partition: three clients with skewed labels, imported one by one, and a test set
  let first = true;
  for (const [client, labels] of Object.entries(CLIENTS)) {
    const files = await writePair(client, client === 'west' ? 60 : 40, [8, 8, 1], labels, client.length + labels.length);
    const result = await cli('dataset', 'import', 'clinics', '--client', client, ...(first ? ['--classes', '4', '--class-names', 'a,b,c,d'] : []), ...files, ...where);
    expect(result.code, result.out).toBe(0);
    first = false;
  }
  const testFiles = await writePair('clinics-test', 80, [8, 8, 1], [0, 1, 2, 3], 99);
  expect((await cli('dataset', 'import', 'clinics', '--test', ...testFiles, ...where)).code).toBe(0);
  // a central colour dataset of our own, 12×10×3 with 5 classes
  for (const [split, count, seed] of [['train', 90, 5], ['t10k', 30, 6]] as const) {
    const set = idxFiles(syntheticImages(count, [12, 10, 3], 5, seed), [12, 10, 3]);
    await writeFile(path.join(library, `${split}-images-idx4-ubyte`), set.images);
    await writeFile(path.join(library, `${split}-labels-idx1-ubyte`), set.labels);
  }
  const letters = ['train', 't10k'].flatMap((split) => [`${split}-images-idx4-ubyte`, `${split}-labels-idx1-ubyte`].map((f) => path.join(library, f)));
  expect((await cli('dataset', 'import', 'letters', ...letters, ...where)).code).toBe(0);
  // the real Fashion-MNIST files Debian installs (CI installs dataset-fashion-mnist)
  expect(existsSync(FASHION_DIR), `${FASHION_DIR} is missing: apt-get install dataset-fashion-mnist`).toBe(true);
  const fashion = await cli('dataset', 'import', 'fashion-mnist', FASHION_DIR, ...where);
  expect(fashion.out).toMatch(/fashion-mnist: 60,000 training and 10,000 test images of 28×28×1, 10 classes \(T-shirt\/top, Trouser/);

  cloud = await startLocalCloud({
    datasets: { from: new DirectoryObjectStore(library) },
    visibilityTimeoutSeconds: { train: 120 },
    handlers: (context: PipelineContext) => {
      const as = (role: string) => async (): Promise<PipelineContext> => ({ ...context, store: recording(context.store, role) });
      return {
        start: createStartHandler(as('start')),
        aggregate: createAggregateHandler(as('aggregate')),
        timer: createTimerHandler(as('timer')),
        // batch size 1: each invocation is one client's round, recorded under that client
        train: (event: SQSEvent) => {
          const { clientId } = JSON.parse(event.Records[0]!.body) as { clientId: string };
          return createTrainHandler(as(`train:${clientId}`))(event);
        },
      };
    },
    log: () => {},
  });
}, 300_000);

afterAll(async () => {
  await cloud?.stop();
  if (library) await rm(library, { recursive: true, force: true });
});

async function runToEnd(id: string, config: ExperimentConfigInput) {
  await uploadConfig(cloud, id, config);
  return waitForStatus(cloud, id, (status) => status.state !== 'running', 280_000);
}

async function metricsOf(id: string) {
  return experimentMetricsSchema.parse(JSON.parse((await cloud.context.store.getText(keys.metrics(id)))!));
}

describe('the dataset library', () => {
  it('lists what was imported, with shapes, classes and clients', async () => {
    const { code, out } = await cli('dataset', 'list', '--data-dir', library);
    expect(code).toBe(0);
    expect(out).toMatch(/mnist\s+28×28×1\s+10 \(0, 1, 2, 3, …\)\s+60,000\s+10,000\s+built in/);
    expect(out).toMatch(/clinics\s+8×8×1\s+4 \(a, b, c, d\)\s+3 clients\s+80\s+natural \(north, south, west\)/);
    expect(out).toMatch(/letters\s+12×10×3\s+5 \(0, 1, 2, 3, …\)\s+90\s+30/);
    expect(out).toMatch(/fashion-mnist\s+28×28×1\s+10 \(T-shirt\/top, Trouser, Pullover, Dress, …\)\s+60,000\s+10,000\s+MD5 verified/);
  });

  it('refuses bad input at import with what is wrong, and exit code 2', async () => {
    const wrongSize = await writePair('east', 10, [9, 8, 1], [0], 3);
    const refused = await cli('dataset', 'import', 'clinics', '--client', 'east', ...wrongSize, '--data-dir', library);
    expect(refused).toMatchObject({ code: 2 });
    expect(refused.out).toMatch(/cannot import clinics: client east: images are 9×8×1, but dataset clinics has 8×8×1 images/);
  });
});

describe('natural partition: the data never moves', () => {
  const id = 'natural-e2e';
  beforeAll(async () => {
    const status = await runToEnd(id, {
      name: 'natural', dataset: 'clinics', clients: 3, rounds: 2, model: 'mlp', partition: { kind: 'natural' },
      local: { batchSize: 8, learningRate: 0.05 },
    });
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed', rounds: 2 });
  }, 300_000);

  const datasetReads = (role: (name: string) => boolean) =>
    [...new Set(reads.filter((read) => role(read.role) && read.key.startsWith('datasets/')).map((read) => read.key))].sort();

  it('the start function reads nothing, and no shards are written', async () => {
    expect(datasetReads((role) => role === 'start')).toEqual([]);
    expect(await cloud.context.store.list(`experiments/${id}/shards/`)).toEqual([]);
  });

  it('each trainer reads only its own client\'s data; the aggregator (which starts the experiment) the description, the clients\' metadata and the test set', () => {
    for (const client of Object.keys(CLIENTS)) {
      expect(datasetReads((role) => role === `train:${client}`), client).toEqual([keys.datasetClientData('clinics', client)]);
    }
    expect(datasetReads((role) => role === 'aggregate')).toEqual(
      [keys.datasetInfo('clinics'), ...Object.keys(CLIENTS).map((client) => keys.datasetClientInfo('clinics', client)), keys.datasetSplit('clinics', 'test')].sort(),
    );
    expect(reads.some((read) => read.key.startsWith('list:'))).toBe(false);
  });

  it('keeps the clients\' own ids, sample counts and label histograms, and names the classes', async () => {
    const metrics = await metricsOf(id);
    expect(metrics.partition).toMatchObject({ kind: 'natural', dataset: 'clinics', classNames: ['a', 'b', 'c', 'd'] });
    expect(metrics.partition.clients.map(({ clientId, samples }) => [clientId, samples])).toEqual([['north', 40], ['south', 40], ['west', 60]]);
    expect(metrics.partition.clients[0]!.labelHistogram[2]).toBe(0);
    expect(metrics.partition.clients[1]!.labelHistogram[0]).toBe(0);
    expect(metrics.rounds.map((round) => round.clients.map((client) => client.clientId).sort())).toEqual([
      ['north', 'south', 'west'],
      ['north', 'south', 'west'],
    ]);
    expect(metrics.rounds[1]!.confusion).toHaveLength(4);
    expect(metrics.summary?.parameters).toBe(parameterCount('mlp', { shape: [8, 8, 1], classes: 4 }));
  });
});

describe('datasets other than MNIST through the pipeline', () => {
  it('trains on a small Fashion-MNIST slice with real tfjs, well above chance, with its class names recorded', async () => {
    const status = await runToEnd('fashion-slice', {
      name: 'fashion', dataset: 'fashion-mnist', clients: 2, rounds: 2, model: 'cnn-small', samplesPerClient: 300, testSamples: 500,
    });
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed' });
    const metrics = await metricsOf('fashion-slice');
    expect(metrics.partition.classNames?.[0]).toBe('T-shirt/top');
    expect(metrics.rounds[1]!.accuracy).toBeGreaterThan(0.4);
  }, 300_000);

  it('trains your own colour dataset with its own class count', async () => {
    const status = await runToEnd('letters-run', { name: 'letters', dataset: 'letters', clients: 2, rounds: 1, model: 'cnn-small' });
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed' });
    const metrics = await metricsOf('letters-run');
    expect(metrics.rounds[0]!.confusion).toHaveLength(5);
    expect(metrics.summary?.parameters).toBe(parameterCount('cnn-small', { shape: [12, 10, 3], classes: 5 }));
  }, 300_000);

  it('refuses at start, with what is wrong: a model for other images, a missing client, a dataset never imported', async () => {
    const cases: [ExperimentConfigInput, RegExp][] = [
      [{ dataset: 'letters', model: 'cnn-mcmahan', clients: 2 }, /model: cnn-mcmahan takes 28×28×1 images \(mnist, fashion-mnist\), not 12×10×3: for 12×10×3 images choose cnn-small or mlp/],
      [{ dataset: 'clinics', clients: 2, model: 'mlp', partition: { kind: 'natural', clients: ['north', 'east'] } }, /partition.clients: east is missing from natural dataset clinics \(it has north, south, west\)/],
      [{ dataset: 'clinics', clients: 5, model: 'mlp', partition: { kind: 'natural' } }, /clients: 5, but natural dataset clinics has 3 clients \(north, south, west\)/],
      [{ dataset: 'clinics', clients: 2, model: 'mlp', partition: { kind: 'iid' } }, /dataset clinics was imported per client, so only \{ "kind": "natural" \} can use it/],
      [{ dataset: 'letters', clients: 2, model: 'mlp', partition: { kind: 'natural' } }, /"natural" needs a dataset imported per client/],
      [{ dataset: 'letters', clients: 2, model: 'mlp', partition: { kind: 'shards', shardsPerClient: 50 } }, /partition: clients × shardsPerClient = 100 shards, more than the 90 samples \(dataset letters\)/],
      [{ dataset: 'not-imported' }, /dataset: dataset "not-imported" is not in s3:\/\/flambda\/datasets\/: import it first \(flambda dataset import not-imported/],
    ];
    for (const [index, [config, message]] of cases.entries()) {
      const status = await runToEnd(`refused-${index}`, config);
      expect(status.state, JSON.stringify(config)).toBe('failed');
      expect(status.errors?.join('\n')).toMatch(message);
    }
    // a client the dataset lists but whose metadata is gone
    await cloud.context.store.delete(keys.datasetClientInfo('clinics', 'south'));
    const status = await runToEnd('refused-meta', { dataset: 'clinics', clients: 3, model: 'mlp', partition: { kind: 'natural' } });
    expect(status.errors?.join('\n')).toMatch(/client south is listed by dataset clinics but its metadata is missing: import it again with --client south/);
  }, 300_000);
});
