import type { AggregateMessage, TrainMessage } from '../protocol/messages.js';
import type { PipelineContext } from './context.js';
import { SECAGG_CLIENT_STAGES, type SecAggClientStage } from '../protocol/keys.js';

/** All of one experiment's aggregation messages share a FIFO group: the aggregator never races itself. */
export function notifyUpdateReady(context: PipelineContext, { experimentId, round, clientId }: TrainMessage): Promise<void> {
  const message: AggregateMessage = { type: 'update', experimentId, round, clientId };
  return context.queues.aggregate.send(message, {
    groupId: experimentId,
    deduplicationId: `${experimentId}:${round}:${clientId}`,
  });
}

/** Secure aggregation: a client answered a stage; one message per client and stage, however often it is retried. */
export function notifyStageAnswered(context: PipelineContext, { experimentId, round, clientId }: TrainMessage, stage: SecAggClientStage): Promise<void> {
  const message: AggregateMessage = { type: 'secagg', experimentId, round, clientId, stage };
  return context.queues.aggregate.send(message, {
    groupId: experimentId,
    deduplicationId: `${experimentId}:${round}:${clientId}:s${SECAGG_CLIENT_STAGES.indexOf(stage) + 1}`,
  });
}

/**
 * The deduplication id names the deadline and the attempt: copies of one timer message collapse into one, while a
 * deadline re-armed after firing early (a new attempt) is never dropped inside SQS's 5-minute deduplication window.
 * At most 80 + 4 + 13 + 4 + 12 characters: within SQS's 128.
 */
export function notifyDeadline(context: PipelineContext, experimentId: string, round: number, dueAt: string, attempt: number): Promise<void> {
  const message: AggregateMessage = { type: 'deadline', experimentId, round, dueAt, attempt };
  return context.queues.aggregate.send(message, {
    groupId: experimentId,
    deduplicationId: `${experimentId}:${round}:deadline:${Date.parse(dueAt)}:${attempt}`,
  });
}

/**
 * A config.json upload, to be started in the experiment's FIFO group, so that two uploads can never interleave two
 * starts; one message per upload (its ETag), however often S3 notifies about it.
 */
export function notifyStart(context: PipelineContext, experimentId: string, configETag: string, configBytes: number | undefined): Promise<void> {
  const message: AggregateMessage = { type: 'start', experimentId, configETag, ...(configBytes !== undefined ? { configBytes } : {}) };
  return context.queues.aggregate.send(message, {
    groupId: experimentId,
    deduplicationId: `${experimentId}:start:${configETag.replace(/[^A-Za-z0-9-]/g, '').slice(0, 40) || 'current'}`,
  });
}
