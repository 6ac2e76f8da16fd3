import type { ObjectStore } from '../cloud/ports.js';
import type { ExperimentConfig } from '../config/schema.js';
import {
  clientRecordSchema,
  datasetRecordSchema,
  describeBuiltin,
  describeRecord,
  type DatasetDescription,
} from '../data/catalog.js';
import { datasetFromIdx, subset } from '../data/mnist.js';
import { BUILTIN_DATASETS, isBuiltinDataset } from '../data/registry.js';
import { decodeShard, encodeShard } from '../data/shard-codec.js';
import { formatShape, type Dataset } from '../data/types.js';
import type { ClientPartitionStats, PartitionStats } from '../metrics/types.js';
import { modelInputProblem, type ModelInput } from '../models/index.js';
import { cappedHistogram, capPreservingLabelMix } from '../partition/cap.js';
import { PartitionError, partitionIndices, sharedShareFor } from '../partition/index.js';
import { clientIdFor, keys } from '../protocol/keys.js';
import { createRandom, deriveSeed } from '../random.js';
import { readRecord, requireObject, writeRecord } from './context.js';

/**
 * Where the pipeline's data comes from. MNIST sits in datasets/mnist/ as its idx files (the deploy and the local cloud
 * put it there); every other dataset is imported once by `flambda dataset import` into datasets/<name>/ (see
 * shared/data/import.ts). A central dataset is partitioned by the start step; a natural one never moves: the start step
 * reads only its clients' metadata, and each trainer reads only its own client's data.
 */

// Warm Lambdas and the local runtime evaluate every round: parse the test set (and the train set) once per bucket.
const cache = new Map<string, Promise<Dataset>>();

function cached(store: ObjectStore, dataset: string, split: 'train' | 'test'): Promise<Dataset> {
  const cacheKey = `${store.bucket}:${dataset}:${split}`;
  let loaded = cache.get(cacheKey);
  if (!loaded) {
    loaded = dataset === 'mnist'
      ? Promise.all([requireObject(store, keys.mnist(`${split}-images`)), requireObject(store, keys.mnist(`${split}-labels`))]).then(
          ([images, labels]) => datasetFromIdx(images, labels),
        )
      : requireObject(store, keys.datasetSplit(dataset, split)).then(decodeShard);
    loaded.catch(() => cache.delete(cacheKey));
    cache.set(cacheKey, loaded);
  }
  return loaded;
}

/** A dataset's training images, from the bucket's datasets/ prefix (MNIST unless named). */
export const loadTrainSet = (store: ObjectStore, dataset = 'mnist') => cached(store, dataset, 'train');
/** A dataset's test images, from the bucket's datasets/ prefix (MNIST unless named). */
export const loadTestSet = (store: ObjectStore, dataset = 'mnist') => cached(store, dataset, 'test');

/** The model input the dataset calls for, read off its (cached) test set. */
/** The input a model takes for `dataset`, from its description alone (dataset.json; nothing for a built-in one). */
export async function datasetModelInput(store: ObjectStore, dataset: string): Promise<ModelInput> {
  const { shape, classes } = await describeDataset(store, dataset);
  return { shape, classes };
}

export class DatasetNotFoundError extends Error {
  override name = 'DatasetNotFoundError';

  /** how to import it */
  constructor(message: string, readonly hint: string) {
    super(message);
  }
}

/** What the bucket holds of a dataset: MNIST's fixed description, else its dataset.json. */
export async function describeDataset(store: ObjectStore, name: string): Promise<DatasetDescription> {
  if (name === 'mnist') return describeBuiltin('mnist');
  const record = await readRecord(store, keys.datasetInfo(name), datasetRecordSchema);
  if (!record) {
    const how = isBuiltinDataset(name) && BUILTIN_DATASETS[name].source.kind !== 'bundled'
      ? (BUILTIN_DATASETS[name].source as { hint: string }).hint
      : `flambda dataset import ${name} <files…>`;
    throw new DatasetNotFoundError(`dataset ${JSON.stringify(name)} is not in s3://${store.bucket}/datasets/: import it first (${how})`, how);
  }
  return describeRecord(record);
}

export type PreparedData =
  | { readonly ok: true; readonly config: ExperimentConfig; readonly input: ModelInput; readonly stats: PartitionStats }
  | { readonly ok: false; readonly errors: readonly string[] };

/**
 * The start step's data work: checks the dataset against the config (is it there, does the model take its images, does
 * the partition suit it), then either partitions a central dataset into the experiment's shards, or, for a natural
 * partition, reads each client's metadata and nothing else. Writes partition.json. Returns the config with a natural
 * partition's clients filled in, or every problem in words a person can act on.
 */
export async function prepareClientData(store: ObjectStore, experimentId: string, config: ExperimentConfig): Promise<PreparedData> {
  let dataset: DatasetDescription;
  try {
    dataset = await describeDataset(store, config.dataset);
  } catch (error) {
    if (error instanceof DatasetNotFoundError) return { ok: false, errors: [`dataset: ${error.message}`] };
    throw error;
  }
  const input: ModelInput = { shape: dataset.shape, classes: dataset.classes };
  const errors: string[] = [];
  const modelProblem = modelInputProblem(config.model, input);
  if (modelProblem) errors.push(`model: ${modelProblem} (dataset ${dataset.name} has ${formatShape(dataset.shape)} images, ${dataset.classes} classes)`);
  const natural = config.partition.kind === 'natural';
  if (natural && dataset.layout !== 'natural') {
    errors.push(`partition: "natural" needs a dataset imported per client (flambda dataset import <name> --client <id> …); ${dataset.name} is one central train set`);
  }
  if (!natural && dataset.layout === 'natural') {
    errors.push(`partition: dataset ${dataset.name} was imported per client, so only { "kind": "natural" } can use it (got "${config.partition.kind}")`);
  }
  if (dataset.testSamples === undefined) {
    errors.push(`dataset: ${dataset.name} has no test set to evaluate on: flambda dataset import ${dataset.name} --test <images> <labels>`);
  }
  if (errors.length > 0) return { ok: false, errors };

  const common = { seed: config.seed, dataset: dataset.name, classNames: [...dataset.classNames] };
  if (config.partition.kind === 'natural') {
    const clients = config.partition.clients ?? dataset.clients;
    const unknown = clients.filter((id) => !dataset.clients.includes(id));
    if (unknown.length > 0) {
      return { ok: false, errors: [`partition.clients: ${unknown.join(', ')} ${unknown.length > 1 ? 'are' : 'is'} missing from natural dataset ${dataset.name} (it has ${dataset.clients.join(', ') || 'no clients'})`] };
    }
    if (clients.length !== config.clients) {
      return { ok: false, errors: [`clients: ${config.clients}, but natural dataset ${dataset.name} has ${clients.length} client${clients.length === 1 ? '' : 's'} (${clients.join(', ')}): set clients to ${clients.length} or list partition.clients`] };
    }
    const stats: ClientPartitionStats[] = [];
    for (const clientId of clients) {
      const record = await readRecord(store, keys.datasetClientInfo(dataset.name, clientId), clientRecordSchema);
      if (!record) return { ok: false, errors: [`partition: client ${clientId} is listed by dataset ${dataset.name} but its metadata is missing: import it again with --client ${clientId}`] };
      const histogram = config.samplesPerClient === null ? record.labelHistogram : cappedHistogram(record.labelHistogram, config.samplesPerClient);
      stats.push({ clientId, samples: histogram.reduce((a, b) => a + b, 0), labelHistogram: histogram });
    }
    const resolved: ExperimentConfig = { ...config, partition: { kind: 'natural', clients: [...clients] } };
    return { ok: true, config: resolved, input, stats: await writePartition(store, experimentId, { kind: 'natural', ...common, clients: stats }) };
  }

  const trainSet = await loadTrainSet(store, dataset.name);
  let partition: ReturnType<typeof partitionIndices>;
  try {
    partition = partitionIndices(trainSet.labels, {
      clients: config.clients,
      partition: config.partition,
      seed: config.seed,
      samplesPerClient: config.samplesPerClient,
      classes: trainSet.classes,
      sharedData: config.sharedData,
    });
  } catch (error) {
    if (error instanceof PartitionError) return { ok: false, errors: [`partition: ${error.message} (dataset ${dataset.name})`] };
    throw error;
  }
  for (const [index, indices] of partition.clientIndices.entries()) {
    await store.put(keys.shard(experimentId, clientIdFor(index)), encodeShard(subset(trainSet, indices)));
  }
  // Written once, like the shards: the public subset the server holds, of which every trainer takes its share.
  if (partition.sharedIndices) await store.put(keys.sharedData(experimentId), encodeShard(subset(trainSet, partition.sharedIndices)));
  return { ok: true, config, input, stats: await writePartition(store, experimentId, { ...partition.stats, ...common }) };
}

async function writePartition(store: ObjectStore, experimentId: string, stats: PartitionStats): Promise<PartitionStats> {
  await writeRecord(store, keys.partition(experimentId), stats);
  return stats;
}

/**
 * A client's training data: its shard of a central dataset, or, in a natural partition, its own imported data (capped
 * at samplesPerClient the same way the start step's statistics assumed). Reads nothing of any other client. With
 * sharedData, its share of the public subset G is appended (the trainer shuffles every epoch, so the order is moot).
 */
export async function loadClientData(store: ObjectStore, experimentId: string, config: ExperimentConfig, clientId: string): Promise<Dataset> {
  const own = await loadOwnData(store, experimentId, config, clientId);
  if (!config.sharedData) return own;
  const shared = await loadSharedData(store, experimentId);
  return concatenate(own, subset(shared, sharedShareFor(shared.labels, config.sharedData.perClient, config.seed, clientId, shared.classes)));
}

async function loadOwnData(store: ObjectStore, experimentId: string, config: ExperimentConfig, clientId: string): Promise<Dataset> {
  if (config.partition.kind !== 'natural') return decodeShard(await requireObject(store, keys.shard(experimentId, clientId)));
  const data = decodeShard(await requireObject(store, keys.datasetClientData(config.dataset, clientId)));
  if (config.samplesPerClient === null || data.count <= config.samplesPerClient) return data;
  const index = config.partition.clients?.indexOf(clientId) ?? -1;
  const all = Uint32Array.from({ length: data.count }, (_, i) => i);
  const kept = capPreservingLabelMix(all, data.labels, config.samplesPerClient, createRandom(deriveSeed(config.seed, 'partition-cap', Math.max(0, index))), data.classes);
  return subset(data, kept.sort());
}

/** The public subset G as the start step stored it: what a trainer downloads of the server's shared data. */
export async function loadSharedData(store: ObjectStore, experimentId: string): Promise<Dataset> {
  return decodeShard(await requireObject(store, keys.sharedData(experimentId)));
}

function concatenate(first: Dataset, second: Dataset): Dataset {
  const images = new Uint8Array(first.images.length + second.images.length);
  images.set(first.images);
  images.set(second.images, first.images.length);
  const labels = new Uint8Array(first.count + second.count);
  labels.set(first.labels);
  labels.set(second.labels, first.count);
  return { ...first, count: first.count + second.count, images, labels };
}
