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
import { drawSharedSubset, sharedSamplesPerClient } from './shared-data.js';

export { PartitionError } from './errors.js';
export { drawSharedSubset, sharedSamplesPerClient, sharedShareFor } from './shared-data.js';

export interface PartitionOptions {
  readonly clients: number;
  readonly partition: PartitionConfig;
  readonly seed: number;
  /** at most this many samples per client (a label-preserving random subset); null keeps every sample */
  readonly samplesPerClient: number | null;
  /** the dataset's class count (default 10): labels run 0..classes−1 */
  readonly classes?: number;
  /** Zhao et al.'s public subset (config `sharedData`): drawn first, then taken out of every client's samples */
  readonly sharedData?: { readonly fraction: number; readonly perClient: number } | undefined;
}

export interface Partition {
  /** sample indices of client i (`clientIdFor(i)`), ascending; disjoint across clients */
  readonly clientIndices: Uint32Array[];
  /** with sharedData: the indices of the public subset G, ascending; disjoint from every client's */
  readonly sharedIndices?: Uint32Array;
  readonly stats: PartitionStats;
}

/**
 * Splits a labelled set's sample indices across clients. A pure function of its arguments: the same labels, options
 * and seed give the same partition on every run and platform. Without a cap every sample goes to exactly one client.
 * With sharedData the clients are dealt exactly what they would be dealt without it, minus the samples of the public
 * subset G (before the cap), so a comparison with the same seed changes nothing else and no sample is both public
 * and some client's own.
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

  const sharedIndices = options.sharedData ? drawSharedSubset(labels, options.sharedData.fraction, seed, classes) : undefined;
  const isShared = sharedIndices ? new Uint8Array(labels.length) : undefined;
  if (sharedIndices && isShared) for (const index of sharedIndices) isShared[index] = 1;

  const clientIndices = uncapped.map((dealt, client) => {
    const indices = isShared ? dealt.filter((index) => isShared[index] === 0) : dealt;
    if (indices.length === 0) {
      throw new PartitionError(`${clientIdFor(client)} has no samples of its own left once the sharedData subset is taken out (it was dealt ${dealt.length}): use a smaller sharedData.fraction or fewer clients`);
    }
    // Each client's cap draws from its own stream, so capping never changes which samples the partition dealt.
    const capped = samplesPerClient === null
      ? indices
      : capPreservingLabelMix(indices, labels, samplesPerClient, createRandom(deriveSeed(seed, 'partition-cap', client)), classes);
    return Uint32Array.from(capped).sort();
  });
  const sharedStats = sharedIndices && options.sharedData
    ? {
        fraction: options.sharedData.fraction,
        perClient: options.sharedData.perClient,
        samples: sharedIndices.length,
        labelHistogram: labelHistogram(labels, sharedIndices, classes),
        samplesPerClient: sharedSamplesPerClient(sharedIndices.length, options.sharedData.perClient),
      }
    : undefined;

  return {
    clientIndices,
    ...(sharedIndices ? { sharedIndices } : {}),
    stats: {
      kind: partition.kind,
      seed,
      clients: clientIndices.map((indices, client) => ({
        clientId: clientIdFor(client),
        samples: indices.length,
        labelHistogram: labelHistogram(labels, indices, classes),
        ...(sharedStats ? { sharedSamples: sharedStats.samplesPerClient } : {}),
      })),
      ...(sharedStats ? { sharedData: sharedStats } : {}),
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
