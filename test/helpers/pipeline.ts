import type { SQSEvent } from 'aws-lambda';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAggregateHandler } from '../../functions/aggregate.js';
import { createStartHandler } from '../../functions/start.js';
import { createTimerHandler } from '../../functions/timer.js';
import { createTrainHandler } from '../../functions/train.js';
import { startLocalCloud, type LocalCloud, type LocalCloudOptions } from '../../local/cloud.js';
import type { ExperimentConfigInput } from '../../shared/config/schema.js';
import type { ExperimentStatus } from '../../shared/metrics/types.js';
import type { PipelineContext } from '../../shared/pipeline/context.js';
import { readStatus } from '../../shared/pipeline/experiment.js';
import { keys } from '../../shared/protocol/keys.js';
import { trainMessageSchema, type TrainMessage } from '../../shared/protocol/messages.js';
import type { UpdateReport } from '../../shared/protocol/records.js';
import { decodeModelWeights, encodeModelWeights } from '../../shared/weights/codec.js';
import type { ModelWeights } from '../../shared/weights/types.js';

export interface LogEntry {
  readonly event: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export type HandlerRole = 'start' | 'aggregate' | 'timer' | 'train';

export interface ScriptedCloudOptions extends Partial<LocalCloudOptions> {
  /** Changes the context a handler sees, e.g. to put a faulty or recording store in front of the real one. */
  readonly wrapContext?: (role: HandlerRole, context: PipelineContext) => PipelineContext;
  /** Run the real train handler in this thread (still recording the messages) instead of letting the test play the clients. */
  readonly realTrainer?: boolean;
  /** Handlers' retry delays; default 1 s while the queues keep this helper's 1 s visibility timeouts, else the production ones. */
  readonly retryDelaysSeconds?: readonly number[];
}

/**
 * A local cloud with the real start, aggregate and timer handlers, and a stand-in trainer that only records the train
 * messages: the test plays the clients, so it controls what each update contains and when (and how often) it arrives.
 * With `realTrainer` the real train handler runs (in this thread, so `wrapContext` reaches it too).
 */
export async function startCloudWithScriptedClients(options: ScriptedCloudOptions = {}) {
  const trainMessages: TrainMessage[] = [];
  const logs: LogEntry[] = [];
  const { wrapContext, realTrainer, retryDelaysSeconds, ...cloudOptions } = options;
  const retry = retryDelaysSeconds ? { retryDelaysSeconds } : cloudOptions.visibilityTimeoutSeconds === undefined ? { retryDelaysSeconds: [1] } : {};
  const cloud: LocalCloud = await startLocalCloud({
    visibilityTimeoutSeconds: { aggregate: 1, timer: 1, train: 1 },
    startRetryDelaysMs: [100, 200],
    ...cloudOptions,
    log: (event, fields = {}) => logs.push({ event, fields }),
    handlers: (context: PipelineContext) => {
      const contextFor = (role: HandlerRole) => {
        const wrapped = wrapContext ? wrapContext(role, context) : context;
        return async () => wrapped;
      };
      const realTrain = realTrainer ? createTrainHandler(contextFor('train'), retry) : undefined;
      return {
        start: createStartHandler(contextFor('start')),
        aggregate: createAggregateHandler(contextFor('aggregate'), retry),
        timer: createTimerHandler(contextFor('timer'), retry),
        train: async (event: SQSEvent) => {
          for (const record of event.Records) trainMessages.push(trainMessageSchema.parse(JSON.parse(record.body)));
          return realTrain ? realTrain(event) : { batchItemFailures: [] };
        },
      };
    },
  });
  return { cloud, trainMessages, logs };
}

export async function uploadConfig(cloud: LocalCloud, experimentId: string, config: ExperimentConfigInput | string) {
  const body = typeof config === 'string' ? config : JSON.stringify(config);
  await cloud.context.store.put(keys.config(experimentId), body, 'application/json');
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export function waitForStatus(cloud: LocalCloud, experimentId: string, accept: (status: ExperimentStatus) => boolean, timeoutMs?: number) {
  return waitFor(
    `status of ${experimentId}`,
    async () => {
      const status = await readStatus(cloud.context.store, experimentId);
      return status && accept(status) ? status : undefined;
    },
    timeoutMs,
  );
}

export async function readGlobal(cloud: LocalCloud, experimentId: string, round: number): Promise<ModelWeights> {
  const bytes = await cloud.context.store.get(keys.globalModel(experimentId, round));
  if (!bytes) throw new Error(`no global model for round ${round}`);
  return decodeModelWeights(bytes);
}

/** A client's "training": the global model with every weight shifted by `shift`. */
export function shifted(weights: ModelWeights, shift: number): ModelWeights {
  return weights.map((tensor) => ({ ...tensor, values: tensor.values.map((value) => value + shift) }));
}

/** Writes an update and its report exactly as the trainer does (report last); sends no message. */
export async function writeUpdate(
  cloud: LocalCloud,
  message: { experimentId: string; round: number; clientId: string },
  body: ModelWeights | Uint8Array,
  samples: number,
) {
  const bytes = body instanceof Uint8Array ? body : encodeModelWeights(body);
  await cloud.context.store.put(keys.update(message.experimentId, message.round, message.clientId), bytes);
  const report: UpdateReport = {
    experimentId: message.experimentId,
    round: message.round,
    clientId: message.clientId,
    samples,
    trainLoss: 1,
    trainAccuracy: 0.5,
    trainMs: 10,
    updateBytes: bytes.byteLength,
    backend: { backend: 'cpu', tfjsVersion: 'test', details: {} },
  };
  await cloud.context.store.put(keys.updateReport(message.experimentId, message.round, message.clientId), JSON.stringify(report));
}

/**
 * An "update ready" message as SQS may redeliver it: each copy gets its own deduplication id, so the FIFO queue's
 * 5-minute deduplication cannot hide the duplicates — only the aggregator's own idempotency can.
 */
export function announceUpdate(cloud: LocalCloud, message: { experimentId: string; round: number; clientId: string }, copy = 0) {
  return cloud.context.queues.aggregate.send(
    { type: 'update', experimentId: message.experimentId, round: message.round, clientId: message.clientId },
    { groupId: message.experimentId, deduplicationId: `${message.experimentId}:${message.round}:${message.clientId}:copy${copy}` },
  );
}

export const count = (logs: readonly LogEntry[], event: string, match: Record<string, unknown> = {}) =>
  logs.filter((entry) => entry.event === event && Object.entries(match).every(([key, value]) => entry.fields[key] === value)).length;
