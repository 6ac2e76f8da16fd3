import type { SQSRecord } from 'aws-lambda';
import { AggregateSession } from '../shared/pipeline/aggregate.js';
import { contextFromEnv } from '../shared/pipeline/context-from-env.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { aggregateMessageSchema, type AggregateMessage, type Delivery } from '../shared/protocol/messages.js';
import { sqsBatchHandler, type RetryOptions, type SqsHandler } from './lib/sqs.js';

const sentAt = (record: SQSRecord) => (record.attributes.SentTimestamp ? new Date(Number(record.attributes.SentTimestamp)) : undefined);

/**
 * FIFO "start" / "update ready" / "deadline" messages, one experiment at a time → start, verdicts, rounds, results.
 * One session per invocation (a batch of messages): it reads an experiment's records once and writes a round's state
 * once per batch; what it left unwritten is written before the batch's messages are deleted, or the whole batch fails.
 */
export interface AggregateHandlerOptions extends RetryOptions {
  /**
   * Read a batch's updates ahead, together, and write its verdicts together (default true); false reads and writes
   * each in its message's turn (the benchmark's baseline).
   */
  readonly readAhead?: boolean;
}

export function createAggregateHandler(getContext: () => Promise<PipelineContext>, options: AggregateHandlerOptions = {}): SqsHandler {
  const { readAhead = true, ...retry } = options;
  return async (event) => {
    let session: AggregateSession | undefined;
    const sessionFor = (context: PipelineContext) => (session ??= new AggregateSession(context, { verdictsTogether: readAhead }));
    const handle = sqsBatchHandler(
      aggregateMessageSchema,
      getContext,
      async (context, message, record) => {
        const outcome = await sessionFor(context).handle(message, sentAt(record));
        context.log('aggregate.outcome', { ...message, outcome });
      },
      {
        ...retry,
        role: 'aggregate',
        fifo: true,
        // What the session left unwritten, before the batch's messages are deleted; if that fails, they all come back.
        afterBatch: async () => {
          await session?.flush();
        },
        // The batch's reads that depend on no other message start together (shared/pipeline/batch-reads.ts).
        ...(readAhead
          ? {
              beforeBatch: (context: PipelineContext, messages: readonly Delivery<AggregateMessage>[]) => {
                sessionFor(context).readAhead(messages);
              },
            }
          : {}),
      },
    );
    return handle(event);
  };
}

export const handler = createAggregateHandler(contextFromEnv);
