import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { sqsBatchHandler, type SqsBatchHandlerOptions } from '../functions/lib/sqs.js';
import { sqsEventFor } from '../local/events.js';
import type { ObjectStore } from '../shared/cloud/ports.js';
import { SqsMessageQueue, createQueue, type ReceivedMessage } from '../shared/cloud/sqs-queue.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { useEmulatorSqs } from './helpers/emulator-sqs.js';

/**
 * How an invocation holds and hands back its batch, against the emulator's FIFO queues (which, as SQS, hand out none of
 * a group while any of its messages is in flight). The queues' visibility timeout is long (10 minutes, as the stack's
 * 30 would be): every message must be back in seconds all the same, or the experiment's group stays locked that long.
 */
const local = useEmulatorSqs();
const VISIBILITY_TIMEOUT_SECONDS = 600;

const messageSchema = z.object({ n: z.string() });
const bodies = (messages: readonly { body: string }[]) => messages.map((message) => messageSchema.parse(JSON.parse(message.body)).n);

const objectsUnused = new Proxy({} as ObjectStore, {
  get: (_target, property) => {
    throw new Error(`this handler touches no object (it used store.${String(property)})`);
  },
});

async function fifoQueueWith(name: string, count: number): Promise<{ queue: SqsMessageQueue; received: ReceivedMessage[] }> {
  const queue = new SqsMessageQueue(local.sqs(), (await createQueue(local.sqs(), { name, visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS })).url);
  for (let n = 0; n < count; n++) await queue.send({ n: `m${n}` }, { groupId: 'experiment', deduplicationId: `m${n}` });
  const received = await queue.receive({ maxMessages: 10, waitTimeSeconds: 1 });
  expect(bodies(received)).toEqual(Array.from({ length: count }, (_, n) => `m${n}`));
  return { queue, received };
}

function handlerOn(
  queue: SqsMessageQueue,
  handle: (message: { n: string }) => Promise<void>,
  options: Partial<SqsBatchHandlerOptions> = {},
) {
  const logged: string[] = [];
  const context: PipelineContext = {
    store: objectsUnused,
    queues: { train: queue, aggregate: queue, timer: queue },
    now: () => new Date(),
    log: (event) => logged.push(event),
  };
  const handler = sqsBatchHandler(messageSchema, async () => context, async (_context, message) => handle(message), {
    role: 'aggregate',
    fifo: true,
    retryDelaysSeconds: [1],
    ...options,
  });
  return { handler, logged };
}

/** Receives until `count` messages came back or `seconds` passed (long polls of at most a second). */
async function receiveBack(queue: SqsMessageQueue, count: number, seconds: number): Promise<ReceivedMessage[]> {
  const back: ReceivedMessage[] = [];
  const until = Date.now() + seconds * 1000;
  while (back.length < count && Date.now() < until) back.push(...(await queue.receive({ maxMessages: 10, waitTimeSeconds: 1 })));
  return back;
}

describe('an SQS batch handler on a FIFO queue', () => {
  it('hands back the failed record and every record after it within the retry delay, in order', async () => {
    const { queue, received } = await fifoQueueWith('handed-back.fifo', 4);
    const { handler, logged } = handlerOn(queue, async ({ n }) => {
      if (n === 'm1') throw new Error('an S3 write failed');
    });
    const response = await handler(sqsEventFor(received, 'arn:aws:sqs:us-east-1:000000000000:handed-back.fifo', 'us-east-1'));
    expect(response.batchItemFailures.map((failure) => failure.itemIdentifier)).toEqual(received.slice(1).map((message) => message.messageId));
    expect(logged).toContain('sqs.record-failed');
    // What Lambda's event source does with the response: deletes what succeeded.
    await queue.deleteMessages([received[0]!.receiptHandle]);

    // m2 and m3 never ran; were they still in flight for the visibility timeout, the group would stay locked.
    const back = await receiveBack(queue, 3, 8);
    expect(bodies(back)).toEqual(['m1', 'm2', 'm3']);
    expect(back.map((message) => message.attributes.ApproximateReceiveCount)).toEqual(['2', '2', '2']);
    await queue.deleteMessages(back.map((message) => message.receiptHandle));
  });

  it('hands back the whole batch when what runs after its records fails', async () => {
    const { queue, received } = await fifoQueueWith('after-batch.fifo', 3);
    const { handler, logged } = handlerOn(queue, async () => {}, {
      afterBatch: async () => {
        throw new Error('the round state could not be written');
      },
    });
    await expect(handler(sqsEventFor(received, 'arn:aws:sqs:us-east-1:000000000000:after-batch.fifo', 'us-east-1'))).rejects.toThrow('round state');
    expect(logged).toContain('sqs.batch-failed');
    expect(bodies(await receiveBack(queue, 3, 8))).toEqual(['m0', 'm1', 'm2']);
  });

  it('leases every record of the batch, so an invocation that dies on its first record has them all back after the lease', async () => {
    const { queue, received } = await fifoQueueWith('leased.fifo', 3);
    let release!: () => void;
    const stuck = new Promise<void>((resolve) => (release = resolve));
    const { handler } = handlerOn(queue, () => stuck, { leaseSeconds: 2 });
    // The invocation hangs on m0 as a killed one would: it never answers, and (its renewal timer frozen) never renews
    // the lease it took at the start.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const invocation = handler(sqsEventFor(received, 'arn:aws:sqs:us-east-1:000000000000:leased.fifo', 'us-east-1'));
    try {
      expect(bodies(await receiveBack(queue, 3, 8))).toEqual(['m0', 'm1', 'm2']);
    } finally {
      vi.useRealTimers();
      release();
      await invocation.catch(() => {});
    }
  });

  it('refuses a lease outside SQS visibility timeouts', () => {
    expect(() => handlerOn(new SqsMessageQueue(local.sqs(), 'http://127.0.0.1/000000000000/unused.fifo'), async () => {}, { leaseSeconds: 0 })).toThrow(
      /leaseSeconds must be an integer in 1–43200/,
    );
  });
});

describe('SqsMessageQueue.changeVisibilityBatch', () => {
  it('changes every entry SQS accepts and then names the ones it refused', async () => {
    const queue = new SqsMessageQueue(local.sqs(), (await createQueue(local.sqs(), { name: 'visibility-batch', visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS })).url);
    await queue.send({ n: 'm0' });
    const [received] = await queue.receive({ maxMessages: 10, waitTimeSeconds: 1 });
    await expect(
      queue.changeVisibilityBatch([
        { receiptHandle: 'not-a-receipt-handle', seconds: 0 },
        { receiptHandle: received!.receiptHandle, seconds: 0 },
      ]),
    ).rejects.toThrow(/ChangeMessageVisibilityBatch on queue visibility-batch refused 1 message\(s\): ReceiptHandleIsInvalid/);
    // The valid entry, after the refused one in the same call, was made visible again all the same.
    expect(bodies(await receiveBack(queue, 1, 5))).toEqual(['m0']);
  });
});
