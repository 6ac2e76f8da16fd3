import type { AggregateMessage, TrainMessage } from '../protocol/messages.js';
import type { PipelineContext } from './context.js';
import { SECAGG_CLIENT_STAGES, type SecAggClientStage } from '../protocol/keys.js';

/**
 * A split round's group (config round.groups) has a FIFO group of its own, so that groups are checked side by side; at
 * most 80 + 1 + 4 + 1 + 2 characters, within SQS's 128.
 */
export function groupFifoId(experimentId: string, round: number, group: number): string {
  return `${experimentId}:${round}:${group}`;
}

/**
 * All of one experiment's aggregation messages share a FIFO group, so the aggregator never races itself; a split
 * round's "update ready" goes to its group's, where only that group's records change.
 */
export function notifyUpdateReady(context: PipelineContext, { experimentId, round, clientId, group }: TrainMessage): Promise<void> {
  const message: AggregateMessage = { type: 'update', experimentId, round, clientId, ...(group !== undefined ? { group } : {}) };
  return context.queues.aggregate.send(message, {
    groupId: group === undefined ? experimentId : groupFifoId(experimentId, round, group),
    deduplicationId: `${experimentId}:${round}:${clientId}`,
  });
}

/** A group of a split round wrote its partial sum: to the experiment's FIFO group, where the round closes. */
export function notifyGroupClosed(context: PipelineContext, experimentId: string, round: number, group: number): Promise<void> {
  const message: AggregateMessage = { type: 'group-closed', experimentId, round, group };
  return context.queues.aggregate.send(message, { groupId: experimentId, deduplicationId: `${experimentId}:${round}:closed:${group}` });
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
export function notifyDeadline(context: PipelineContext, experimentId: string, round: number, dueAt: string, attempt: number, group?: number): Promise<void> {
  const message: AggregateMessage = { type: 'deadline', experimentId, round, dueAt, attempt, ...(group !== undefined ? { group } : {}) };
  return context.queues.aggregate.send(message, {
    groupId: group === undefined ? experimentId : groupFifoId(experimentId, round, group),
    deduplicationId: `${experimentId}:${round}:deadline:${Date.parse(dueAt)}:${attempt}${group === undefined ? '' : `:g${group}`}`,
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
