import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type MessageAttributeValue,
  type QueueAttributeName,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { MessageQueue, SendOptions } from './ports.js';

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

  /** Sends `body` as JSON. */
  async send(body: unknown, options: SendOptions = {}): Promise<void> {
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
    try {
      await this.client.send(
        new SendMessageCommand({
          QueueUrl: this.url,
          MessageBody,
          ...(options.groupId !== undefined ? { MessageGroupId: options.groupId } : {}),
          ...(options.deduplicationId !== undefined ? { MessageDeduplicationId: options.deduplicationId } : {}),
          ...(options.delaySeconds !== undefined ? { DelaySeconds: options.delaySeconds } : {}),
        }),
      );
    } catch (error) {
      throw this.failure('SendMessage', error);
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

  /** Deletes messages by receipt handle; throws naming the ones SQS refused. */
  async deleteMessages(receiptHandles: readonly string[]): Promise<void> {
    const refused: string[] = [];
    for (let start = 0; start < receiptHandles.length; start += 10) {
      const chunk = receiptHandles.slice(start, start + 10);
      try {
        const result = await this.client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.url,
            Entries: chunk.map((ReceiptHandle, index) => ({ Id: String(index), ReceiptHandle })),
          }),
        );
        for (const failed of result.Failed ?? []) refused.push(`${failed.Code ?? 'error'}: ${failed.Message ?? ''}`.trim());
      } catch (error) {
        throw this.failure('DeleteMessageBatch', error);
      }
    }
    if (refused.length > 0) {
      throw new MessageQueueError(`SQS DeleteMessageBatch on queue ${this.name} refused ${refused.length} message(s): ${refused.join('; ')}`);
    }
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
