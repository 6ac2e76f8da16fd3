/**
 * A fake train handler for the worker-pool tests, in TypeScript on purpose (the pool must load .ts). Each message
 * records which thread took it. `barrier: n` then waits until n messages have arrived, which can only happen if n
 * handlers run at the same time; `failOnce` throws and `crashOnce` kills the worker thread on the first delivery.
 */
import { isMainThread, threadId } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { PipelineContext } from '../../shared/pipeline/context.js';

interface FixtureMessage {
  readonly id: string;
  readonly barrier?: number;
  readonly failOnce?: boolean;
  readonly crashOnce?: boolean;
  /** exits the worker thread before touching anything */
  readonly exitNow?: boolean;
}

export interface HandledRecord {
  readonly threadId: number;
  readonly isMainThread: boolean;
}

const BARRIER_GIVE_UP_MS = 20_000;

export function createTrainHandler(getContext: () => Promise<PipelineContext>) {
  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const context = await getContext();
    for (const record of event.Records) {
      const message = JSON.parse(record.body) as FixtureMessage;
      if (message.exitNow) process.exit(4);
      if ((message.failOnce || message.crashOnce) && !(await context.store.exists(`failed/${message.id}`))) {
        await context.store.put(`failed/${message.id}`, '');
        if (message.crashOnce) process.exit(3);
        throw new Error(`fixture failure for ${message.id}`);
      }
      await context.store.put(`arrived/${message.id}`, String(threadId));
      if (message.barrier !== undefined) {
        const giveUpAt = Date.now() + BARRIER_GIVE_UP_MS;
        while ((await context.store.list('arrived/')).length < message.barrier) {
          if (Date.now() > giveUpAt) throw new Error(`barrier of ${message.barrier} never filled: handlers do not run in parallel`);
          await sleep(20);
        }
      }
      const handled: HandledRecord = { threadId, isMainThread };
      await context.store.put(`done/${message.id}`, JSON.stringify(handled), 'application/json');
      context.log('fixture.handled', { id: message.id });
    }
    return { batchItemFailures: [] };
  };
}
