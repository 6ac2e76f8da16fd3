import { contextFromEnv } from '../shared/pipeline/context-from-env.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { trainClient } from '../shared/pipeline/train.js';
import { trainMessageSchema } from '../shared/protocol/messages.js';
import { sqsBatchHandler, type RetryOptions, type SqsHandler } from './lib/sqs.js';

/** One "train" message per client per round → local training → update in S3 → "update ready" message. */
export function createTrainHandler(getContext: () => Promise<PipelineContext>, retry: RetryOptions = {}): SqsHandler {
  return sqsBatchHandler(trainMessageSchema, getContext, trainClient, { ...retry, role: 'train' });
}

export const handler = createTrainHandler(contextFromEnv);
