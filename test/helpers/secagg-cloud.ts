import type { SQSEvent } from 'aws-lambda';
import { expect } from 'vitest';
import { createAggregateHandler } from '../../functions/aggregate.js';
import { createStartHandler } from '../../functions/start.js';
import { createTimerHandler } from '../../functions/timer.js';
import { createTrainHandler } from '../../functions/train.js';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.js';
import type { ObjectStore } from '../../shared/cloud/ports.js';
import type { ExperimentConfigInput } from '../../shared/config/schema.js';
import type { PipelineContext } from '../../shared/pipeline/context.js';
import type { ExperimentStatus } from '../../shared/metrics/types.js';
import { trainMessageSchema, type TrainMessage } from '../../shared/protocol/messages.js';
import { uploadConfig, waitForStatus, type LogEntry } from './pipeline.js';

/**
 * The embedded local cloud (fauxqs S3/SQS, the real handlers, real tfjs training) for secure-aggregation tests: the
 * aggregator's store records every key it reads, and chosen clients drop out of a chosen stage (their stage messages
 * are consumed and never answered).
 */
export interface SecAggCloud {
  readonly cloud: LocalCloud;
  readonly logs: LogEntry[];
  /** experiment id → the stage where `clients` drop out */
  readonly dropouts: Map<string, { stage: string; clients: readonly string[] }>;
  /** Runs an experiment until it ends in `until`; the keys its aggregator read, in order. */
  run(experimentId: string, config: ExperimentConfigInput, until: 'completed' | 'failed', timeoutMs?: number): Promise<{ status: ExperimentStatus; reads: string[] }>;
}

export interface SecAggCloudOptions {
  /** what the aggregator reads as the text of `key` (to show it a changed record), instead of the stored text */
  readonly rewriteText?: (key: string, text: string) => string;
  /** after the trainer handled a batch: e.g. replay its messages through the real queues */
  readonly afterTrain?: (context: PipelineContext, messages: readonly TrainMessage[], droppedOut: (message: TrainMessage) => boolean) => Promise<void>;
}

const READS = new Set(['get', 'getText', 'getAtMost', 'head', 'exists', 'list']);

function recordingReads(store: ObjectStore, reads: string[], rewriteText: SecAggCloudOptions['rewriteText']): ObjectStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const original: unknown = Reflect.get(target, property, receiver);
      if (typeof original !== 'function') return original;
      if (property === 'getText' && rewriteText) {
        return async (key: string) => {
          reads.push(key);
          const text = await target.getText(key);
          return text === undefined ? text : rewriteText(key, text);
        };
      }
      if (READS.has(String(property))) {
        return (key: string, ...rest: unknown[]) => {
          reads.push(key);
          return (original as (...args: unknown[]) => unknown).call(target, key, ...rest);
        };
      }
      return (original as (...args: unknown[]) => unknown).bind(target);
    },
  });
}

export async function startSecAggCloud(options: SecAggCloudOptions = {}): Promise<SecAggCloud> {
  const reads: string[] = [];
  const logs: LogEntry[] = [];
  const dropouts = new Map<string, { stage: string; clients: readonly string[] }>();
  const droppedOut = (message: TrainMessage) => {
    const plan = dropouts.get(message.experimentId);
    return plan !== undefined && message.stage === plan.stage && plan.clients.includes(message.clientId);
  };
  const cloud = await startLocalCloud({
    visibilityTimeoutSeconds: { train: 300, aggregate: 30, timer: 10 },
    log: (event, fields = {}) => logs.push({ event, fields }),
    handlers: (context: PipelineContext) => {
      const plain = async () => context;
      const train = createTrainHandler(plain);
      return {
        start: createStartHandler(plain),
        aggregate: createAggregateHandler(async () => ({ ...context, store: recordingReads(context.store, reads, options.rewriteText) })),
        timer: createTimerHandler(plain),
        train: async (event: SQSEvent) => {
          const messages = event.Records.map((record) => trainMessageSchema.parse(JSON.parse(record.body)));
          const response = await train({ ...event, Records: event.Records.filter((_, index) => !droppedOut(messages[index]!)) });
          await options.afterTrain?.(context, messages, droppedOut);
          return response;
        },
      };
    },
  });
  return {
    cloud,
    logs,
    dropouts,
    async run(experimentId, config, until, timeoutMs = 400_000) {
      const from = reads.length;
      await uploadConfig(cloud, experimentId, { name: experimentId, ...config });
      const status = await waitForStatus(cloud, experimentId, (s) => s.state !== 'running', timeoutMs);
      expect(status.state, JSON.stringify(status.errors)).toBe(until);
      return { status, reads: reads.slice(from).filter((key) => key.startsWith(`experiments/${experimentId}/`)) };
    },
  };
}
