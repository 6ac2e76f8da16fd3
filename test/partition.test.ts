import { beforeAll, describe, expect, it } from 'vitest';
import type { PartitionConfig } from '../shared/config/schema.js';
import { loadMnistFromPackage } from '../shared/data/mnist.js';
import { NUM_CLASSES } from '../shared/data/types.js';
import { PartitionError, partitionIndices, type Partition } from '../shared/partition/index.js';
import { clientIdFor } from '../shared/protocol/keys.js';
import { createRandom } from '../shared/random.js';

const KINDS: readonly PartitionConfig[] = [
  { kind: 'iid' },
  { kind: 'shards', shardsPerClient: 2 },
  { kind: 'dirichlet', alpha: 0.5 },
];

/** Labels 0–9 in random order, with unequal class sizes like a real dataset. */
function syntheticLabels(count: number, seed: number): Uint8Array {
  const random = createRandom(seed);
  return Uint8Array.from({ length: count }, () => Math.min(NUM_CLASSES - 1, Math.floor(random.nextFloat() ** 0.8 * NUM_CLASSES)));
}

function allIndices(partition: Partition): number[] {
  return partition.clientIndices.flatMap((indices) => Array.from(indices));
}

function distinctLabels(histogram: readonly number[]): number {
  return histogram.filter((count) => count > 0).length;
}

/** Total variation distance between a client's label distribution and the whole set's. */
function labelSkew(histogram: readonly number[], global: readonly number[]): number {
  const clientTotal = histogram.reduce((sum, count) => sum + count, 0);
  const globalTotal = global.reduce((sum, count) => sum + count, 0);
  return 0.5 * histogram.reduce((sum, count, label) => sum + Math.abs(count / clientTotal - global[label]! / globalTotal), 0);
}

describe.each(KINDS)('partition $kind', (partition) => {
  const labels = syntheticLabels(2_000, 7);

  it('gives every sample to exactly one client when there is no cap', () => {
    const result = partitionIndices(labels, { clients: 7, partition, seed: 1, samplesPerClient: null });
    const all = allIndices(result);
    expect(all).toHaveLength(labels.length);
    expect(new Set(all).size).toBe(labels.length);
    expect(Math.min(...all)).toBe(0);
    expect(Math.max(...all)).toBe(labels.length - 1);
  });

  it('is a pure function of labels, options and seed', () => {
    const options = { clients: 7, partition, seed: 123, samplesPerClient: null };
    const first = partitionIndices(labels, options);
    const again = partitionIndices(labels, options);
    const otherSeed = partitionIndices(labels, { ...options, seed: 124 });
    expect(again.clientIndices).toEqual(first.clientIndices);
    expect(again.stats).toEqual(first.stats);
    expect(otherSeed.clientIndices).not.toEqual(first.clientIndices);
  });

  it('reports stats that describe the partition', () => {
    const result = partitionIndices(labels, { clients: 7, partition, seed: 5, samplesPerClient: null });
    expect(result.stats.kind).toBe(partition.kind);
    expect(result.stats.seed).toBe(5);
    expect(result.stats.clients.map((client) => client.clientId)).toEqual(Array.from({ length: 7 }, (_, i) => clientIdFor(i)));
    result.stats.clients.forEach((client, i) => {
      const indices = result.clientIndices[i]!;
      expect(client.samples).toBe(indices.length);
      expect(client.labelHistogram).toHaveLength(NUM_CLASSES);
      const recount = new Array<number>(NUM_CLASSES).fill(0);
      for (const index of indices) recount[labels[index]!]!++;
      expect(client.labelHistogram).toEqual(recount);
    });
  });

  it('caps each client with a subset of what it was dealt, keeping its label mix', () => {
    const uncapped = partitionIndices(labels, { clients: 4, partition, seed: 9, samplesPerClient: null });
    const capped = partitionIndices(labels, { clients: 4, partition, seed: 9, samplesPerClient: 150 });
    capped.clientIndices.forEach((indices, client) => {
      const dealt = uncapped.clientIndices[client]!;
      expect(indices.length).toBe(Math.min(150, dealt.length));
      const dealtSet = new Set(dealt);
      expect(Array.from(indices).every((index) => dealtSet.has(index))).toBe(true);
      const before = uncapped.stats.clients[client]!.labelHistogram;
      const after = capped.stats.clients[client]!.labelHistogram;
      before.forEach((count, label) => {
        // Largest-remainder shares: each label is within one sample of its exact proportional share.
        expect(Math.abs(after[label]! - (count * indices.length) / dealt.length)).toBeLessThan(1);
      });
    });
  });
});

describe('partitions of the real MNIST training labels', () => {
  let labels: Uint8Array;
  let classCounts: number[];
  beforeAll(async () => {
    labels = (await loadMnistFromPackage()).train.labels;
    classCounts = new Array<number>(NUM_CLASSES).fill(0);
    for (const label of labels) classCounts[label]!++;
  });

  it('iid: every client gets the same number of samples and nearly the global label mix', () => {
    const { stats } = partitionIndices(labels, { clients: 10, partition: { kind: 'iid' }, seed: 42, samplesPerClient: null });
    expect(stats.clients.map((client) => client.samples)).toEqual(new Array(10).fill(6_000));
    // 6,000 samples per client: the sampling noise in a label's share is about 0.4 points.
    for (const client of stats.clients) expect(labelSkew(client.labelHistogram, classCounts)).toBeLessThan(0.04);
  });

  it('shards (100 clients × 2): each client sees about 2 labels, at most 4', () => {
    const { stats } = partitionIndices(labels, { clients: 100, partition: { kind: 'shards', shardsPerClient: 2 }, seed: 42, samplesPerClient: null });
    const shardSize = labels.length / 200;
    expect(shardSize).toBeLessThan(Math.min(...classCounts));
    expect(stats.clients.every((client) => client.samples === 2 * shardSize)).toBe(true);
    // A shard shorter than the smallest class straddles at most one label boundary: ≤ 2 labels per shard.
    const distinct = stats.clients.map((client) => distinctLabels(client.labelHistogram));
    expect(Math.max(...distinct)).toBeLessThanOrEqual(4);
    expect(distinct.reduce((sum, count) => sum + count, 0) / distinct.length).toBeLessThan(2.5);
  });

  it('shards (5 clients × 2, the original study): each client sees a minority of the labels', () => {
    const { stats } = partitionIndices(labels, { clients: 5, partition: { kind: 'shards', shardsPerClient: 2 }, seed: 42, samplesPerClient: null });
    const shardSize = labels.length / 10;
    // A 6,000-sample shard is longer than the smallest class (5,421), so it can touch up to 3 labels.
    const labelsPerShard = 2 + Math.floor((shardSize - 2) / Math.min(...classCounts));
    const distinct = stats.clients.map((client) => distinctLabels(client.labelHistogram));
    expect(Math.max(...distinct)).toBeLessThanOrEqual(2 * labelsPerShard);
    for (const client of stats.clients) expect(labelSkew(client.labelHistogram, classCounts)).toBeGreaterThan(0.4);
  });

  it('dirichlet: small alpha concentrates labels, large alpha approaches IID', () => {
    const meanSkew = (alpha: number) => {
      const { stats } = partitionIndices(labels, { clients: 10, partition: { kind: 'dirichlet', alpha }, seed: 42, samplesPerClient: null });
      return stats.clients.reduce((sum, client) => sum + labelSkew(client.labelHistogram, classCounts), 0) / stats.clients.length;
    };
    const skewed = meanSkew(0.1);
    const moderate = meanSkew(1);
    const nearIid = meanSkew(100);
    expect(skewed).toBeGreaterThan(0.5);
    expect(nearIid).toBeLessThan(0.1);
    expect(skewed).toBeGreaterThan(moderate);
    expect(moderate).toBeGreaterThan(nearIid);
  });
});

describe('partition edge cases', () => {
  it('dirichlet gives every client at least one sample even when alpha is tiny', () => {
    const labels = syntheticLabels(300, 3);
    for (const seed of [1, 2, 3]) {
      const result = partitionIndices(labels, { clients: 100, partition: { kind: 'dirichlet', alpha: 0.01 }, seed, samplesPerClient: null });
      expect(Math.min(...result.stats.clients.map((client) => client.samples))).toBeGreaterThanOrEqual(1);
      expect(new Set(allIndices(result)).size).toBe(labels.length);
    }
  });

  it('iid deals sizes that differ by at most one', () => {
    const result = partitionIndices(syntheticLabels(103, 1), { clients: 10, partition: { kind: 'iid' }, seed: 1, samplesPerClient: null });
    const sizes = result.clientIndices.map((indices) => indices.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(103);
  });

  it('a single client gets everything', () => {
    const labels = syntheticLabels(50, 4);
    for (const partition of KINDS) {
      const result = partitionIndices(labels, { clients: 1, partition, seed: 1, samplesPerClient: null });
      expect(Array.from(result.clientIndices[0]!)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    }
  });

  it('rejects impossible requests with a PartitionError that says why', () => {
    const labels = syntheticLabels(10, 5);
    const base = { seed: 1, samplesPerClient: null };
    expect(() => partitionIndices(labels, { ...base, clients: 11, partition: { kind: 'iid' } })).toThrow(PartitionError);
    expect(() => partitionIndices(labels, { ...base, clients: 11, partition: { kind: 'iid' } })).toThrow(/11 clients.*10 samples/);
    expect(() => partitionIndices(labels, { ...base, clients: 4, partition: { kind: 'shards', shardsPerClient: 3 } })).toThrow(/12 shards/);
    expect(() => partitionIndices(labels, { ...base, clients: 0, partition: { kind: 'iid' } })).toThrow(/clients must be a positive integer/);
    expect(() => partitionIndices(labels, { ...base, clients: 2, partition: { kind: 'iid' }, samplesPerClient: 0 })).toThrow(/samplesPerClient/);
    expect(() => partitionIndices(Uint8Array.of(1, 2, 12), { ...base, clients: 1, partition: { kind: 'iid' } })).toThrow(/sample 2 has label 12/);
  });
});
