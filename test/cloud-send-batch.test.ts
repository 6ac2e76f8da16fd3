import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it, vi } from 'vitest';
import { createSqsClient } from '../shared/cloud/clients.js';
import { MessageQueueError, SqsMessageQueue, createQueue } from '../shared/cloud/sqs-queue.js';
import { useEmulatorSqs } from './helpers/emulator-sqs.js';

/** SendMessageBatch through the SQS adapter against the local emulator's SQS, with refusals injected in front of it. */

const local = useEmulatorSqs();

async function drain(queue: SqsMessageQueue): Promise<unknown[]> {
  const bodies: unknown[] = [];
  for (;;) {
    const messages = await queue.receive({ maxMessages: 10, waitTimeSeconds: 0 });
    if (messages.length === 0) return bodies;
    bodies.push(...messages.map((message) => JSON.parse(message.body) as unknown));
    await queue.deleteMessages(messages.map((message) => message.receiptHandle));
  }
}

/** An SQS client whose SendMessageBatch answers refuse the entries `refuse` picks, the others reaching the emulator. */
function refusingClient(refuse: (call: number, body: string) => { code: string; senderFault: boolean } | undefined) {
  const client = createSqsClient({ endpoint: local.emulator().endpoint });
  const real = client.send.bind(client) as (command: unknown) => Promise<unknown>;
  const calls: number[] = [];
  vi.spyOn(client, 'send').mockImplementation((async (command: unknown) => {
    if (!(command instanceof SendMessageBatchCommand)) return real(command);
    const call = calls.push(command.input.Entries!.length);
    const entries = command.input.Entries!;
    const refused = entries.flatMap((entry) => {
      const why = refuse(call, entry.MessageBody!);
      return why ? [{ Id: entry.Id!, Code: why.code, SenderFault: why.senderFault, Message: 'injected' }] : [];
    });
    const passed = entries.filter((entry) => !refused.some((failed) => failed.Id === entry.Id));
    const answer = passed.length > 0 ? ((await real(new SendMessageBatchCommand({ ...command.input, Entries: passed }))) as { Successful?: unknown[] }) : {};
    return { Successful: answer.Successful ?? [], Failed: refused };
  }) as never);
  return { client, calls };
}

const train = (n: number) => ({ body: { type: 'train', experimentId: 'e', round: 1, clientId: `client-${String(n).padStart(3, '0')}` } });

describe('SqsMessageQueue.sendBatch', () => {
  it('sends 23 messages in calls of 10, 10 and 3, each message once, FIFO ids kept', async () => {
    const { client, calls } = refusingClient(() => undefined);
    const queue = new SqsMessageQueue(client, (await createQueue(local.sqs(), { name: 'batch-standard' })).url);
    await queue.sendBatch(Array.from({ length: 23 }, (_, n) => train(n)));
    expect(calls).toEqual([10, 10, 3]);
    const received = await drain(queue);
    expect(received).toHaveLength(23);
    expect(new Set(received.map((body) => JSON.stringify(body))).size).toBe(23);

    const fifo = new SqsMessageQueue(local.sqs(), (await createQueue(local.sqs(), { name: 'batch.fifo' })).url);
    await fifo.sendBatch([1, 2, 2].map((n) => ({ body: { n }, options: { groupId: 'g', deduplicationId: `d${n}` } })));
    // The copy with a deduplication id already sent is dropped by SQS, as with single sends.
    const messages = await fifo.receive({ maxMessages: 10, waitTimeSeconds: 0 });
    expect(messages.map((message) => [message.attributes.MessageGroupId, message.attributes.MessageDeduplicationId])).toEqual([['g', 'd1'], ['g', 'd2']]);
    await expect(fifo.sendBatch([{ body: { n: 3 } }])).rejects.toThrow(/FIFO: a message needs a groupId/);
    client.destroy();
  });

  it('sends again only the entries SQS refused for a reason of its own, until they get through', async () => {
    // The first call refuses 2 of its 10 (throttled), the second refuses one of those 2 again.
    const refuse = (call: number, body: string) =>
      (call === 1 && /client-00[37]/.test(body)) || (call === 2 && body.includes('client-007')) ? { code: 'ThrottlingException', senderFault: false } : undefined;
    const { client, calls } = refusingClient(refuse);
    const queue = new SqsMessageQueue(client, (await createQueue(local.sqs(), { name: 'batch-retry' })).url);
    await queue.sendBatch(Array.from({ length: 12 }, (_, n) => train(n)));
    expect(calls).toEqual([10, 2, 1, 2]);
    const received = (await drain(queue)).map((body) => (body as { clientId: string }).clientId).sort();
    expect(received).toEqual(Array.from({ length: 12 }, (_, n) => train(n).body.clientId));
    client.destroy();
  });

  it('fails naming the entries refused as malformed, or still refused after the last retry; the others were sent once', async () => {
    const malformed = refusingClient((_, body) => (body.includes('client-001') ? { code: 'InvalidParameterValue', senderFault: true } : undefined));
    const queue = new SqsMessageQueue(malformed.client, (await createQueue(local.sqs(), { name: 'batch-malformed' })).url);
    await expect(queue.sendBatch([0, 1, 2].map(train))).rejects.toThrow(/refused 1 of 3 message\(s\): .*client-001.*InvalidParameterValue/);
    expect(malformed.calls).toEqual([3]);
    expect(await drain(queue)).toHaveLength(2);
    malformed.client.destroy();

    const throttled = refusingClient((_, body) => (body.includes('client-002') ? { code: 'ThrottlingException', senderFault: false } : undefined));
    const stubborn = new SqsMessageQueue(throttled.client, (await createQueue(local.sqs(), { name: 'batch-throttled' })).url);
    const failure = stubborn.sendBatch([0, 1, 2].map(train));
    await expect(failure).rejects.toThrow(MessageQueueError);
    await expect(failure).rejects.toThrow(/client-002.*ThrottlingException/);
    expect(throttled.calls).toEqual([3, 1, 1, 1]);
    expect(await drain(stubborn)).toHaveLength(2);
    throttled.client.destroy();
  });
});
