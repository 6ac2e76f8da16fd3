import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Log } from '../shared/pipeline/context.js';
import type { FromWorker, SerializedError, ToWorker, TrainWorkerData } from './worker-protocol.js';

export interface TrainWorkerPoolOptions {
  readonly size: number;
  /** Path or file: URL of a module exporting createTrainHandler. */
  readonly workerModule: string | URL;
  readonly connection: Omit<TrainWorkerData, 'entry' | 'handlerModule'>;
  readonly log: Log;
}

export class TrainWorkerError extends Error {
  override name = 'TrainWorkerError';
}

interface Job {
  readonly id: number;
  readonly event: SQSEvent;
  resolve(response: SQSBatchResponse | undefined): void;
  reject(error: Error): void;
}

interface Slot {
  readonly worker: Worker;
  readonly label: string;
  job: Job | undefined;
}

const BOOTSTRAP = new URL('./worker-bootstrap.mjs', import.meta.url);
const ENTRY = new URL(`./train-worker${path.extname(new URL(import.meta.url).pathname)}`, import.meta.url);

function toFileUrl(module: string | URL): string {
  if (module instanceof URL) return module.href;
  return /^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module) ? module : pathToFileURL(path.resolve(module)).href;
}

function revive(error: SerializedError): Error {
  const revived = new Error(error.message);
  revived.name = error.name;
  if (error.stack) revived.stack = error.stack;
  return revived;
}

/**
 * Train handlers in worker threads, one invocation per worker at a time (like one Lambda execution environment each),
 * so several clients train on several cores. A worker that dies fails its batch (SQS redelivers it) and is replaced.
 */
export class TrainWorkerPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private nextJobId = 1;
  private nextWorker = 1;
  private starting = 0;
  private readonly spawning = new Set<Worker>();
  private closed = false;
  private readonly workerData: TrainWorkerData;

  private constructor(private readonly options: TrainWorkerPoolOptions) {
    this.workerData = { ...options.connection, entry: ENTRY.href, handlerModule: toFileUrl(options.workerModule) };
  }

  /** Starts `size` workers and resolves once each has built its handler; rejects with the first worker's start error. */
  static async start(options: TrainWorkerPoolOptions): Promise<TrainWorkerPool> {
    if (!Number.isInteger(options.size) || options.size < 1) throw new RangeError(`trainWorkers must be a positive integer, got ${options.size}`);
    const pool = new TrainWorkerPool(options);
    const started = await Promise.allSettled(Array.from({ length: options.size }, () => pool.spawn()));
    const failure = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure) {
      await pool.close();
      throw failure.reason;
    }
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  /** An SQSHandlerFn: runs the batch on the next free worker. */
  readonly invoke = (event: SQSEvent): Promise<SQSBatchResponse | undefined> => {
    if (this.closed) return Promise.reject(new TrainWorkerError('the train worker pool is closed'));
    if (this.slots.length === 0 && this.starting === 0) return Promise.reject(new TrainWorkerError('no train worker is left to run this batch'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ id: this.nextJobId++, event, resolve, reject });
      this.pump();
    });
  };

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.waiting.splice(0)) job.reject(new TrainWorkerError('the train worker pool was closed'));
    // Workers still starting are terminated too: each one's own 'ready' or 'exit' settles it.
    await Promise.all([...this.slots.map((slot) => slot.worker.terminate()), ...[...this.spawning].map((worker) => worker.terminate())]);
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.job) continue;
      const job = this.waiting.shift();
      if (!job) return;
      slot.job = job;
      slot.worker.postMessage({ type: 'invoke', id: job.id, event: job.event } satisfies ToWorker);
    }
  }

  private spawn(): Promise<void> {
    const label = `flambda-train-${this.nextWorker++}`;
    const worker = new Worker(BOOTSTRAP, {
      workerData: this.workerData,
      name: label,
      // The parent has shown the SDK's Node-version notice already; once per thread would be noise.
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    this.starting++;
    this.spawning.add(worker);
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const slot: Slot = { worker, label, job: undefined };
      worker.on('message', (message: FromWorker) => {
        switch (message.type) {
          case 'ready':
            ready = true;
            this.starting--;
            this.spawning.delete(worker);
            if (this.closed) {
              // A replacement that finished starting after close(): nothing will ever terminate it but this.
              void worker.terminate();
              resolve();
              return;
            }
            this.slots.push(slot);
            resolve();
            this.pump();
            return;
          case 'log':
            this.options.log(message.event, { ...message.fields, worker: label });
            return;
          case 'result':
          case 'error': {
            const job = slot.job;
            if (!job || job.id !== message.id) return;
            slot.job = undefined;
            if (message.type === 'result') job.resolve(message.response);
            else job.reject(revive(message.error));
            this.pump();
            return;
          }
        }
      });
      let crash: Error | undefined;
      worker.on('error', (error) => {
        crash = error;
      });
      worker.on('exit', (code) => {
        if (!ready) {
          this.starting--;
          this.spawning.delete(worker);
          if (this.closed) {
            resolve();
            return;
          }
          const reason = crash ? `${crash.name}: ${crash.message}` : `it exited with code ${code}`;
          reject(new TrainWorkerError(`train worker ${label} could not build its handler from ${this.workerData.handlerModule}: ${reason}`, { cause: crash }));
          return;
        }
        const index = this.slots.indexOf(slot);
        if (index >= 0) this.slots.splice(index, 1);
        if (this.closed) {
          slot.job?.reject(new TrainWorkerError(`train worker ${label} was stopped with the local cloud`));
          return;
        }
        const why = crash ? `${crash.name}: ${crash.message}` : `exit code ${code}`;
        slot.job?.reject(new TrainWorkerError(`train worker ${label} died (${why}) while handling a batch`, { cause: crash }));
        this.options.log('local.train-worker.died', { worker: label, error: crash?.stack ?? why });
        this.replace();
      });
    });
  }

  private replace(): void {
    this.spawn().catch((error: unknown) => {
      this.options.log('local.train-worker.replace-failed', { error: error instanceof Error ? error.message : String(error) });
      if (this.slots.length === 0) {
        for (const job of this.waiting.splice(0)) job.reject(new TrainWorkerError('no train worker is left to run this batch'));
      }
    });
  }
}
