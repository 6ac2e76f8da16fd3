import { describe, expect, it } from 'vitest';
import { SqsMessageQueue, createQueue } from '../shared/cloud/sqs-queue.js';
import { useEmulatorSqs } from './helpers/emulator-sqs.js';

/**
 * The local cloud's FIFO queues hand a receive up to 10 messages of one message group, in order, and none of a group
 * while any of its messages is in flight — as SQS does, and as the aggregator's batches of 10 need (fauxqs alone hands
 * out one message per group and receive). Through the SDK against the emulator.
 */
const local = useEmulatorSqs();

const bodies = (messages: readonly { body: string }[]) => messages.map((message) => (JSON.parse(message.body) as { n: string }).n);

describe('FIFO receives on the local emulator', () => {
  it('hand out up to 10 messages of a group in order, lock the group while they are in flight, and redeliver in order', async () => {
    const queue = new SqsMessageQueue(local.sqs(), (await createQueue(local.sqs(), { name: 'batches.fifo', visibilityTimeoutSeconds: 30 })).url);
    for (let n = 0; n < 13; n++) await queue.send({ n: `a${n}` }, { groupId: 'a', deduplicationId: `a${n}` });
    await queue.send({ n: 'b0' }, { groupId: 'b', deduplicationId: 'b0' });

    const first = await queue.receive({ maxMessages: 10, waitTimeSeconds: 1 });
    expect(bodies(first)).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9']);
    expect(first.every((message) => message.attributes.MessageGroupId === 'a')).toBe(true);

    // Group a is in flight: only b's message is handed out.
    const second = await queue.receive({ maxMessages: 10, waitTimeSeconds: 1 });
    expect(bodies(second)).toEqual(['b0']);

    // A batch handed back (a failed invocation) comes again from the group's head, in order.
    for (const message of first.slice(5)) await queue.changeVisibility(message.receiptHandle, 0);
    expect(await queue.receive({ maxMessages: 10, waitTimeSeconds: 1 })).toEqual([]);
    await queue.deleteMessages([...first.slice(0, 5), ...second].map((message) => message.receiptHandle));
    const third = await queue.receive({ maxMessages: 10, waitTimeSeconds: 1 });
    expect(bodies(third)).toEqual(['a5', 'a6', 'a7', 'a8', 'a9', 'a10', 'a11', 'a12']);
    expect(third.slice(0, 5).every((message) => message.attributes.ApproximateReceiveCount === '2')).toBe(true);

    await queue.deleteMessages(third.map((message) => message.receiptHandle));
    expect(await queue.counts()).toMatchObject({ visible: 0, inFlight: 0 });
  });

  it('takes no more than asked for', async () => {
    const queue = new SqsMessageQueue(local.sqs(), (await createQueue(local.sqs(), { name: 'asked.fifo' })).url);
    for (let n = 0; n < 5; n++) await queue.send({ n: `c${n}` }, { groupId: 'c', deduplicationId: `c${n}` });
    expect(bodies(await queue.receive({ maxMessages: 3, waitTimeSeconds: 1 }))).toEqual(['c0', 'c1', 'c2']);
  });
});
