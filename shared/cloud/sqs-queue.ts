import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SendMessageBatchRequestEntry,
  type MessageAttributeValue,
  type QueueAttributeName,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { BatchEntry, MessageQueue, SendOptions, VisibilityEntry } from './ports.js';

/** An SQS call failed; names the operation and the queue. */
export class MessageQueueError extends Error {
  override name = 'MessageQueueError';
}

export interface ReceiveOptions {
  /** 1–10 */
  readonly maxMessages: number;
  /** Long polling, 0–20 s. */
  readonly waitTimeSeconds: number;
  /** Overrides the queue's visibility timeout for these messages. */
  readonly visibilityTimeoutSeconds?: number;
  readonly abortSignal?: AbortSignal;
}

/** A received message with the system attributes Lambda's SQS event source passes on. */
export interface ReceivedMessage {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly md5OfMessageAttributes?: string;
  /** ApproximateReceiveCount, SentTimestamp, SenderId, ApproximateFirstReceiveTimestamp, and on FIFO queues MessageGroupId, MessageDeduplicationId, SequenceNumber. */
  readonly attributes: Readonly<Record<string, string>>;
  readonly messageAttributes: Readonly<Record<string, MessageAttributeValue>>;
}

export interface QueueCounts {
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
}

const MAX_DELAY_SECONDS = 900;
/** SQS SendMessageBatch: at most 10 entries and 256 KiB of bodies a call. */
const MAX_BATCH_ENTRIES = 10;
const MAX_BATCH_BYTES = 256 * 1024;
/** Waits before sending again the entries SQS refused for a reason of its own (throttling, an internal error). */
export const BATCH_RETRY_DELAYS_MS: readonly number[] = [100, 400, 1600];

export function queueNameFromUrl(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export class SqsMessageQueue implements MessageQueue {
  readonly name: string;
  readonly fifo: boolean;

  constructor(
    private readonly client: SQSClient,
    readonly url: string,
  ) {
    this.name = queueNameFromUrl(url);
    this.fifo = this.name.endsWith('.fifo');
  }

  private failure(operation: string, error: unknown): MessageQueueError {
    return new MessageQueueError(`SQS ${operation} on queue ${this.name} failed: ${describe(error)}`, { cause: error });
  }

  /** The request fields of one message: `body` as JSON and the options, checked against what the queue accepts. */
  private request(body: unknown, options: SendOptions): { MessageBody: string; MessageGroupId?: string; MessageDeduplicationId?: string; DelaySeconds?: number } {
    const MessageBody = JSON.stringify(body);
    if (MessageBody === undefined) throw new TypeError(`cannot send ${String(body)} to ${this.name}: it has no JSON form`);
    if (this.fifo && !options.groupId) {
      throw new MessageQueueError(`queue ${this.name} is FIFO: a message needs a groupId (and a deduplicationId, as content-based deduplication is off)`);
    }
    if (options.delaySeconds !== undefined) {
      if (this.fifo) throw new MessageQueueError(`queue ${this.name} is FIFO: SQS cannot delay single messages there`);
      if (!Number.isInteger(options.delaySeconds) || options.delaySeconds < 0 || options.delaySeconds > MAX_DELAY_SECONDS) {
        throw new RangeError(`delaySeconds must be an integer in 0–${MAX_DELAY_SECONDS}, got ${options.delaySeconds}`);
      }
    }
    return {
      MessageBody,
      ...(options.groupId !== undefined ? { MessageGroupId: options.groupId } : {}),
      ...(options.deduplicationId !== undefined ? { MessageDeduplicationId: options.deduplicationId } : {}),
      ...(options.delaySeconds !== undefined ? { DelaySeconds: options.delaySeconds } : {}),
    };
  }

  /** Sends `body` as JSON. */
  async send(body: unknown, options: SendOptions = {}): Promise<void> {
    const request = this.request(body, options);
    try {
      await this.client.send(new SendMessageCommand({ QueueUrl: this.url, ...request }));
    } catch (error) {
      throw this.failure('SendMessage', error);
    }
  }

  /**
   * Sends the entries in calls of up to 10 (and 256 KiB). An entry SQS refused for a reason of its own (SenderFault
   * false: throttling, an internal error) is sent again, alone with the others refused, after BATCH_RETRY_DELAYS_MS;
   * one refused as malformed (SenderFault true) or still refused after the last retry fails the whole send, naming it.
   * The entries that got through are never sent again here.
   */
  async sendBatch(entries: readonly BatchEntry[]): Promise<void> {
    const requests = entries.map((entry) => this.request(entry.body, entry.options ?? {}));
    const refused: string[] = [];
    for (const chunk of chunked(requests)) {
      let pending: SendMessageBatchRequestEntry[] = chunk.map((request, index) => ({ Id: String(index), ...request }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        let failed;
        try {
          ({ Failed: failed } = await this.client.send(new SendMessageBatchCommand({ QueueUrl: this.url, Entries: pending })));
        } catch (error) {
          throw this.failure('SendMessageBatch', error);
        }
        const byId = new Map(pending.map((entry) => [entry.Id, entry]));
        const retry = (failed ?? []).filter((entry) => !entry.SenderFault && attempt < BATCH_RETRY_DELAYS_MS.length);
        for (const entry of failed ?? []) {
          if (!retry.includes(entry)) refused.push(`${byId.get(entry.Id)?.MessageBody ?? entry.Id}: ${entry.Code ?? 'error'}${entry.Message ? ` (${entry.Message})` : ''}`);
        }
        pending = retry.flatMap((entry) => (byId.has(entry.Id) ? [byId.get(entry.Id)!] : []));
        if (pending.length > 0) await new Promise((resolve) => setTimeout(resolve, BATCH_RETRY_DELAYS_MS[attempt]));
      }
    }
    if (refused.length > 0) {
      throw new MessageQueueError(`SQS SendMessageBatch on queue ${this.name} refused ${refused.length} of ${entries.length} message(s): ${refused.slice(0, 5).join('; ')}`);
    }
  }

  async receive(options: ReceiveOptions): Promise<ReceivedMessage[]> {
    let messages;
    try {
      ({ Messages: messages } = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.url,
          MaxNumberOfMessages: options.maxMessages,
          WaitTimeSeconds: options.waitTimeSeconds,
          ...(options.visibilityTimeoutSeconds !== undefined ? { VisibilityTimeout: options.visibilityTimeoutSeconds } : {}),
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
        { abortSignal: options.abortSignal },
      ));
    } catch (error) {
      if (options.abortSignal?.aborted) return [];
      throw this.failure('ReceiveMessage', error);
    }
    return (messages ?? []).map((message) => {
      if (!message.MessageId || !message.ReceiptHandle || message.Body === undefined) {
        throw new MessageQueueError(`SQS ReceiveMessage on queue ${this.name} returned a message without id, receipt handle or body`);
      }
      return {
        messageId: message.MessageId,
        receiptHandle: message.ReceiptHandle,
        body: message.Body,
        md5OfBody: message.MD5OfBody ?? '',
        ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
        attributes: { ...message.Attributes },
        messageAttributes: { ...message.MessageAttributes },
      };
    });
  }

  /**
   * One of SQS's batch actions over `items`, 10 a call: every call is made, and the entries SQS refused are named at
   * the end. A call that fails as a whole fails at once.
   */
  private async inBatches<T>(
    action: string,
    items: readonly T[],
    call: (chunk: readonly T[]) => Promise<{ Failed?: { Code?: string; Message?: string }[] }>,
  ): Promise<void> {
    const refused: string[] = [];
    for (let start = 0; start < items.length; start += MAX_BATCH_ENTRIES) {
      try {
        const result = await call(items.slice(start, start + MAX_BATCH_ENTRIES));
        for (const failed of result.Failed ?? []) refused.push(`${failed.Code ?? 'error'}: ${failed.Message ?? ''}`.trim());
      } catch (error) {
        throw this.failure(action, error);
      }
    }
    if (refused.length > 0) {
      throw new MessageQueueError(`SQS ${action} on queue ${this.name} refused ${refused.length} message(s): ${refused.join('; ')}`);
    }
  }

  /** Deletes messages by receipt handle; throws naming the ones SQS refused. */
  async deleteMessages(receiptHandles: readonly string[]): Promise<void> {
    await this.inBatches('DeleteMessageBatch', receiptHandles, (chunk) =>
      this.client.send(
        new DeleteMessageBatchCommand({ QueueUrl: this.url, Entries: chunk.map((ReceiptHandle, index) => ({ Id: String(index), ReceiptHandle })) }),
      ),
    );
  }

  async changeVisibility(receiptHandle: string, visibilityTimeoutSeconds: number): Promise<void> {
    try {
      await this.client.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: this.url, ReceiptHandle: receiptHandle, VisibilityTimeout: visibilityTimeoutSeconds }),
      );
    } catch (error) {
      throw this.failure('ChangeMessageVisibility', error);
    }
  }

  /** In calls of up to 10; throws naming the entries SQS refused. */
  async changeVisibilityBatch(entries: readonly VisibilityEntry[]): Promise<void> {
    await this.inBatches('ChangeMessageVisibilityBatch', entries, (chunk) =>
      this.client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.url,
          Entries: chunk.map(({ receiptHandle, seconds }, index) => ({ Id: String(index), ReceiptHandle: receiptHandle, VisibilityTimeout: seconds })),
        }),
      ),
    );
  }

  async attributes(names: QueueAttributeName[] = ['All']): Promise<Record<string, string>> {
    try {
      const result = await this.client.send(new GetQueueAttributesCommand({ QueueUrl: this.url, AttributeNames: names }));
      return { ...result.Attributes };
    } catch (error) {
      throw this.failure('GetQueueAttributes', error);
    }
  }

  /** SQS's approximate message counts. */
  async counts(): Promise<QueueCounts> {
    const attributes = await this.attributes([
      'ApproximateNumberOfMessages',
      'ApproximateNumberOfMessagesNotVisible',
      'ApproximateNumberOfMessagesDelayed',
    ]);
    return {
      visible: Number(attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(attributes.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  }

  async arn(): Promise<string> {
    const { QueueArn } = await this.attributes(['QueueArn']);
    if (!QueueArn) throw new MessageQueueError(`SQS GetQueueAttributes on queue ${this.name} returned no QueueArn`);
    return QueueArn;
  }
}

/** Requests in SendMessageBatch-sized groups: at most 10 entries and 256 KiB of bodies each. */
function chunked<T extends { MessageBody: string }>(requests: readonly T[]): T[][] {
  const chunks: T[][] = [];
  let bytes = 0;
  for (const request of requests) {
    const size = Buffer.byteLength(request.MessageBody);
    const last = chunks.at(-1);
    if (!last || last.length === MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES) {
      chunks.push([request]);
      bytes = size;
    } else {
      last.push(request);
      bytes += size;
    }
  }
  return chunks;
}

export interface QueueDefinition {
  /** FIFO when it ends in `.fifo`. */
  readonly name: string;
  readonly visibilityTimeoutSeconds?: number;
  /** Where messages go after `maxReceiveCount` receives without a delete. */
  readonly deadLetter?: { readonly targetArn: string; readonly maxReceiveCount: number };
}

/** Creates a queue (idempotent when the attributes match) and returns its URL and ARN. */
export async function createQueue(client: SQSClient, definition: QueueDefinition): Promise<{ url: string; arn: string }> {
  const fifo = definition.name.endsWith('.fifo');
  const Attributes: Record<string, string> = {};
  if (fifo) {
    Attributes.FifoQueue = 'true';
    // We always pass explicit deduplication ids (shared/protocol/messages.ts).
    Attributes.ContentBasedDeduplication = 'false';
  }
  if (definition.visibilityTimeoutSeconds !== undefined) Attributes.VisibilityTimeout = String(definition.visibilityTimeoutSeconds);
  if (definition.deadLetter) {
    Attributes.RedrivePolicy = JSON.stringify({
      deadLetterTargetArn: definition.deadLetter.targetArn,
      maxReceiveCount: String(definition.deadLetter.maxReceiveCount),
    });
  }
  let url: string | undefined;
  try {
    ({ QueueUrl: url } = await client.send(new CreateQueueCommand({ QueueName: definition.name, Attributes })));
  } catch (error) {
    throw new MessageQueueError(`SQS CreateQueue ${definition.name} failed: ${describe(error)}`, { cause: error });
  }
  if (!url) throw new MessageQueueError(`SQS CreateQueue ${definition.name} returned no QueueUrl`);
  return { url, arn: await new SqsMessageQueue(client, url).arn() };
}

export async function queueUrlByName(client: SQSClient, name: string): Promise<string> {
  let url: string | undefined;
  try {
    ({ QueueUrl: url } = await client.send(new GetQueueUrlCommand({ QueueName: name })));
  } catch (error) {
    throw new MessageQueueError(`SQS GetQueueUrl ${name} failed: ${describe(error)}`, { cause: error });
  }
  if (!url) throw new MessageQueueError(`SQS GetQueueUrl ${name} returned no QueueUrl`);
  return url;
}
