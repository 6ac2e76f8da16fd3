import {
  BatchProcessor,
  EventType,
  SqsFifoPartialProcessorAsync,
  processPartialResponse,
} from '@aws-lambda-powertools/batch';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { z } from 'zod';
import type { MessageQueue } from '../../shared/cloud/ports.js';
import type { QueueRole } from '../../shared/cloud/resources.js';
import type { Log, PipelineContext } from '../../shared/pipeline/context.js';

export type SqsHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

export class MessageFormatError extends Error {
  override name = 'MessageFormatError';
}

/**
 * How a record's attempt holds its message. While the handler runs, the message stays leased for LEASE_SECONDS at a
 * time, renewed every LEASE_RENEW_MS: a handler that dies without a word (a Lambda timeout, an out-of-memory kill, a
 * crashed worker) has its message back within a minute, not after the queue's visibility timeout (6 × the function
 * timeout on AWS: 90 minutes for training, longer than a round's deadline). A handler that fails makes its message
 * visible again after RETRY_DELAYS_SECONDS[receive − 1] (the last one repeats): seconds, not the visibility timeout.
 */
export const LEASE_SECONDS = 60;
const LEASE_RENEW_MS = 20_000;
export const RETRY_DELAYS_SECONDS: readonly number[] = [5, 15, 30, 60];

export function retryDelaySeconds(receiveCount: number, delays: readonly number[] = RETRY_DELAYS_SECONDS): number {
  return delays[Math.min(Math.max(receiveCount, 1), delays.length) - 1]!;
}

/** What a deployment may tune; the defaults are what the stack runs with. */
export interface RetryOptions {
  /** seconds before a failed record is retried, by receive (the last repeats); default RETRY_DELAYS_SECONDS */
  readonly retryDelaysSeconds?: readonly number[];
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

/** The ids a message body names, for the log line of a failed record (whatever the body's shape). */
function idsOf(body: string): Record<string, unknown> {
  try {
    const json = JSON.parse(body) as Record<string, unknown>;
    const ids: Record<string, unknown> = {};
    for (const field of ['type', 'experimentId', 'round', 'clientId']) if (json[field] !== undefined) ids[field] = json[field];
    return ids;
  } catch {
    return {};
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
}

/** Keeps a received message invisible while its handler runs; stop() waits for a renewal in flight. */
function lease(queue: MessageQueue, record: SQSRecord, log: Log): { stop(): Promise<void> } {
  let pending: Promise<void> = Promise.resolve();
  const renew = () => {
    pending = queue.changeVisibility(record.receiptHandle, LEASE_SECONDS).catch((error: unknown) => {
      log('sqs.lease-failed', { messageId: record.messageId, error: describe(error) });
    });
  };
  renew();
  const timer = setInterval(renew, LEASE_RENEW_MS);
  timer.unref?.();
  return {
    async stop() {
      clearInterval(timer);
      await pending;
    },
  };
}

export interface SqsBatchHandlerOptions<M = unknown> extends RetryOptions {
  /** Called once per invocation, before the first record, with every record that parses (the others fail in their turn). */
  readonly beforeBatch?: (context: PipelineContext, messages: readonly M[]) => void;
  /** The queue the records come from: a failed record's visibility is changed there. */
  readonly role: QueueRole;
  readonly fifo?: boolean;
}

/**
 * Partial batch responses via Powertools: a failing record is retried alone and, after maxReceiveCount, lands in
 * the DLQ with its body intact — malformed ones too, so nothing is dropped silently. Each failure is logged with the
 * record's experiment, round and client and the cause (to CloudWatch on AWS, the local log locally), and retried
 * after a short delay (see LEASE_SECONDS). On FIFO queues the records after a failure are failed as well, to keep the
 * group's order. A fresh processor per invocation: the local runtime may invoke one handler concurrently.
 */
export function sqsBatchHandler<T extends z.ZodType>(
  schema: T,
  getContext: () => Promise<PipelineContext>,
  handleMessage: (context: PipelineContext, message: z.output<T>, record: SQSRecord) => Promise<unknown>,
  options: SqsBatchHandlerOptions<z.output<T>>,
): SqsHandler {
  return async (event) => {
    const processor = options.fifo ? new SqsFifoPartialProcessorAsync() : new BatchProcessor(EventType.SQS);
    const context = await getContext();
    const queue = context.queues[options.role];
    if (options.beforeBatch) {
      const messages = event.Records.flatMap((record) => {
        try {
          return [parseBody(record, schema)];
        } catch {
          return [];
        }
      });
      options.beforeBatch(context, messages);
    }
    return processPartialResponse(
      event,
      async (record: SQSRecord) => {
        const held = lease(queue, record, context.log);
        try {
          return await handleMessage(context, parseBody(record, schema), record);
        } catch (error) {
          await held.stop();
          const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? 1);
          const retryInSeconds = retryDelaySeconds(receiveCount, options.retryDelaysSeconds);
          context.log('sqs.record-failed', {
            queue: options.role,
            messageId: record.messageId,
            receiveCount,
            retryInSeconds,
            ...idsOf(record.body),
            error: describe(error),
          });
          await queue.changeVisibility(record.receiptHandle, retryInSeconds).catch((visibilityError: unknown) => {
            context.log('sqs.retry-delay-failed', { messageId: record.messageId, error: describe(visibilityError) });
          });
          throw error;
        } finally {
          await held.stop();
        }
      },
      processor,
    );
  };
}
