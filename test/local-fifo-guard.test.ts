import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { ReceivedMessage, ReceiveOptions } from '../shared/cloud/sqs-queue.js';
import { SqsEventSource, type EventSourceQueue } from '../local/sqs-event-source.js';

interface Stored {
  readonly sequence: number;
  readonly messageId: string;
  readonly body: string;
  readonly group: string;
  receives: number;
}

/**
 * A FIFO queue that, unlike SQS and fauxqs, hands out messages of a group that is already in flight: the case the
 * event source must be safe against on its own.
 */
class GroupBlindFifoQueue implements EventSourceQueue {
  readonly name = 'group-blind.fifo';
  readonly fifo = true;
  private ready: Stored[] = [];
  private readonly inFlight = new Map<string, Stored>();
  private sequence = 0;

  add(group: string, body: string): void {
    this.ready.push({ sequence: this.sequence++, messageId: randomUUID(), body, group, receives: 0 });
  }

  get remaining(): number {
    return this.ready.length + this.inFlight.size;
  }

  async receive(options: ReceiveOptions): Promise<ReceivedMessage[]> {
    while (this.ready.length === 0) {
      if (options.abortSignal?.aborted) return [];
      await sleep(2);
    }
    return this.ready.splice(0, options.maxMessages).map((stored) => {
      stored.receives++;
      const receiptHandle = randomUUID();
      this.inFlight.set(receiptHandle, stored);
      return {
        messageId: stored.messageId,
        receiptHandle,
        body: stored.body,
        md5OfBody: '',
        attributes: { MessageGroupId: stored.group, ApproximateReceiveCount: String(stored.receives) },
        messageAttributes: {},
      };
    });
  }

  async deleteMessages(receiptHandles: readonly string[]): Promise<void> {
    for (const handle of receiptHandles) this.inFlight.delete(handle);
  }

  async changeVisibility(receiptHandle: string, seconds: number): Promise<void> {
    const stored = this.inFlight.get(receiptHandle);
    if (!stored || seconds !== 0) return;
    this.inFlight.delete(receiptHandle);
    // Back in sequence order: the group's head is served first again.
    this.ready = [...this.ready, stored].sort((a, b) => a.sequence - b.sequence);
  }
}

describe('SqsEventSource on a FIFO queue', () => {
  it('runs one batch of a group at a time, in order, even when the queue hands out a busy group', async () => {
    const queue = new GroupBlindFifoQueue();
    for (let n = 0; n < 5; n++) queue.add('experiment', String(n));

    let active = 0;
    let maxActive = 0;
    const processed: string[] = [];
    const logged: string[] = [];
    const source = new SqsEventSource({
      queue,
      queueArn: 'arn:aws:sqs:us-east-1:000000000000:group-blind.fifo',
      region: 'us-east-1',
      batchSize: 1,
      concurrency: 3,
      maxReceiveCount: 3,
      retryDelayMs: 10,
      waitTimeSeconds: 1,
      log: (event) => logged.push(event),
      handler: async (event) => {
        active++;
        maxActive = Math.max(maxActive, active);
        processed.push(...event.Records.map((record) => record.body));
        await sleep(15);
        active--;
        return { batchItemFailures: [] };
      },
    });
    source.start();
    while (queue.remaining > 0 || source.busy) await sleep(5);
    await source.stop();

    expect(maxActive).toBe(1);
    expect(processed).toEqual(['0', '1', '2', '3', '4']);
    // The guard did have to step in: other pollers were handed the busy group.
    expect(logged).toContain('local.sqs.group-busy');
  });
});
