import { ShardFormatError } from '../data/shard-codec.js';
import { initBackend } from '../engine/backend.js';
import { TrainingDivergedError, trainLocal } from '../engine/train.js';
import { keys } from '../protocol/keys.js';
import type { TrainMessage } from '../protocol/messages.js';
import type { TrainingFailure, UpdateReport } from '../protocol/records.js';
import { deriveSeed } from '../random.js';
import { strategyFor, withLocalObjective } from '../strategies/index.js';
import { decodeModelWeights, encodeModelWeights, WeightsError } from '../weights/codec.js';
import { requireObject, writeRecord, type PipelineContext } from './context.js';
import { gradientCorrection, proposeClientControl, readClientControls } from './control-variates.js';
import { readResolvedConfig, readStatus } from './experiment.js';
import { encodeUpload, shardToTrainOn } from './client-upload.js';
import { loadClientData } from './datasets.js';
import { notifyUpdateReady } from './notify.js';
import { beginPersonalRound, finishPersonalRound, PersonalizationError, withZeroLocalCorrection } from './personalization.js';
import { clipForUpload } from './privacy-round.js';

export type TrainOutcome = 'trained' | 'already-trained' | 'experiment-over' | 'training-failed';

/**
 * Failures that happen again on every attempt with the same inputs: the loss diverging, or weights, a shard or
 * client-private state that do not decode. Retrying them only burns the round's deadline; the client reports them
 * instead, and the aggregator records the client as rejected with the reason. Anything else (an S3 or SQS error, a
 * crash) is thrown, and the message is retried.
 */
export function isDeterministicTrainingFailure(error: unknown): error is Error {
  return error instanceof TrainingDivergedError || error instanceof WeightsError || error instanceof ShardFormatError || error instanceof PersonalizationError;
}

/**
 * One client's round: global model r−1 + own shard → local training → update r (S3) → "update ready" (SQS).
 * With personalization the client trains from the global shared layers and its own local layers, on its shard minus
 * a held-out part, saves the local layers and uploads only the shared ones (shared/pipeline/personalization.ts).
 * Idempotent: when the update already exists (a redelivered message, or a retry after the upload) it only
 * re-announces it, and the aggregator ignores announcements it has already counted.
 */
export async function trainClient(context: PipelineContext, message: TrainMessage): Promise<TrainOutcome> {
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

async function trainOnce(context: PipelineContext, message: TrainMessage): Promise<TrainOutcome> {
  const { store } = context;
  const { experimentId, round, clientId } = message;

  const status = await readStatus(store, experimentId);
  if (status && status.state !== 'running') {
    context.log('train.skipped', { experimentId, round, clientId, reason: `experiment ${status.state}` });
    return 'experiment-over';
  }
  if (await store.exists(keys.updateReport(experimentId, round, clientId))) {
    await notifyUpdateReady(context, message);
    return 'already-trained';
  }

  const config = await readResolvedConfig(store, experimentId);
  const globalWeights = decodeModelWeights(await requireObject(store, keys.globalModel(experimentId, round - 1)));
  const shard = shardToTrainOn(config, clientId, await loadClientData(store, experimentId, config, clientId));
  const backend = await initBackend();
  const strategy = strategyFor(config.strategy);
  const personal = config.personalization
    ? await beginPersonalRound(store, message, { config, personalization: config.personalization, global: globalWeights, shard })
    : undefined;
  // SCAFFOLD's control variates cover what the server averages: with personalization, the shared layers only.
  const averaged = personal ? personal.sharedGlobal : globalWeights;
  const controls = strategy.controlVariates
    ? await readClientControls(store, experimentId, round, clientId, averaged)
    : undefined;
  const correction = controls && gradientCorrection(controls);

  const result = await trainLocal({
    model: config.model,
    weights: personal ? personal.start : globalWeights,
    shard: personal ? personal.trainSet : shard,
    local: config.local,
    seed: deriveSeed(config.seed, 'train', round, clientId),
    // The local objective (FedLC, FedRS, masked softmax) from the label counts of the set this client trains on.
    objective: withLocalObjective(
      correction
        ? { ...strategy.clientObjective, gradientCorrection: personal ? withZeroLocalCorrection(personal, correction) : correction }
        : strategy.clientObjective,
      config.local.objective,
      personal ? personal.trainSet : shard,
    ),
  });

  // The local layers are saved before the report, so a complete update always has them.
  const personalResult = personal && (await finishPersonalRound(store, message, personal, config.model, result.weights));
  const uploaded = personalResult ? personalResult.shared : result.weights;
  if (controls) {
    await proposeClientControl(store, message, { config, controls, global: averaged, trained: uploaded, samples: result.samples });
  }
  // Differential privacy: the upload is Δ = w_local − w_global clipped to the round's C, not the weights (a DP config
  // has no adversaries or compression: refused at start). Otherwise attacks and compression shape the upload.
  const clipped = config.privacy ? await clipForUpload(store, experimentId, round, globalWeights, uploaded) : undefined;
  const update = clipped
    ? encodeModelWeights(clipped.delta)
    : await encodeUpload(store, message, { config, global: averaged, trained: uploaded, objective: strategy.clientObjective });
  await store.put(keys.update(experimentId, round, clientId), update);
  const report: UpdateReport = {
    experimentId,
    round,
    clientId,
    samples: result.samples,
    trainLoss: result.loss,
    trainAccuracy: result.accuracy,
    trainMs: result.durationMs,
    updateBytes: update.byteLength,
    backend,
    ...(personalResult?.personalized
      ? { personalizedAccuracy: personalResult.personalized.accuracy, holdoutSamples: personalResult.personalized.samples }
      : {}),
    ...(clipped ? { clipped: clipped.clipped, updateNorm: clipped.norm } : {}),
  };
  // The report goes last: its existence is what marks the update complete.
  await writeRecord(store, keys.updateReport(experimentId, round, clientId), report);
  context.log('train.done', {
    experimentId, round, clientId, samples: result.samples, loss: result.loss, ms: result.durationMs, backend: backend.backend,
    ...(report.personalizedAccuracy !== undefined ? { personalizedAccuracy: report.personalizedAccuracy, localLayersFrom: personal?.localFromRound ?? 'global' } : {}),
  });
  await notifyUpdateReady(context, message);
  return 'trained';
}
