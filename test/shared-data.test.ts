import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatRoundTable } from '../cli/tables.js';
import { startLocalCloud, type LocalCloud } from '../local/cloud.js';
import { defaultHandlers } from '../local/default-handlers.js';
import { loadExperimentConfig, parseExperimentConfig } from '../shared/config/parse.js';
import type { ExperimentConfigInput } from '../shared/config/schema.js';
import { loadMnistFromPackage, subset, type Mnist } from '../shared/data/mnist.js';
import { decodeShard } from '../shared/data/shard-codec.js';
import type { Dataset } from '../shared/data/types.js';
import { trainLocal } from '../shared/engine/train.js';
import { partitionStatsSchema } from '../shared/metrics/schema.js';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import { drawSharedSubset, PartitionError, partitionIndices, sharedShareFor } from '../shared/partition/index.js';
import { labelHistogram } from '../shared/partition/labels.js';
import { loadClientData } from '../shared/pipeline/datasets.js';
import { readResolvedConfig } from '../shared/pipeline/experiment.js';
import { keys } from '../shared/protocol/keys.js';
import { deriveSeed } from '../shared/random.js';
import { renderReportHtml, renderSummaryMarkdown } from '../shared/report/index.js';
import { decodeModelWeights } from '../shared/weights/codec.js';
import { readGlobal, uploadConfig, waitForStatus } from './helpers/pipeline.js';
import { fabricateMetrics } from './report-fixtures.js';

/**
 * sharedData (Zhao et al., 2018): the config's refusals, the public subset G and each client's share as drawn from the
 * real MNIST labels, and a real experiment on the embedded local cloud whose clients train on their data plus their
 * share, recorded so that nobody reads it as pure FL.
 */

let mnist: Mnist;
beforeAll(async () => {
  mnist = await loadMnistFromPackage();
});

const errorsOf = (input: unknown) => {
  const parsed = parseExperimentConfig(input);
  return parsed.ok ? [] : parsed.errors;
};

describe('the sharedData section', () => {
  it('accepts a fraction strictly between 0 and 1, with every client receiving all of G by default', () => {
    const parsed = parseExperimentConfig({ partition: { kind: 'shards' }, sharedData: { fraction: 0.05 } });
    expect(parsed.ok && parsed.config.sharedData).toEqual({ fraction: 0.05, perClient: 1 });
  });

  it('refuses a fraction of 0 or less, 1 or more, or none, naming the field, the range and the value given', () => {
    const range = 'must be a number greater than 0 and less than 1';
    for (const fraction of [0, -0.1, 1, 1.5, '5%']) {
      expect(errorsOf({ sharedData: { fraction } })).toEqual([`sharedData.fraction: ${range} (got ${JSON.stringify(fraction)})`]);
    }
    expect(errorsOf({ sharedData: {} })).toEqual([`sharedData.fraction: missing; ${range}`]);
    expect(errorsOf({ sharedData: { fraction: 0.05, perClient: 0 } })).toEqual(['sharedData.perClient: must be a number greater than 0 and at most 1 (got 0)']);
    expect(errorsOf({ sharedData: { fraction: 0.05, perClient: 1.2 } })).toEqual(['sharedData.perClient: must be a number greater than 0 and at most 1 (got 1.2)']);
    expect(errorsOf({ sharedData: { fraction: 0.05, share: 1 } })).toEqual(['sharedData.share: unknown key; allowed keys in sharedData: "fraction", "perClient"']);
  });

  it('examples/mnist-label-skew-shared-data.json is the label-skew example with 5 % shared data and nothing else changed', async () => {
    const load = async (file: string) => loadExperimentConfig(await readFile(new URL(`../examples/${file}`, import.meta.url)), { source: file });
    const { name: _shared, sharedData, ...withShared } = await load('mnist-label-skew-shared-data.json');
    const { name: _skew, ...skew } = await load('mnist-label-skew.json');
    expect(sharedData).toEqual({ fraction: 0.05, perClient: 1 });
    expect(withShared).toEqual(skew);
  });

  it('refuses the combinations it cannot work with: a natural partition, and personalization', () => {
    expect(errorsOf({ partition: { kind: 'natural' }, sharedData: { fraction: 0.05 } })).toEqual([
      expect.stringMatching(/^sharedData: cannot be combined with partition "natural": there is no central training set/),
    ]);
    expect(errorsOf({ partition: { kind: 'shards' }, personalization: { localLayers: ['logits'] }, sharedData: { fraction: 0.05 } })).toEqual([
      expect.stringMatching(/^sharedData: cannot be combined with personalization/),
    ]);
  });
});

describe('the public subset G and the clients\' shares, from the real MNIST labels', () => {
  const labels = () => mnist.train.labels;

  it('G is class-balanced, the same for the same seed and another for another seed', () => {
    const g = drawSharedSubset(labels(), 0.05, 42);
    expect(g.length).toBe(3000);
    expect(labelHistogram(labels(), g)).toEqual(new Array(10).fill(300));
    expect(drawSharedSubset(labels(), 0.05, 42)).toEqual(g);
    const other = drawSharedSubset(labels(), 0.05, 43);
    expect(labelHistogram(labels(), other)).toEqual(new Array(10).fill(300));
    const overlap = other.filter((index) => g.includes(index)).length;
    expect(overlap).toBeLessThan(600);
    // 1,234 images do not divide into 10 classes: four classes get one more, chosen by the seed.
    const uneven = labelHistogram(labels(), drawSharedSubset(labels(), 1234 / 60_000, 42));
    expect(uneven.reduce((a, b) => a + b, 0)).toBe(1234);
    expect([...new Set(uneven)].sort()).toEqual([123, 124]);
  });

  it('the clients are dealt their pure-FL partition minus G: disjoint from G and otherwise unchanged', () => {
    const options = { clients: 5, partition: { kind: 'shards', shardsPerClient: 2 } as const, seed: 42, samplesPerClient: null };
    const pure = partitionIndices(labels(), options);
    const mixed = partitionIndices(labels(), { ...options, sharedData: { fraction: 0.05, perClient: 0.5 } });
    const g = new Set(mixed.sharedIndices!);
    expect(g.size).toBe(3000);
    mixed.clientIndices.forEach((indices, client) => {
      expect(indices.some((index) => g.has(index))).toBe(false);
      expect(Array.from(indices)).toEqual(Array.from(pure.clientIndices[client]!).filter((index) => !g.has(index)));
    });
    expect(mixed.clientIndices.reduce((sum, indices) => sum + indices.length, 0) + g.size).toBe(60_000);
    expect(mixed.stats.sharedData).toEqual({ fraction: 0.05, perClient: 0.5, samples: 3000, labelHistogram: new Array(10).fill(300), samplesPerClient: 1500 });
    expect(mixed.stats.clients.map((client) => client.sharedSamples)).toEqual([1500, 1500, 1500, 1500, 1500]);
    expect(pure.stats.sharedData).toBeUndefined();
  });

  it('each client\'s share is α·|G| samples keeping G\'s balance, its own, and the same every time', () => {
    const g = drawSharedSubset(labels(), 0.05, 42);
    const gLabels = Uint8Array.from(g, (index) => labels()[index]!);
    const share = sharedShareFor(gLabels, 0.5, 42, 'client-000');
    expect(share.length).toBe(1500);
    expect(labelHistogram(gLabels, share)).toEqual(new Array(10).fill(150));
    expect(sharedShareFor(gLabels, 0.5, 42, 'client-000')).toEqual(share);
    expect(sharedShareFor(gLabels, 0.5, 42, 'client-001')).not.toEqual(share);
    expect(sharedShareFor(gLabels, 1, 42, 'client-001')).toEqual(Uint32Array.from({ length: 3000 }, (_, i) => i));
  });

  it('refuses a G too small to hold one sample per class, or a class it cannot fill', () => {
    expect(() => drawSharedSubset(labels(), 0.0001, 42)).toThrow(PartitionError);
    expect(() => drawSharedSubset(labels(), 0.0001, 42)).toThrow('sharedData.fraction 0.0001 of 60000 training samples is 6 samples, fewer than one per class (10 classes)');
    // MNIST has 5,421 fives: 95 % of the training set would need 5,700 of each digit.
    expect(() => drawSharedSubset(labels(), 0.95, 42)).toThrow(/asks for 5700 samples of class 1, but the training set has only|asks for 5700 samples of class 5, but the training set has only 5421/);
  });
});

describe('an experiment with shared data on the embedded local cloud (real training)', () => {
  let cloud: LocalCloud;
  beforeAll(async () => {
    cloud = await startLocalCloud({ handlers: defaultHandlers() });
  });
  afterAll(async () => {
    await cloud?.stop();
  });

  const config = {
    clients: 3,
    rounds: 1,
    model: 'mlp',
    samplesPerClient: 40,
    testSamples: 200,
    local: { epochs: 1, batchSize: 20, learningRate: 0.05 },
    partition: { kind: 'shards', shardsPerClient: 2 },
    // 0.2 % of 60,000: 120 public images, 12 per digit; each client receives 60 of them.
    sharedData: { fraction: 0.002, perClient: 0.5 },
  } as const satisfies ExperimentConfigInput;

  const fingerprints = (data: Dataset) => {
    const size = data.rows * data.cols * data.channels;
    return Array.from({ length: data.count }, (_, i) => `${data.labels[i]}:${Buffer.from(data.images.subarray(i * size, (i + 1) * size)).toString('base64')}`);
  };

  it('stores G once, mixes each client\'s share into its training set, and records it in partition.json, metrics.json and every report', async () => {
    const id = 'shared-data-run';
    await uploadConfig(cloud, id, config);
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 240_000);
    expect(status.errors ?? []).toEqual([]);
    expect(status.state).toBe('completed');
    const store = cloud.context.store;

    // G as stored is the seeded, class-balanced draw from the training set.
    const stored = decodeShard((await store.get(keys.sharedData(id)))!);
    expect(stored.count).toBe(120);
    expect(labelHistogram(stored.labels, Uint32Array.from({ length: 120 }, (_, i) => i))).toEqual(new Array(10).fill(12));
    expect(fingerprints(stored)).toEqual(fingerprints(subset(mnist.train, drawSharedSubset(mnist.train.labels, 0.002, 42))));

    const partition = partitionStatsSchema.parse(JSON.parse((await store.getText(keys.partition(id)))!));
    expect(partition.sharedData).toEqual({ fraction: 0.002, perClient: 0.5, samples: 120, labelHistogram: new Array(10).fill(12), samplesPerClient: 60 });
    const resolved = await readResolvedConfig(store, id);
    const global0 = await readGlobal(cloud, id, 0);
    for (const client of partition.clients) {
      expect(client).toMatchObject({ samples: 40, sharedSamples: 60 });
      const own = decodeShard((await store.get(keys.shard(id, client.clientId)))!);
      const training = await loadClientData(store, id, resolved, client.clientId);
      // Its training set is its own shard followed by its share of G, nothing else.
      const share = subset(stored, sharedShareFor(stored.labels, 0.5, 42, client.clientId));
      expect(fingerprints(training)).toEqual([...fingerprints(own), ...fingerprints(share)]);
      const publicImages = new Set(fingerprints(stored));
      expect(fingerprints(own).filter((fingerprint) => publicImages.has(fingerprint))).toEqual([]);
    }

    // What the trainer uploaded is what training on own + share gives, not what the own shard alone gives.
    const clientId = partition.clients[1]!.clientId;
    const uploaded = decodeModelWeights((await store.get(keys.update(id, 1, clientId)))!);
    const replay = async (shard: Dataset) =>
      (await trainLocal({ model: 'mlp', weights: global0, shard, local: resolved.local, seed: deriveSeed(resolved.seed, 'train', 1, clientId) })).weights;
    const distance = (a: typeof uploaded, b: typeof uploaded) => Math.max(...a.map((t, i) => t.values.reduce((m, v, j) => Math.max(m, Math.abs(v - b[i]!.values[j]!)), 0)));
    expect(distance(await replay(await loadClientData(store, id, resolved, clientId)), uploaded)).toBeLessThan(1e-5);
    expect(distance(await replay(decodeShard((await store.get(keys.shard(id, clientId)))!)), uploaded)).toBeGreaterThan(1e-3);

    // Weighted by what each client trained on: its own samples plus its share, accepted within the partition's bound.
    const metrics = JSON.parse((await store.getText(keys.metrics(id)))!) as ExperimentMetrics;
    expect(metrics.rounds[0]!.rejectedClients).toEqual([]);
    expect(metrics.rounds[0]!.clients.map((client) => client.samples)).toEqual([100, 100, 100]);
    expect(metrics.partition.sharedData?.samples).toBe(120);

    const sentence = 'Not pure federated learning: the server sent a public, class-balanced subset of 120 training images (0.2 % of the training set, config sharedData) to every client, and each client trained on 60 of them besides its own data.';
    expect(renderReportHtml(metrics)).toContain(`<p class="notice" data-shared-data><b>Shared data.</b> ${sentence}`);
    expect(renderReportHtml(metrics)).toContain('<b>label skew (2 shards per client) + shared data</b>');
    const markdown = renderSummaryMarkdown(metrics);
    expect(markdown).toContain('- **Shared data:** Not pure federated learning: the server sent a public');
    expect(markdown).toMatch(/\| Client \| Samples \| Shared samples \|/);
    expect(formatRoundTable(metrics)).toContain(`shared data: ${sentence}`);
  }, 300_000);

  it('a pure FL report says nothing of shared data', () => {
    const metrics = fabricateMetrics({ partition: 'shards' });
    expect(renderReportHtml(metrics)).not.toContain('data-shared-data');
    expect(renderSummaryMarkdown(metrics)).not.toContain('Shared data');
    expect(formatRoundTable(metrics)).not.toContain('shared data');
  });

  it('fails the start, naming sharedData.fraction, when G cannot hold one sample per class', async () => {
    const id = 'shared-data-too-small';
    await uploadConfig(cloud, id, { ...config, sharedData: { fraction: 0.0001 } });
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 60_000);
    expect(status.state).toBe('failed');
    expect(status.errors).toEqual([expect.stringContaining('sharedData.fraction 0.0001 of 60000 training samples is 6 samples, fewer than one per class')]);
    expect(await store().exists(keys.sharedData(id))).toBe(false);
  });

  const store = () => cloud.context.store;
});
