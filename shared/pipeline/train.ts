import { ShardFormatError } from '../data/shard-codec.js';
import { initBackend } from '../engine/backend.js';
import { evaluate } from '../engine/evaluate.js';
import { TrainingDivergedError, trainLocal } from '../engine/train.js';
import { keys } from '../protocol/keys.js';
import type { TrainMessage } from '../protocol/messages.js';
import type { TrainingFailure, UpdateReport } from '../protocol/records.js';
import { deriveSeed } from '../random.js';
import { experimentStrategy, StrategyError, withLocalObjective } from '../strategies/index.js';
import { decodeModelWeights, WeightsError } from '../weights/codec.js';
import { writeRecord, type PipelineContext } from './context.js';
import { loadClientInput, saveClientResult } from './client-state.js';
import { readStatus } from './experiment.js';
import { encodePrivateUpload, encodeUpload, shardToTrainOn } from './client-upload.js';
import { loadClientData } from './datasets.js';
import { notifyUpdateReady } from './notify.js';
import { clipForUpload } from './privacy-round.js';
import { runSecAggStage, type SecAggStageOutcome } from './secagg-client.js';
import { readConfigForTraining, readGlobalModelBytes } from './trainer-reads.js';
import type { ExperimentConfig } from '../config/schema.js';
import type { ExperimentStatus } from '../metrics/types.js';

export type TrainOutcome = 'trained' | 'already-trained' | 'experiment-over' | 'training-failed' | SecAggStageOutcome;

/**
 * Failures that happen again on every attempt with the same inputs: the loss diverging, or weights, a shard or
 * client-private state a strategy cannot use. Retrying them only burns the round's deadline; the client reports them
 * instead, and the aggregator records the client as rejected with the reason. Anything else (an S3 or SQS error, a
 * crash) is thrown, and the message is retried.
 */
export function isDeterministicTrainingFailure(error: unknown): error is Error {
  return error instanceof TrainingDivergedError || error instanceof WeightsError || error instanceof ShardFormatError || error instanceof StrategyError;
}

/**
 * One client's round: global model r−1 + own shard → the strategy's client half → local training → client state and
 * update r (S3) → "update ready" (SQS). The client half (shared/strategies) says where training starts and on what
 * (e.g. the shared layers with the client's own head, on its shard minus a held-out part) and what leaves the
 * client; the client state it keeps or proposes is read and written by shared/pipeline/client-state.ts.
 * Idempotent: when the update already exists (a redelivered message, or a retry after the upload) it only
 * re-announces it, and the aggregator ignores announcements it has already counted.
 */
export async function trainClient(context: PipelineContext, message: TrainMessage): Promise<TrainOutcome> {
  // Secure aggregation: one protocol stage (training happens in its masked-input stage).
  if (message.stage) return runSecAggStage(context, { ...message, stage: message.stage });
  try {
    return await trainOnce(context, message);
  } catch (error) {
    if (!isDeterministicTrainingFailure(error)) throw error;
    const { experimentId, round, clientId } = message;
    const failure: TrainingFailure = { experimentId, round, clientId, failed: `${error.name}: ${error.message}`.slice(0, 2000) };
    await writeRecord(context.store, keys.updateReport(experimentId, round, clientId), failure);
    context.log('train.failed', { experimentId, round, clientId, reason: failure.failed });
    await notifyUpdateReady(context, message);
    return 'training-failed';
  }
}

/**
 * Global model r−1 + own shard → the strategy's client half → local training → its client state saved: everything
 * before the upload, shared by the plain round and secure aggregation's masked-input stage. `status`, as the client
 * read it, says which version of the global model the round trains from (shared/pipeline/trainer-reads.ts).
 */
export async function trainForUpload(context: PipelineContext, message: TrainMessage, config: ExperimentConfig, status?: ExperimentStatus) {
  const { store } = context;
  const { experimentId, round, clientId } = message;
  const [globalBytes, clientData] = await Promise.all([readGlobalModelBytes(context, message, status), loadClientData(store, experimentId, config, clientId)]);
  const globalWeights = decodeModelWeights(globalBytes);
  const shard = shardToTrainOn(config, clientId, clientData);
  const backend = await initBackend();
  // The strategy's client half decides where training starts, on what and with which objective, and what is uploaded.
  const strategy = experimentStrategy(config);
  const input = await loadClientInput(store, message, strategy, { seed: config.seed, local: config.local, global: globalWeights, shard });
  const plan = strategy.client.begin(input);
  // The label-skew local objective (FedLC, FedRS, masked softmax) comes from the label counts of the set trained on.
  const objective = withLocalObjective(plan.objective, config.local.objective, plan.trainSet);
  const result = await trainLocal({
    model: config.model,
    weights: plan.start,
    shard: plan.trainSet,
    local: config.local,
    seed: deriveSeed(config.seed, 'train', round, clientId),
    objective,
  });
  const held = plan.holdout && (await evaluate({ model: config.model, weights: result.weights, testSet: plan.holdout }));
  const finished = strategy.client.finish({ ...input, plan, trained: result.weights, samples: result.samples });
  // Client state first: once the report exists, everything the update needs does too.
  await saveClientResult(store, message, strategy, finished);

  return { plan, result, held, finished, backend };
}

/** What a client reports about its training, whatever form its upload took. */
export function trainingReport(message: TrainMessage, trained: Pick<Awaited<ReturnType<typeof trainForUpload>>, 'result' | 'held' | 'backend'>, updateBytes: number): UpdateReport {
  const { result, held, backend } = trained;
  return {
    experimentId: message.experimentId,
    round: message.round,
    clientId: message.clientId,
    samples: result.samples,
    trainLoss: result.loss,
    trainAccuracy: result.accuracy,
    trainMs: result.durationMs,
    updateBytes,
    backend,
    ...(held ? { personalizedAccuracy: held.accuracy, holdoutSamples: held.samples } : {}),
  };
}

async function trainOnce(context: PipelineContext, message: TrainMessage): Promise<TrainOutcome> {
  const { store } = context;
  const { experimentId, round, clientId } = message;

  // Independent reads are made together: on AWS each waits an S3 round trip.
  const [status, alreadyTrained] = await Promise.all([readStatus(store, experimentId), store.exists(keys.updateReport(experimentId, round, clientId))]);
  if (status && status.state !== 'running') {
    context.log('train.skipped', { experimentId, round, clientId, reason: `experiment ${status.state}` });
    return 'experiment-over';
  }
  if (alreadyTrained) {
    await notifyUpdateReady(context, message);
    return 'already-trained';
  }

  const config = await readConfigForTraining(context, experimentId, status);
  const trained = await trainForUpload(context, message, config, status);
  const { plan, result, finished, backend } = trained;

  // Differential privacy: the upload is Δ = w_local − w_global clipped to the round's C, not the weights; attacks and
  // compression then shape it as they shape a plain upload.
  const clipped = config.privacy ? await clipForUpload(store, experimentId, round, finished.uploadBase, finished.upload) : undefined;
  const update = clipped
    ? await encodePrivateUpload(store, message, config, clipped.delta, finished.uploadBase)
    : await encodeUpload(store, message, { config, global: finished.uploadBase, trained: finished.upload, objective: plan.objective });
  await store.put(keys.update(experimentId, round, clientId), update);
  const report: UpdateReport = {
    ...trainingReport(message, trained, update.byteLength),
    ...(clipped ? { clipped: clipped.clipped, updateNorm: clipped.norm } : {}),
  };
  // The report goes last: its existence is what marks the update complete.
  await writeRecord(store, keys.updateReport(experimentId, round, clientId), report);
  context.log('train.done', {
    experimentId, round, clientId, samples: result.samples, loss: result.loss, ms: result.durationMs, backend: backend.backend,
    ...plan.log,
    ...(report.personalizedAccuracy !== undefined ? { personalizedAccuracy: report.personalizedAccuracy } : {}),
  });
  await notifyUpdateReady(context, message);
  return 'trained';
}
