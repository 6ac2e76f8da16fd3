import { handleAggregateMessage } from '../shared/pipeline/aggregate.js';
import { contextFromEnv } from '../shared/pipeline/context-from-env.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { aggregateMessageSchema } from '../shared/protocol/messages.js';
import { sqsBatchHandler, type RetryOptions, type SqsHandler } from './lib/sqs.js';

/** FIFO "start" / "update ready" / "deadline" messages, one experiment at a time → start, verdicts, rounds, results. */
export function createAggregateHandler(getContext: () => Promise<PipelineContext>, retry: RetryOptions = {}): SqsHandler {
  return sqsBatchHandler(
    aggregateMessageSchema,
    getContext,
    async (context, message) => {
      const outcome = await handleAggregateMessage(context, message);
      context.log('aggregate.outcome', { ...message, outcome });
    },
    { ...retry, role: 'aggregate', fifo: true },
  );
}

export const handler = createAggregateHandler(contextFromEnv);
