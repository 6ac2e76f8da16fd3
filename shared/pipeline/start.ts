import { validateExperimentConfig } from './validate.js';
import { initBackend } from '../engine/backend.js';
import { initialWeights } from '../engine/build-model.js';
import { keys } from '../protocol/keys.js';
import { encodeModelWeights } from '../weights/codec.js';
import { writeRecord, type PipelineContext } from './context.js';
import { readStatus } from './experiment.js';
import { prepareClientData } from './datasets.js';
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
  // Partition a central dataset into shards, or read a natural one's client metadata (shared/pipeline/datasets.ts).
  const prepared = await prepareClientData(store, experimentId, parsed.config);
  if (!prepared.ok) {
    await writeStatus(context, { experimentId, state: 'failed', round: 0, rounds: 0, errors: [...prepared.errors] });
    context.log('start.invalid-config', { experimentId, errors: prepared.errors });
    return { outcome: 'invalid-config', errors: prepared.errors };
  }
  const config = prepared.config;
  await writeRecord(store, keys.resolvedConfig(experimentId), config);

  await initBackend();
  const initialModel = encodeModelWeights(initialWeights(config.model, config.seed, prepared.input));
  await store.put(keys.globalModel(experimentId, 0), initialModel);

  context.log('start.partitioned', { experimentId, clients: config.clients, partition: config.partition.kind });
  await openRound(context, experimentId, config, 1, initialModel.byteLength);
  return { outcome: 'started', clients: config.clients, rounds: config.rounds };
}
