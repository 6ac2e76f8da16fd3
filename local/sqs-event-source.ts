import type { SQSBatchResponse } from 'aws-lambda';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReceivedMessage, ReceiveOptions } from '../shared/cloud/sqs-queue.js';
import type { Log } from '../shared/pipeline/context.js';
import { sqsEventFor } from './events.js';
import type { SQSHandlerFn } from './types.js';

/** What an event source needs of a queue (SqsMessageQueue provides it). */
export interface EventSourceQueue {
  readonly name: string;
  readonly fifo: boolean;
  receive(options: ReceiveOptions): Promise<ReceivedMessage[]>;
  deleteMessages(receiptHandles: readonly string[]): Promise<void>;
  changeVisibility(receiptHandle: string, visibilityTimeoutSeconds: number): Promise<void>;
}

export interface SqsEventSourceOptions {
  readonly queue: EventSourceQueue;
  readonly queueArn: string;
  readonly region: string;
  /** Messages per invocation, at most 10. */
  readonly batchSize: number;
  /** Batches in flight at once: each has its own poller, as each concurrent Lambda invocation pulls its own batch. */
  readonly concurrency: number;
  /** The queue's redrive maxReceiveCount: only used to say in the log which failures go to the DLQ next. */
  readonly maxReceiveCount: number;
  readonly handler: SQSHandlerFn;
  /** Long-polling wait, 1–20 s. Default 20; stop() does not wait for it. */
  readonly waitTimeSeconds?: number;
  /** Pause after a failed receive. */
  readonly retryDelayMs: number;
  readonly log: Log;
}

const LOGGED_BODY_CHARS = 2000;

function describe(error: unknown): string {
  const text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  // Powertools' FullBatchFailureError says "see individual errors below" and carries them here, not in its message.
  const recordErrors: unknown = (error as { recordErrors?: unknown } | undefined)?.recordErrors;
  if (!Array.isArray(recordErrors) || recordErrors.length === 0) return text;
  return [text, ...recordErrors.map((cause, index) => `record error ${index + 1}: ${describe(cause)}`)].join('\n');
}

/**
 * Lambda's SQS event-source mapping, emulated: long-polls, invokes the handler with a real-shaped SQSEvent, deletes
 * what succeeded and leaves what failed (the records in batchItemFailures, or the whole batch if the handler throws or
 * answers nonsense) to reappear after the visibility timeout, until the queue's redrive policy moves it to the DLQ.
 *
 * FIFO: SQS hands out a message group only when none of its messages is in flight (fauxqs does the same), so no two
 * batches of a group run at once. Should a queue return a group that a batch here is still processing anyway (SQS
 * does once that batch outlives its visibility timeout), the poller holds the messages until that batch is done and
 * then makes them visible again, unprocessed, so the group goes on from its head in order.
 */
export class SqsEventSource {
  private readonly stopping = new AbortController();
  private readonly pollers: Promise<void>[] = [];
  private readonly groupsInFlight = new Map<string, Promise<void>>();
  private holding = 0;

  constructor(private readonly options: SqsEventSourceOptions) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1 || options.batchSize > 10) {
      throw new RangeError(`batchSize must be an integer in 1–10, got ${options.batchSize}`);
    }
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
    }
  }

  start(): void {
    if (this.pollers.length > 0) return;
    for (let i = 0; i < this.options.concurrency; i++) this.pollers.push(this.poll());
  }

  /** True while any poller holds received messages or runs the handler. */
  get busy(): boolean {
    return this.holding > 0;
  }

  /** Stops receiving and waits for the batches being handled. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.pollers);
  }

  private async poll(): Promise<void> {
    const { queue, batchSize, log, retryDelayMs } = this.options;
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      let messages: ReceivedMessage[];
      try {
        messages = await queue.receive({ maxMessages: batchSize, waitTimeSeconds: this.options.waitTimeSeconds ?? 20, abortSignal: signal });
      } catch (error) {
        if (signal.aborted) break;
        log('local.sqs.receive-failed', { queue: queue.name, error: describe(error) });
        await sleep(retryDelayMs, undefined, { signal }).catch(() => undefined);
        continue;
      }
      // Received while stopping: they reappear after their visibility timeout, like after a poller crash.
      if (messages.length === 0 || signal.aborted) continue;
      this.holding++;
      try {
        if (queue.fifo) await this.dispatchByGroup(messages);
        else await this.invoke(messages);
      } finally {
        this.holding--;
      }
    }
  }

  private async dispatchByGroup(messages: readonly ReceivedMessage[]): Promise<void> {
    const groups = new Map<string, ReceivedMessage[]>();
    for (const message of messages) {
      const group = message.attributes.MessageGroupId ?? '';
      groups.set(group, [...(groups.get(group) ?? []), message]);
    }
    for (const [group, batch] of groups) {
      const inFlight = this.groupsInFlight.get(group);
      if (inFlight) {
        // Held (invisible) until that batch is done, so no other poller picks them up meanwhile; then handed back
        // rather than run, so that SQS serves the group's head again if that batch failed.
        await inFlight;
        await this.release(batch);
        continue;
      }
      let finished!: () => void;
      this.groupsInFlight.set(group, new Promise<void>((resolve) => (finished = resolve)));
      try {
        await this.invoke(batch);
      } finally {
        this.groupsInFlight.delete(group);
        finished();
      }
    }
  }

  private async release(batch: readonly ReceivedMessage[]): Promise<void> {
    const { queue, log } = this.options;
    log('local.sqs.group-busy', { queue: queue.name, messageIds: batch.map((message) => message.messageId) });
    await Promise.all(
      batch.map((message) =>
        queue.changeVisibility(message.receiptHandle, 0).catch((error: unknown) => {
          log('local.sqs.release-failed', { queue: queue.name, messageId: message.messageId, error: describe(error) });
        }),
      ),
    );
  }

  private async invoke(batch: readonly ReceivedMessage[]): Promise<void> {
    const { queue, queueArn, region, handler, log } = this.options;
    const event = sqsEventFor(batch, queueArn, region);
    let failed: ReadonlySet<string>;
    try {
      failed = this.failedIds(await handler(event), batch);
    } catch (error) {
      if (!this.stopping.signal.aborted) log('local.sqs.handler-failed', { queue: queue.name, messageIds: batch.map((m) => m.messageId), error: describe(error) });
      failed = new Set(batch.map((message) => message.messageId));
    }
    const succeeded = batch.filter((message) => !failed.has(message.messageId));
    if (succeeded.length > 0) {
      await queue.deleteMessages(succeeded.map((message) => message.receiptHandle)).catch((error: unknown) => {
        // Undeleted messages come back after their visibility timeout: handlers are idempotent for exactly this.
        log('local.sqs.delete-failed', { queue: queue.name, error: describe(error) });
      });
    }
    if (failed.size > 0 && !this.stopping.signal.aborted) this.logRetries(batch.filter((message) => failed.has(message.messageId)));
  }

  /** Lambda's reading of a batch response: any unknown or empty itemIdentifier fails the whole batch. */
  private failedIds(response: SQSBatchResponse | void, batch: readonly ReceivedMessage[]): ReadonlySet<string> {
    const all = new Set(batch.map((message) => message.messageId));
    if (response === undefined || response === null) return new Set();
    const failures: unknown = (response as { batchItemFailures?: unknown }).batchItemFailures;
    if (failures === undefined || failures === null) return new Set();
    if (!Array.isArray(failures)) {
      this.options.log('local.sqs.invalid-batch-response', { queue: this.options.queue.name, response: JSON.stringify(response) });
      return all;
    }
    const failed = new Set<string>();
    for (const failure of failures) {
      const id: unknown = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
      if (typeof id !== 'string' || !all.has(id)) {
        this.options.log('local.sqs.invalid-batch-response', { queue: this.options.queue.name, itemIdentifier: String(id) });
        return all;
      }
      failed.add(id);
    }
    return failed;
  }

  private logRetries(failed: readonly ReceivedMessage[]): void {
    const { queue, maxReceiveCount, log } = this.options;
    for (const message of failed) {
      const receiveCount = Number(message.attributes.ApproximateReceiveCount ?? 1);
      const deadLetterNext = receiveCount >= maxReceiveCount;
      log(deadLetterNext ? 'local.sqs.dead-letter' : 'local.sqs.retry', {
        queue: queue.name,
        messageId: message.messageId,
        receiveCount,
        maxReceiveCount,
        ...(deadLetterNext ? { body: message.body.slice(0, LOGGED_BODY_CHARS) } : {}),
      });
    }
  }
}
