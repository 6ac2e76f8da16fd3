import {
  BatchProcessor,
  EventType,
  SqsFifoPartialProcessorAsync,
  processPartialResponse,
} from '@aws-lambda-powertools/batch';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { z } from 'zod';
import type { MessageQueue } from '../../shared/cloud/ports.js';
import type { Delivery } from '../../shared/protocol/messages.js';
import type { QueueRole } from '../../shared/cloud/resources.js';
import type { Log, PipelineContext } from '../../shared/pipeline/context.js';

export type SqsHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

export class MessageFormatError extends Error {
  override name = 'MessageFormatError';
}

/**
 * How an invocation holds its messages. While the handler runs, every message of its batch stays leased for
 * LEASE_SECONDS at a time, renewed every third of that, in one call per 10 messages: a handler that dies without a
 * word (a Lambda timeout, an out-of-memory kill, a crashed worker) has its messages back within a minute, not after
 * the queue's visibility timeout (6 × the function timeout on AWS: 90 minutes for training, 30 for the aggregator).
 * The whole batch, not only the record in hand: on a FIFO queue a message in flight holds back its whole group, so one
 * record the invocation never reached would hold the experiment for that long. The records a handler fails (on a FIFO
 * queue, with every record after them) are visible again after RETRY_DELAYS_SECONDS[receive − 1] (the last one
 * repeats): seconds, not the visibility timeout.
 */
export const LEASE_SECONDS = 60;
export const RETRY_DELAYS_SECONDS: readonly number[] = [5, 15, 30, 60];

export function retryDelaySeconds(receiveCount: number, delays: readonly number[] = RETRY_DELAYS_SECONDS): number {
  return delays[Math.min(Math.max(receiveCount, 1), delays.length) - 1]!;
}

/** What a deployment may tune; the defaults are what the stack runs with. */
export interface RetryOptions {
  /** seconds before a failed record is retried, by receive (the last repeats); default RETRY_DELAYS_SECONDS */
  readonly retryDelaysSeconds?: readonly number[];
  /** seconds a batch's messages stay leased at a time while it runs; default LEASE_SECONDS */
  readonly leaseSeconds?: number;
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

const receiveCountOf = (record: SQSRecord) => Number(record.attributes.ApproximateReceiveCount ?? 1);

/** Keeps the batch's messages invisible while its handler runs; stop() waits for a renewal in flight. */
function leaseBatch(queue: MessageQueue, records: readonly SQSRecord[], seconds: number, log: Log): { stop(): Promise<void> } {
  const entries = records.map((record) => ({ receiptHandle: record.receiptHandle, seconds }));
  let pending: Promise<void> = Promise.resolve();
  const renew = () => {
    pending = queue.changeVisibilityBatch(entries).catch((error: unknown) => {
      log('sqs.lease-failed', { messageIds: records.map((record) => record.messageId), error: describe(error) });
    });
  };
  if (entries.length > 0) renew();
  // Renewed well before it lapses, so one slow renewal does not let the batch go.
  const timer = setInterval(renew, (seconds * 1000) / 3);
  timer.unref?.();
  return {
    async stop() {
      clearInterval(timer);
      await pending;
    },
  };
}

/**
 * Makes the failed records visible again after their retry delay. On a FIFO queue they come back as one run of the
 * group (the first failed record and every one after it), so all of them wait the delay of the first, whose failure
 * held back the rest; on a standard queue each waits its own.
 */
async function handBack(queue: MessageQueue, failed: readonly SQSRecord[], fifo: boolean, delays: readonly number[] | undefined, log: Log): Promise<void> {
  if (failed.length === 0) return;
  const entries = failed.map((record) => ({
    receiptHandle: record.receiptHandle,
    seconds: retryDelaySeconds(receiveCountOf(fifo ? failed[0]! : record), delays),
  }));
  await queue.changeVisibilityBatch(entries).catch((error: unknown) => {
    log('sqs.retry-delay-failed', { messageIds: failed.map((record) => record.messageId), error: describe(error) });
  });
}

export interface SqsBatchHandlerOptions<M = unknown> extends RetryOptions {
  /** Called once per invocation, before the first record, with every record that parses (the others fail in their turn). */
  readonly beforeBatch?: (context: PipelineContext, messages: readonly Delivery<M>[]) => void;
  /**
   * Called once per invocation after the records, whether they failed or not, while the batch is still leased: a
   * failure fails the whole batch (every record comes back).
   */
  readonly afterBatch?: (context: PipelineContext) => Promise<void>;
  /** The queue the records come from: its messages are leased and failed records handed back there. */
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
  const { leaseSeconds = LEASE_SECONDS } = options;
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 1 || leaseSeconds > 43_200) {
    throw new RangeError(`leaseSeconds must be an integer in 1–43200 (SQS's visibility timeout range), got ${leaseSeconds}`);
  }
  return async (event) => {
    const processor = options.fifo ? new SqsFifoPartialProcessorAsync() : new BatchProcessor(EventType.SQS);
    const context = await getContext();
    const queue = context.queues[options.role];
    const held = leaseBatch(queue, event.Records, leaseSeconds, context.log);
    let response: SQSBatchResponse | undefined;
    let failure: { readonly error: unknown } | undefined;
    try {
      if (options.beforeBatch) {
        const messages = event.Records.flatMap((record) => {
          try {
            return [{ message: parseBody(record, schema), receiveCount: receiveCountOf(record) }];
          } catch {
            return [];
          }
        });
        options.beforeBatch(context, messages);
      }
      response = await processPartialResponse(
        event,
        async (record: SQSRecord) => {
          try {
            return await handleMessage(context, parseBody(record, schema), record);
          } catch (error) {
            const receiveCount = receiveCountOf(record);
            context.log('sqs.record-failed', {
              queue: options.role,
              messageId: record.messageId,
              receiveCount,
              retryInSeconds: retryDelaySeconds(receiveCount, options.retryDelaysSeconds),
              ...idsOf(record.body),
              error: describe(error),
            });
            throw error;
          }
        },
        processor,
      );
    } catch (error) {
      // Every record failed (Powertools throws then), or the batch could not start: all of it comes back.
      failure = { error };
    }
    try {
      await options.afterBatch?.(context);
    } catch (error) {
      context.log('sqs.batch-failed', { queue: options.role, messageIds: event.Records.map((record) => record.messageId), error: describe(error) });
      failure ??= { error };
    }
    await held.stop();
    const failedIds = failure ? undefined : new Set(response!.batchItemFailures.map((item) => item.itemIdentifier));
    const failed = event.Records.filter((record) => !failedIds || failedIds.has(record.messageId));
    await handBack(queue, failed, options.fifo === true, options.retryDelaysSeconds, context.log);
    if (failure) throw failure.error;
    return response!;
  };
}
