import { keys, type SecAggClientStage } from '../protocol/keys.js';
import type { TrainMessage } from '../protocol/messages.js';
import {
  advertiseKeys,
  clientSecretSchema,
  createClientSecret,
  encodeMaskedInput,
  flattenWeights,
  loadRoundSetup,
  maskedInput,
  maskedInputRequestSchema,
  PROTOCOL,
  roundSetupSchema,
  SecAggError,
  shareKeys,
  shareKeysRequestSchema,
  unmask,
  unmaskRequestSchema,
  type ClientSecret,
  type MaskedInputNotice,
  type RoundSetup,
} from '../secagg/index.js';
import { sha256Hex } from '../secagg/crypto.js';
import type { ModelWeights } from '../weights/types.js';
import { readRecord, requireRecord, writeRecord, type PipelineContext } from './context.js';
import { readResolvedConfig, readStatus } from './experiment.js';
import { notifyStageAnswered } from './notify.js';
import { distributedShare } from './secagg-privacy.js';
import { isDeterministicTrainingFailure, trainForUpload, trainingReport } from './train.js';

/**
 * The trainer's half of a secure-aggregation round: one protocol stage per "train" message that names a stage. Each
 * stage reads the round's setup, its request (from the aggregator) and the client's secret (its own private prefix),
 * writes the secret before the answer, then the answer, then announces it. A stage already answered only re-announces;
 * a retried stage recomputes byte-identical output (every value derives from the persisted root secret), and the core
 * refuses a request that differs from one already answered. A request the core refuses (tampered, inconsistent) and a
 * training failure that would repeat are the client dropping out: logged, nothing written, nothing retried.
 */

export type SecAggStageOutcome = 'stage-answered' | 'stage-already-answered' | 'stage-refused';
type StageMessage = TrainMessage & { readonly stage: SecAggClientStage };

export async function runSecAggStage(context: PipelineContext, message: StageMessage): Promise<SecAggStageOutcome | 'experiment-over'> {
  const { store } = context;
  const { experimentId, round, clientId, stage } = message;
  const status = await readStatus(store, experimentId);
  if (status && status.state !== 'running') {
    context.log('train.skipped', { experimentId, round, clientId, stage, reason: `experiment ${status.state}` });
    return 'experiment-over';
  }
  if (await store.exists(keys.secaggAnswer(experimentId, round, stage, clientId))) {
    await notifyStageAnswered(context, message, stage);
    return 'stage-already-answered';
  }
  const setup = loadRoundSetup(await requireRecord(store, keys.secaggSetup(experimentId, round), roundSetupSchema));
  try {
    const answer = await answerStage(context, message, setup);
    await writeRecord(store, keys.secaggAnswer(experimentId, round, stage, clientId), answer);
  } catch (error) {
    if (!(error instanceof SecAggError) && !isDeterministicTrainingFailure(error)) throw error;
    context.log('secagg.client-refused', { experimentId, round, clientId, stage, reason: error.message });
    return 'stage-refused';
  }
  context.log('secagg.stage-answered', { experimentId, round, clientId, stage });
  await notifyStageAnswered(context, message, stage);
  return 'stage-answered';
}

async function answerStage(context: PipelineContext, message: StageMessage, setup: RoundSetup): Promise<unknown> {
  const { store } = context;
  const { experimentId, round, clientId, stage } = message;
  const secretKey = keys.secaggSecret(experimentId, clientId, round);
  const saveSecret = (secret: ClientSecret) => writeRecord(store, secretKey, secret);
  if (stage === 'advertise-keys') {
    // A retry after the secret was saved reuses it: the keys it advertises must be the ones it will use.
    let secret = await readRecord(store, secretKey, clientSecretSchema);
    if (!secret) {
      secret = createClientSecret(setup, clientId);
      await saveSecret(secret);
    }
    return advertiseKeys(setup, secret);
  }
  const secret = await requireRecord(store, secretKey, clientSecretSchema);
  if (stage === 'share-keys') {
    return shareKeys(setup, secret, await requireRecord(store, keys.secaggRequest(experimentId, round, stage, clientId), shareKeysRequestSchema));
  }
  if (stage === 'unmask') {
    const result = unmask(setup, secret, await requireRecord(store, keys.secaggRequest(experimentId, round, stage, clientId), unmaskRequestSchema));
    await saveSecret(result.secret);
    return result.response;
  }
  const request = await requireRecord(store, keys.secaggRequest(experimentId, round, stage, clientId), maskedInputRequestSchema);
  const vectorKey = keys.secaggMaskedVector(experimentId, round, clientId);
  // A masked vector once written is never replaced: two different vectors under the same masks would reveal their
  // difference to anyone who read both. A retry whose notice was lost re-announces the vector already there.
  const existing = await store.get(vectorKey);
  if (existing) return maskedNotice(setup, clientId, existing);
  const config = await readResolvedConfig(store, experimentId);
  const trained = await trainForUpload(context, message, config);
  const { result, finished } = trained;
  // Distributed DP: Δ clipped to C plus this client's noise share, every client weighing 1 (secagg-privacy.ts).
  const dp = config.privacy ? await distributedShare(store, experimentId, round, setup, finished.uploadBase, finished.upload) : undefined;
  const masked = dp
    ? maskedInput(setup, secret, request, dp.vector, setup.record.maxWeight, { noise: dp.noise })
    : maskedInput(setup, secret, request, updateVector(finished.uploadBase, finished.upload), result.samples);
  await saveSecret(masked.secret);
  const bytes = encodeMaskedInput(masked.vector);
  const report = trainingReport(message, trained, bytes.byteLength);
  await writeRecord(store, keys.updateReport(experimentId, round, clientId), report);
  await store.put(vectorKey, bytes);
  return masked.notice;
}

function maskedNotice(setup: RoundSetup, clientId: string, bytes: Uint8Array): MaskedInputNotice {
  const { experimentId, round } = setup.record;
  return { protocol: PROTOCOL, experimentId, round, kind: 'masked-input', clientId, words: bytes.byteLength / 4, sha256: sha256Hex(bytes) };
}

/**
 * What is masked: the update Δ = trained − global of the averaged part, flat in model order. Its range is that of
 * one round's change, so clippingRange can be small and the quantization fine.
 */
export function updateVector(global: ModelWeights, trained: ModelWeights): Float32Array {
  const base = flattenWeights(global).vector;
  const after = flattenWeights(trained).vector;
  if (base.length !== after.length) throw new SecAggError('masked-input', `the trained weights have ${after.length} values; the global model's averaged part has ${base.length}`);
  const delta = new Float32Array(base.length);
  for (let i = 0; i < delta.length; i++) delta[i] = after[i]! - base[i]!;
  return delta;
}
