import {
  BatchProcessor,
  EventType,
  SqsFifoPartialProcessorAsync,
  processPartialResponse,
} from '@aws-lambda-powertools/batch';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { z } from 'zod';

export type SqsHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

export class MessageFormatError extends Error {
  override name = 'MessageFormatError';
}

function parseBody<T extends z.ZodType>(record: SQSRecord, schema: T): z.output<T> {
  let json: unknown;
  try {
    json = JSON.parse(record.body);
  } catch {
    throw new MessageFormatError(`message ${record.messageId} is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new MessageFormatError(`message ${record.messageId} is malformed: ${parsed.error.message}`);
  return parsed.data;
}

/**
 * Partial batch responses via Powertools: a failing record is retried alone and, after maxReceiveCount, lands in
 * the DLQ with its body intact — malformed ones too, so nothing is dropped silently. On FIFO queues the records
 * after a failure are failed as well, to keep the group's order. A fresh processor per invocation: the local
 * runtime may invoke one handler concurrently.
 */
export function sqsBatchHandler<T extends z.ZodType>(
  schema: T,
  handleMessage: (message: z.output<T>, record: SQSRecord) => Promise<unknown>,
  options: { fifo?: boolean } = {},
): SqsHandler {
  return async (event) => {
    const processor = options.fifo ? new SqsFifoPartialProcessorAsync() : new BatchProcessor(EventType.SQS);
    return processPartialResponse(event, (record: SQSRecord) => handleMessage(parseBody(record, schema), record), processor);
  };
}
