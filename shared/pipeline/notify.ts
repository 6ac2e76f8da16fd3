import type { AggregateMessage, TrainMessage } from '../protocol/messages.js';
import type { PipelineContext } from './context.js';

/** All of one experiment's aggregation messages share a FIFO group: the aggregator never races itself. */
export function notifyUpdateReady(context: PipelineContext, { experimentId, round, clientId }: TrainMessage): Promise<void> {
  const message: AggregateMessage = { type: 'update', experimentId, round, clientId };
  return context.queues.aggregate.send(message, {
    groupId: experimentId,
    deduplicationId: `${experimentId}:${round}:${clientId}`,
  });
}

export function notifyDeadline(context: PipelineContext, experimentId: string, round: number): Promise<void> {
  const message: AggregateMessage = { type: 'deadline', experimentId, round };
  return context.queues.aggregate.send(message, {
    groupId: experimentId,
    deduplicationId: `${experimentId}:${round}:deadline`,
  });
}
