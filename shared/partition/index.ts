import type { PartitionConfig } from '../config/schema.js';
import { NUM_CLASSES } from '../data/types.js';
import type { PartitionStats } from '../metrics/types.js';
import { clientIdFor } from '../protocol/keys.js';
import { createRandom, deriveSeed } from '../random.js';
import { capPreservingLabelMix } from './cap.js';
import { partitionDirichlet } from './dirichlet.js';
import { PartitionError } from './errors.js';
import { partitionIid } from './iid.js';
import { assertLabelsInRange, labelHistogram } from './labels.js';
import { partitionShards } from './shards.js';

export { PartitionError } from './errors.js';

export interface PartitionOptions {
  readonly clients: number;
  readonly partition: PartitionConfig;
  readonly seed: number;
  /** at most this many samples per client (a label-preserving random subset); null keeps every sample */
  readonly samplesPerClient: number | null;
  /** the dataset's class count (default 10): labels run 0..classes−1 */
  readonly classes?: number;
}

export interface Partition {
  /** sample indices of client i (`clientIdFor(i)`), ascending; disjoint across clients */
  readonly clientIndices: Uint32Array[];
  readonly stats: PartitionStats;
}

/**
 * Splits a labelled set's sample indices across clients. A pure function of its arguments: the same labels, options
 * and seed give the same partition on every run and platform. Without a cap every sample goes to exactly one client.
 */
export function partitionIndices(labels: Uint8Array, options: PartitionOptions): Partition {
  const { clients, partition, seed, samplesPerClient } = options;
  const classes = options.classes ?? NUM_CLASSES;
  assertOptions(labels, options);
  const random = createRandom(deriveSeed(seed, 'partition', partition.kind));

  const uncapped = (() => {
    switch (partition.kind) {
      case 'iid':
        return partitionIid(labels.length, clients, random);
      case 'shards':
        return partitionShards(labels, clients, partition.shardsPerClient, random, classes);
      case 'dirichlet':
        return partitionDirichlet(labels, clients, partition.alpha, random, classes);
      case 'natural':
        throw new PartitionError('a natural partition is not computed from a central dataset: each client imported its own data');
    }
  })();

  const clientIndices = uncapped.map((indices, client) => {
    // Each client's cap draws from its own stream, so capping never changes which samples the partition dealt.
    const capped = samplesPerClient === null
      ? indices
      : capPreservingLabelMix(indices, labels, samplesPerClient, createRandom(deriveSeed(seed, 'partition-cap', client)), classes);
    return Uint32Array.from(capped).sort();
  });

  return {
    clientIndices,
    stats: {
      kind: partition.kind,
      seed,
      clients: clientIndices.map((indices, client) => ({
        clientId: clientIdFor(client),
        samples: indices.length,
        labelHistogram: labelHistogram(labels, indices, classes),
      })),
    },
  };
}

function assertOptions(labels: Uint8Array, { clients, partition, samplesPerClient, classes = NUM_CLASSES }: PartitionOptions): void {
  if (!Number.isSafeInteger(clients) || clients < 1) {
    throw new PartitionError(`clients must be a positive integer (got ${clients})`);
  }
  if (samplesPerClient !== null && (!Number.isSafeInteger(samplesPerClient) || samplesPerClient < 1)) {
    throw new PartitionError(`samplesPerClient must be a positive integer or null (got ${samplesPerClient})`);
  }
  if (clients > labels.length) {
    throw new PartitionError(`cannot give ${clients} clients at least one sample each from ${labels.length} samples`);
  }
  if (partition.kind === 'shards' && clients * partition.shardsPerClient > labels.length) {
    throw new PartitionError(
      `clients × shardsPerClient = ${clients * partition.shardsPerClient} shards, more than the ${labels.length} samples`,
    );
  }
  assertLabelsInRange(labels, classes);
}
