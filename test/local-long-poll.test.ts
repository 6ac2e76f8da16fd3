import { describe, expect, it } from 'vitest';
import { SqsMessageQueue, createQueue, type ReceivedMessage } from '../shared/cloud/sqs-queue.js';
import { useEmulatorSqs } from './helpers/emulator-sqs.js';

/**
 * Long polls on the local emulator answer as SQS's do: early only with messages. Several receives waiting on one queue
 * (the event source's pollers) get one message each as messages come, instead of all waking and all but one
 * answering empty; a send into a FIFO group whose messages are in flight wakes none. Through the SDK against the
 * emulator; every wait below is far longer than the test, so a receive that answers before its message exists has
 * answered empty early.
 */
const local = useEmulatorSqs();

const WAIT_SECONDS = 20;
const bodyOf = (messages: readonly ReceivedMessage[]) => messages.map((message) => (JSON.parse(message.body) as { n: string }).n);

/** Waiting receives, and the next one of them to answer (each answers once). */
function waitingReceives(queue: SqsMessageQueue, count: number, stop: AbortSignal, maxMessages = 10) {
  const pending = new Map(
    Array.from({ length: count }, (_, index) => [index, queue.receive({ maxMessages, waitTimeSeconds: WAIT_SECONDS, abortSignal: stop }).then((messages) => ({ index, messages }))] as const),
  );
  return async function nextAnswer(): Promise<ReceivedMessage[]> {
    const { index, messages } = await Promise.race(pending.values());
    pending.delete(index);
    return messages;
  };
}

/** Lets the emulator register the waiting receives before anything is sent (a receive made after a send takes it at once). */
async function untilWaiting(queue: SqsMessageQueue): Promise<void> {
  // A receive sent after them on the same client reaches the emulator after them; with nothing to take, its wait ends at once.
  expect(await queue.receive({ maxMessages: 1, waitTimeSeconds: 0 })).toEqual([]);
}

describe('long polls on the local emulator', () => {
  it('wake one waiting receive per message on a standard queue; the others keep waiting', async () => {
    const queue = new SqsMessageQueue(local.sqs(), (await createQueue(local.sqs(), { name: 'long-poll-standard', visibilityTimeoutSeconds: 30 })).url);
    const stop = new AbortController();
    const nextAnswer = waitingReceives(queue, 4, stop.signal, 1);
    await untilWaiting(queue);

    // Had the other receives woken with m1 and answered empty, the next answer would be one of theirs, not m2.
    await queue.send({ n: 'm1' });
    expect(bodyOf(await nextAnswer())).toEqual(['m1']);
    await queue.send({ n: 'm2' });
    expect(bodyOf(await nextAnswer())).toEqual(['m2']);
    // Two at once: the receive that takes the first wakes the next for the second.
    await queue.sendBatch([{ body: { n: 'm3' } }, { body: { n: 'm4' } }]);
    expect([...bodyOf(await nextAnswer()), ...bodyOf(await nextAnswer())].sort()).toEqual(['m3', 'm4']);
    stop.abort();
  });

  it('wake no receive for a FIFO group whose messages are in flight, and one when the group is free again', async () => {
    const queue = new SqsMessageQueue(local.sqs(), (await createQueue(local.sqs(), { name: 'long-poll-group.fifo', visibilityTimeoutSeconds: 30 })).url);
    const stop = new AbortController();
    const nextAnswer = waitingReceives(queue, 3, stop.signal);
    await untilWaiting(queue);

    await queue.send({ n: 'g1' }, { groupId: 'g', deduplicationId: 'g1' });
    const first = await nextAnswer();
    expect(bodyOf(first)).toEqual(['g1']);
    // g1 is in flight, so g2 may not be handed out; a waiting receive woken by its send would answer empty now.
    await queue.send({ n: 'g2' }, { groupId: 'g', deduplicationId: 'g2' });
    await queue.send({ n: 'h1' }, { groupId: 'h', deduplicationId: 'h1' });
    expect(bodyOf(await nextAnswer())).toEqual(['h1']);
    await queue.deleteMessages(first.map((message) => message.receiptHandle));
    expect(bodyOf(await nextAnswer())).toEqual(['g2']);
    stop.abort();
  });

  it('still answer empty once the wait runs out with nothing to take', async () => {
    const queue = new SqsMessageQueue(local.sqs(), (await createQueue(local.sqs(), { name: 'long-poll-empty' })).url);
    expect(await queue.receive({ maxMessages: 10, waitTimeSeconds: 1 })).toEqual([]);
  });
});
