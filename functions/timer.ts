import { contextFromEnv } from '../shared/pipeline/context-from-env.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { forwardDueDeadline } from '../shared/pipeline/timer.js';
import { timerMessageSchema } from '../shared/protocol/messages.js';
import { sqsBatchHandler, type RetryOptions, type SqsHandler } from './lib/sqs.js';

/** Delayed round-deadline messages → the FIFO aggregate queue once due (SQS delays top out at 15 minutes). */
export function createTimerHandler(getContext: () => Promise<PipelineContext>, retry: RetryOptions = {}): SqsHandler {
  return sqsBatchHandler(timerMessageSchema, getContext, forwardDueDeadline, { ...retry, role: 'timer' });
}

export const handler = createTimerHandler(contextFromEnv);
