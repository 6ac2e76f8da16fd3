/**
 * A long-polling ReceiveMessage on SQS returns early only with messages: it answers empty when its WaitTimeSeconds run
 * out. fauxqs 1.9 wakes every waiting receive of a queue whenever anything might have changed (a send, a delete that
 * unlocks a FIFO group, a visibility that ran out), including a send into a FIFO group that is locked; all but the one
 * that takes the message then answer empty at once. Each of the event source's pollers then polls again: three
 * needless receives per "update ready" with the aggregator's four pollers, each a request through the SDK and the
 * emulator on the main thread. Here a queue wakes one waiting receive when a message can be taken, and the next once
 * that one has taken its share and more remain, as SQS serves its long polls.
 */

interface Waiter {
  readonly resolve: () => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** The fields and methods of fauxqs's SqsQueue this relies on (checked when the emulator starts). */
export interface LongPollingQueue {
  pollWaiters: Waiter[];
  readonly messages: readonly unknown[];
  isFifo(): boolean;
  hasAvailableFifoMessages(): boolean;
  dequeue(...args: unknown[]): unknown[];
  notifyWaiters(): void;
}

export const LONG_POLL_METHODS = ['isFifo', 'hasAvailableFifoMessages', 'dequeue', 'notifyWaiters'] as const;

const patched = Symbol('flambda.oneWaiterPerMessage');
/** Set while a receive takes its messages: fauxqs's dequeue first runs the queue's timers, which would wake a waiter for a message the receive under way is about to take. */
const dequeuing = Symbol('flambda.dequeuing');

/** True when a receive would find a message now: a visible one, or on a FIFO queue the head of an unlocked group. */
function canTake(queue: LongPollingQueue): boolean {
  return queue.isFifo() ? queue.hasAvailableFifoMessages() : queue.messages.length > 0;
}

function wakeOne(queue: LongPollingQueue): void {
  const waiter = queue.pollWaiters.shift();
  if (!waiter) return;
  clearTimeout(waiter.timer);
  waiter.resolve();
}

export function wakeOneWaiterPerMessage(proto: LongPollingQueue & { [patched]?: true }): void {
  if (proto[patched]) return;
  proto.notifyWaiters = function notifyOneWaiter(this: LongPollingQueue & { [dequeuing]?: boolean }) {
    if (!this[dequeuing] && canTake(this)) wakeOne(this);
  };
  const dequeue = proto.dequeue;
  proto.dequeue = function dequeueThenWakeNext(this: LongPollingQueue & { [dequeuing]?: boolean }, ...args: unknown[]) {
    this[dequeuing] = true;
    let taken: unknown[];
    try {
      taken = dequeue.apply(this, args);
    } finally {
      this[dequeuing] = false;
    }
    if (this.pollWaiters.length > 0 && canTake(this)) wakeOne(this);
    return taken;
  };
  proto[patched] = true;
}
