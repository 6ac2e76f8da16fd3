import { EXPERIMENTS_PREFIX } from '../protocol/keys.js';

/** Names of the pipeline's resources: the local runtime's, and the CDK stack's defaults (its bucket name is generated). */
export const RESOURCE_NAMES = {
  bucket: 'flambda',
  trainQueue: 'flambda-train',
  trainDeadLetterQueue: 'flambda-train-dlq',
  aggregateQueue: 'flambda-aggregate.fifo',
  aggregateDeadLetterQueue: 'flambda-aggregate-dlq.fifo',
  timerQueue: 'flambda-timer',
  timerDeadLetterQueue: 'flambda-timer-dlq',
} as const;

/**
 * Receives before SQS moves a message to its queue's dead-letter queue in the local cloud. The CDK stack sets one
 * count per queue: MAX_RECEIVE_COUNTS in infra/lib/settings.ts (docs/deploy.md, "Retries").
 */
export const MAX_RECEIVE_COUNT = 3;

export type QueueRole = 'train' | 'aggregate' | 'timer';

/** Lambda event-source batch sizes; all three report partial batch failures. */
export const EVENT_SOURCE_BATCH_SIZE: Readonly<Record<QueueRole, number>> = { train: 1, aggregate: 1, timer: 10 };

/** The S3 notification that invokes the start function: ObjectCreated under this prefix with this suffix. */
export const START_TRIGGER_FILTER = { prefix: EXPERIMENTS_PREFIX, suffix: 'config.json' } as const;
