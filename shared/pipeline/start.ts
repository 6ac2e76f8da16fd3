import { validateExperimentConfig } from './validate.js';
import { subset } from '../data/mnist.js';
import { encodeShard } from '../data/shard-codec.js';
import { initBackend } from '../engine/backend.js';
import { initialWeights } from '../models/index.js';
import { partitionIndices } from '../partition/index.js';
import { clientIdFor, keys } from '../protocol/keys.js';
import { encodeModelWeights } from '../weights/codec.js';
import { writeRecord, type PipelineContext } from './context.js';
import { readStatus } from './experiment.js';
import { loadTrainSet } from './datasets.js';
import { openRound, writeStatus } from './rounds.js';

export type StartOutcome =
  | { readonly outcome: 'started'; readonly clients: number; readonly rounds: number }
  | { readonly outcome: 'invalid-config'; readonly errors: readonly string[] }
  | { readonly outcome: 'already-started' };

/**
 * config → partition → shards + round-0 model → round 1. Triggered by experiments/<id>/config.json landing in
 * the bucket. Everything it writes is a deterministic function of the config, so a duplicate S3 notification
 * rewrites the same bytes; once the status exists it does nothing at all.
 */
export async function startExperiment(context: PipelineContext, experimentId: string): Promise<StartOutcome> {
  const { store } = context;
  if (await readStatus(store, experimentId)) {
    context.log('start.duplicate', { experimentId });
    return { outcome: 'already-started' };
  }

  const configBytes = await store.get(keys.config(experimentId));
  const parsed = configBytes === undefined
    ? { ok: false as const, errors: [`s3://${store.bucket}/${keys.config(experimentId)} disappeared before it could be read`] }
    : validateExperimentConfig(configBytes);
  if (!parsed.ok) {
    await writeStatus(context, { experimentId, state: 'failed', round: 0, rounds: 0, errors: parsed.errors });
    context.log('start.invalid-config', { experimentId, errors: parsed.errors });
    return { outcome: 'invalid-config', errors: parsed.errors };
  }
  const config = parsed.config;

  const trainSet = await loadTrainSet(store);
  const { clientIndices, stats } = partitionIndices(trainSet.labels, {
    clients: config.clients,
    partition: config.partition,
    seed: config.seed,
    samplesPerClient: config.samplesPerClient,
  });
  for (const [index, indices] of clientIndices.entries()) {
    await store.put(keys.shard(experimentId, clientIdFor(index)), encodeShard(subset(trainSet, indices)));
  }
  await writeRecord(store, keys.partition(experimentId), stats);
  await writeRecord(store, keys.resolvedConfig(experimentId), config);

  await initBackend();
  const initialModel = encodeModelWeights(initialWeights(config.model, config.seed));
  await store.put(keys.globalModel(experimentId, 0), initialModel);

  context.log('start.partitioned', { experimentId, clients: config.clients, partition: config.partition.kind });
  await openRound(context, experimentId, config, 1, initialModel.byteLength);
  return { outcome: 'started', clients: config.clients, rounds: config.rounds };
}
