import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { LONG_POLL_METHODS, wakeOneWaiterPerMessage, type LongPollingQueue } from './fauxqs-long-poll.js';

/**
 * SQS hands one receive up to 10 messages of a FIFO message group, in the group's order (and locks the group while any
 * of them is in flight); fauxqs 1.9 hands out one message per group and receive. With it the aggregator's event source
 * (batch size 10, one group per experiment) would only ever see batches of one: not the semantics of the deployed
 * stack. Here a receive takes the head of the first free group, then that group's next messages, then the next free
 * group's, one message at a time through fauxqs's own dequeue (so its lock counting, receive counts and redrive stay
 * its own), until it holds what it asked for or no free group has messages.
 * And a batch handed back (a failed invocation) goes back to its group in sending order, where fauxqs reversed it.
 *
 * fauxqs exports only its app; its queue class is reached by file, next to the app's entry point. The fields used are
 * checked at start: an upgrade that changes them fails loudly here rather than silently batching by one.
 */

interface FifoMessage {
  readonly messageGroupId?: string;
  /** SQS's SequenceNumber: 20 digits, zero-padded, so that text order is sending order */
  readonly sequenceNumber?: string;
}

interface FauxqsFifoQueue {
  fifoMessages: Map<string, FifoMessage[]>;
  fifoLockedGroups: Map<string, number>;
  readonly inflightMessages: Map<string, { readonly message: FifoMessage }>;
  dequeueFifo(maxCount: number, visibilityTimeoutOverride?: number, dlqResolver?: unknown): { readonly ReceiptHandle: string }[];
  changeVisibility(receiptHandle: string, timeoutSeconds: number): unknown;
  processTimers(): unknown;
  isFifo(): boolean;
}

interface QueuePrototype {
  dequeueFifo: FauxqsFifoQueue['dequeueFifo'];
  changeVisibility: FauxqsFifoQueue['changeVisibility'];
  processTimers: FauxqsFifoQueue['processTimers'];
  [patched]?: true;
}

const patched = Symbol('flambda.fifoBatches');
/** SQS's most messages per receive */
const MAX_PER_RECEIVE = 10;

function isFauxqsFifoQueue(queue: object): queue is FauxqsFifoQueue {
  const candidate = queue as Partial<FauxqsFifoQueue>;
  return candidate.fifoMessages instanceof Map && candidate.fifoLockedGroups instanceof Map && candidate.inflightMessages instanceof Map;
}

/** One more message of `group` only: the other groups are hidden from fauxqs's dequeue, the group's own lock lifted. */
function takeNextOfGroup(queue: FauxqsFifoQueue, single: FauxqsFifoQueue['dequeueFifo'], group: string, args: [number | undefined, unknown]) {
  const waiting = queue.fifoMessages.get(group);
  if (!waiting || waiting.length === 0) return [];
  const all = queue.fifoMessages;
  const locks = queue.fifoLockedGroups.get(group) ?? 0;
  queue.fifoMessages = new Map([[group, waiting]]);
  queue.fifoLockedGroups.delete(group);
  const hidden = queue.fifoMessages;
  try {
    return single.call(queue, 1, ...args);
  } finally {
    // fauxqs counts one lock per message in flight: what it just added for this one comes on top of the earlier ones.
    const added = queue.fifoLockedGroups.get(group) ?? 0;
    if (locks + added > 0) queue.fifoLockedGroups.set(group, locks + added);
    else queue.fifoLockedGroups.delete(group);
    queue.fifoMessages = all;
    // Its timers may have put messages back meanwhile (a visibility that ran out, a delay that ended), into the map it saw.
    for (const [other, messages] of hidden) {
      const kept = all.get(other);
      if (!kept) all.set(other, messages);
      else if (kept !== messages) kept.push(...messages);
    }
    if (all.get(group)?.length === 0) all.delete(group);
    keepGroupsInOrder(queue);
  }
}

const bySequence = (a: FifoMessage, b: FifoMessage) => ((a.sequenceNumber ?? '') < (b.sequenceNumber ?? '') ? -1 : a.sequenceNumber === b.sequenceNumber ? 0 : 1);

/**
 * fauxqs puts each message whose visibility ended back at the front of its group, one after another, which reverses a
 * batch handed back together; SQS keeps a group in sending order. Restores it.
 */
function keepGroupsInOrder(queue: FauxqsFifoQueue): void {
  for (const messages of queue.fifoMessages.values()) {
    if (messages.some((message, index) => index > 0 && bySequence(messages[index - 1]!, message) > 0)) messages.sort(bySequence);
  }
}

function patchPrototype(proto: QueuePrototype): void {
  if (proto[patched]) return;
  for (const method of ['changeVisibility', 'processTimers'] as const) {
    const original = proto[method] as (this: FauxqsFifoQueue, ...args: unknown[]) => unknown;
    proto[method] = function (this: FauxqsFifoQueue, ...args: unknown[]) {
      const result = original.apply(this, args);
      if (this.isFifo() && isFauxqsFifoQueue(this)) keepGroupsInOrder(this);
      return result;
    } as never;
  }
  const single = proto.dequeueFifo;
  proto.dequeueFifo = function dequeueFifoInGroupBatches(this: FauxqsFifoQueue, maxCount, visibilityTimeoutOverride, dlqResolver) {
    if (!isFauxqsFifoQueue(this)) return single.call(this, maxCount, visibilityTimeoutOverride, dlqResolver);
    const limit = Math.min(maxCount, MAX_PER_RECEIVE);
    const received: ReturnType<FauxqsFifoQueue['dequeueFifo']> = [];
    // As SQS does, as many of one group as fit before the next group: the head of the first free group, then its followers.
    while (received.length < limit) {
      const head = single.call(this, 1, visibilityTimeoutOverride, dlqResolver);
      if (head.length === 0) break;
      received.push(...head);
      const group = this.inflightMessages.get(head[0]!.ReceiptHandle)?.message.messageGroupId ?? '__default';
      while (received.length < limit) {
        const next = takeNextOfGroup(this, single, group, [visibilityTimeoutOverride, dlqResolver]);
        if (next.length === 0) break;
        received.push(...next);
      }
    }
    return received;
  };
  proto[patched] = true;
}

let applied: Promise<void> | undefined;

/**
 * Patches fauxqs's queues once per process (every emulator built after it shares the class): FIFO batches as above,
 * long polls as local/fauxqs-long-poll.ts says.
 */
export function makeQueuesLikeSqs(): Promise<void> {
  applied ??= (async () => {
    // fauxqs's exports name only its ESM entry, which require.resolve cannot see: found the way Node searches.
    const folders = createRequire(import.meta.url).resolve.paths('fauxqs') ?? [];
    const dist = folders.map((folder) => path.join(folder, 'fauxqs', 'dist')).find((folder) => existsSync(path.join(folder, 'app.js')));
    if (!dist) throw new Error('fauxqs is not installed (npm ci)');
    const storeModule = pathToFileURL(path.join(dist, 'sqs', 'sqsStore.js')).href;
    const { SqsQueue } = (await import(storeModule)) as { SqsQueue?: { prototype: QueuePrototype & LongPollingQueue } };
    const methods = ['dequeueFifo', 'changeVisibility', 'processTimers', ...LONG_POLL_METHODS] as const;
    if (!SqsQueue || methods.some((method) => typeof SqsQueue.prototype[method] !== 'function')) {
      throw new Error(`fauxqs changed: ${storeModule} lacks SqsQueue.${methods.join('/')}; local/fauxqs-fifo.ts and local/fauxqs-long-poll.ts must be updated`);
    }
    patchPrototype(SqsQueue.prototype);
    wakeOneWaiterPerMessage(SqsQueue.prototype);
  })();
  return applied;
}
