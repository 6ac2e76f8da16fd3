import { setTimeout as sleep } from 'node:timers/promises';
import type { S3ObjectStore } from '../shared/cloud/s3-store.js';
import type { Log } from '../shared/pipeline/context.js';
import type { ObjectWrite } from './emulator.js';
import { s3EventFor } from './events.js';
import type { S3HandlerFn } from './types.js';

export interface StartTriggerOptions {
  /** The bucket whose notifications invoke the handler. */
  readonly bucket: string;
  readonly region: string;
  readonly filter: { readonly prefix: string; readonly suffix: string };
  readonly retryDelaysMs: readonly number[];
  readonly log: Log;
}

const CONFIGURATION_ID = 'flambda-start';

/**
 * The S3 → start-function notification, emulated: each matching object write becomes one asynchronous invocation
 * with a real-shaped S3Event, retried like Lambda retries asynchronous invocations that throw.
 */
export class StartTrigger {
  private target: { readonly handler: S3HandlerFn; readonly store: S3ObjectStore } | undefined;
  private readonly early: ObjectWrite[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private sequence = 0;

  constructor(private readonly options: StartTriggerOptions) {}

  /**
   * Starts invoking `handler`; `store` (the bucket's) reads each object's size and ETag for the event. Writes seen
   * before are delivered now, as S3 would not drop them either.
   */
  attach(handler: S3HandlerFn, store: S3ObjectStore): void {
    this.target = { handler, store };
    for (const write of this.early.splice(0)) this.notify(write);
  }

  get busy(): boolean {
    return this.running.size > 0 || this.early.length > 0;
  }

  notify(write: ObjectWrite): void {
    const { prefix, suffix } = this.options.filter;
    if (write.bucket !== this.options.bucket || !write.key.startsWith(prefix) || !write.key.endsWith(suffix)) return;
    if (this.stopping.signal.aborted) return;
    if (!this.target) {
      this.early.push(write);
      return;
    }
    const sequence = ++this.sequence;
    const task = this.deliver(this.target, write, sequence).finally(() => this.running.delete(task));
    this.running.add(task);
  }

  private async deliver(
    { handler, store }: { readonly handler: S3HandlerFn; readonly store: S3ObjectStore },
    write: ObjectWrite,
    sequence: number,
  ): Promise<void> {
    const { log, region, retryDelaysMs } = this.options;
    const time = new Date();
    let object: { size: number; eTag: string } | undefined;
    try {
      object = await store.head(write.key);
    } catch (error) {
      log('local.start-trigger.head-failed', { key: write.key, error: String(error) });
    }
    const event = s3EventFor({ ...write, ...(object ?? { size: 0, eTag: '' }), time, sequence }, region, CONFIGURATION_ID);
    for (let attempt = 0; ; attempt++) {
      try {
        await handler(event);
        return;
      } catch (error) {
        const delay = retryDelaysMs[attempt];
        const willRetry = delay !== undefined && !this.stopping.signal.aborted;
        log('local.start.failed', {
          bucket: write.bucket,
          key: write.key,
          attempt: attempt + 1,
          willRetry,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
        if (!willRetry) return;
        try {
          await sleep(delay, undefined, { signal: this.stopping.signal });
        } catch {
          return;
        }
      }
    }
  }

  /** No new invocations or retries; waits for the ones running. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.early.length = 0;
    await Promise.allSettled([...this.running]);
  }
}
