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

export type QueueRole = 'train' | 'aggregate' | 'timer';

/**
 * Receives before SQS moves a message to its queue's dead-letter queue, on AWS and in the local cloud alike. AWS
 * recommends at least 5 for a Lambda event source, because a throttled invocation counts as a receive too.
 * docs/deploy.md ("Retries") has the reasoning:
 * - train 10: a failed training attempt is retried within seconds to a minute (the handler shortens the failed
 *   message's visibility), so several real attempts plus a few throttled receives fit in the default 900 s round.
 * - aggregate 5: its retries re-run idempotent steps, but every failed receive holds the experiment's FIFO group for
 *   a visibility timeout, so a message that cannot succeed should reach the DLQ (and its alarm) early.
 * - timer 10: forwarding a deadline is cheap and idempotent, and a lost deadline leaves a round open until every
 *   client answers; retrying longer costs next to nothing.
 */
export const MAX_RECEIVE_COUNTS: Readonly<Record<QueueRole, number>> = { train: 10, aggregate: 5, timer: 10 };

/**
 * The aggregator function's memory (MB as Lambda counts it): the stack deploys it, and the start step refuses robust
 * aggregators whose round of updates would not fit in it (shared/pipeline/robust-config.ts).
 */
export const AGGREGATOR_MEMORY_MB = 1769;

/**
 * Lambda event-source batch sizes; all three report partial batch failures. The aggregator takes up to 10 messages of
 * its FIFO queue at once (SQS's most for FIFO): it reads an experiment's records and writes a round's state once per
 * batch (shared/pipeline/aggregate.ts), the serial path a round's updates go through. A trainer takes one client by
 * default: a deployment for many small clients may give it up to MAX_TRAIN_BATCH (`-c trainBatchSize`, docs/deploy.md).
 */
export const EVENT_SOURCE_BATCH_SIZE: Readonly<Record<QueueRole, number>> = { train: 1, aggregate: 10, timer: 10 };

/** SQS hands out at most 10 messages a receive, so a trainer invocation gets at most 10 clients. */
export const MAX_TRAIN_BATCH = 10;

/** The S3 notification that invokes the start function: ObjectCreated under this prefix with this suffix. */
export const START_TRIGGER_FILTER = { prefix: EXPERIMENTS_PREFIX, suffix: 'config.json' } as const;
