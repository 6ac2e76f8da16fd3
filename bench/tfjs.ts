import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { LocalTrainingConfig, ModelName } from '../shared/config/schema.js';
import type { Dataset } from '../shared/data/types.js';
import type { TrainingLoop } from '../shared/engine/train.js';
import type { BackendInfo } from '../shared/engine/types.js';

/** What bench/client-worker.ts receives. */
export interface ClientWorkerData {
  /** file: URL of bench/client-worker, imported by local/worker-bootstrap.mjs */
  readonly entry: string;
  readonly model: ModelName;
  readonly shard: Dataset;
  readonly warmupSamples: number;
  readonly local: LocalTrainingConfig;
  readonly seed: number;
  readonly loop: TrainingLoop;
}

export type FromClientWorker =
  | { readonly type: 'ready'; readonly backend: BackendInfo }
  | { readonly type: 'done'; readonly startedAt: number; readonly finishedAt: number; readonly samples: number; readonly loss: number }
  | { readonly type: 'failed'; readonly message: string };

export interface TfjsThroughputOptions {
  readonly model: ModelName;
  /** clients training at once, one worker thread each */
  readonly clients: number;
  /** every client trains on all of these, so each does the single-client run's work */
  readonly shard: Dataset;
  readonly warmupSamples: number;
  readonly local: LocalTrainingConfig;
  readonly seed: number;
  /** the training loop: 'auto' (the fused step on wasm) unless comparing with the tape loop */
  readonly loop?: TrainingLoop;
  /** environment variables set for the workers on top of this process's, e.g. FLAMBDA_WASM_FMA=off */
  readonly env?: Readonly<Record<string, string>>;
}

export interface TfjsThroughput {
  readonly backend: BackendInfo;
  readonly clients: number;
  /** all clients together */
  readonly samples: number;
  /** first client's start to last client's finish */
  readonly seconds: number;
  /** aggregate: samples / seconds */
  readonly samplesPerSecond: number;
  readonly perClientSamplesPerSecond: readonly number[];
  readonly loss: number;
}

export class TfjsBenchError extends Error {
  override name = 'TfjsBenchError';
}

const BOOTSTRAP = new URL('../local/worker-bootstrap.mjs', import.meta.url);
const ENTRY = new URL(`./client-worker${path.extname(new URL(import.meta.url).pathname)}`, import.meta.url);

/**
 * Trains `clients` clients at once on the same samples, each in its own worker thread (as the local runtime and
 * separate Lambdas do), timed from a common start: each worker warms up first, then all are released together,
 * and the clock stops when the last one finishes. With one client this is the single-thread speed of our training
 * loop; every worker's wasm backend runs one thread.
 */
export async function tfjsThroughput(options: TfjsThroughputOptions): Promise<TfjsThroughput> {
  const { clients, shard } = options;
  if (!Number.isInteger(clients) || clients < 1) throw new RangeError(`clients must be ≥ 1, got ${clients}`);
  const workers = Array.from({ length: clients }, (_, client) => {
    const workerData: ClientWorkerData = {
      entry: ENTRY.href,
      model: options.model,
      shard,
      warmupSamples: Math.min(options.warmupSamples, shard.count),
      local: options.local,
      seed: options.seed + client,
      loop: options.loop ?? 'auto',
    };
    const env = options.env ? { ...process.env, ...options.env } : process.env;
    return new ClientWorker(new Worker(BOOTSTRAP, { workerData, env }), client);
  });
  try {
    const ready = await Promise.all(workers.map((worker) => worker.ready));
    const results = await Promise.all(workers.map((worker) => worker.go()));
    const startedAt = Math.min(...results.map((result) => result.startedAt));
    const finishedAt = Math.max(...results.map((result) => result.finishedAt));
    const samples = results.reduce((total, result) => total + result.samples, 0);
    const seconds = (finishedAt - startedAt) / 1000;
    return {
      backend: ready[0]!,
      clients: options.clients,
      samples,
      seconds,
      samplesPerSecond: samples / seconds,
      perClientSamplesPerSecond: results.map((result) => result.samples / ((result.finishedAt - result.startedAt) / 1000)),
      loss: results.reduce((total, result) => total + result.loss, 0) / results.length,
    };
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

type Done = Extract<FromClientWorker, { type: 'done' }>;

/** One worker's two steps (ready, done) as promises; an exit or error before either rejects it. */
class ClientWorker {
  readonly ready: Promise<BackendInfo>;
  private readonly done: Promise<Done>;

  constructor(
    private readonly worker: Worker,
    client: number,
  ) {
    const label = `benchmark client ${client}`;
    let settleReady!: { resolve: (info: BackendInfo) => void; reject: (error: Error) => void };
    let settleDone!: { resolve: (done: Done) => void; reject: (error: Error) => void };
    this.ready = new Promise((resolve, reject) => (settleReady = { resolve, reject }));
    this.done = new Promise((resolve, reject) => (settleDone = { resolve, reject }));
    // Whichever step is pending when the worker fails gets the error; a settled promise ignores it.
    const fail = (error: Error) => {
      settleReady.reject(error);
      settleDone.reject(error);
    };
    this.done.catch(() => undefined);
    worker.on('message', (message: FromClientWorker) => {
      if (message.type === 'ready') settleReady.resolve(message.backend);
      else if (message.type === 'done') settleDone.resolve(message);
      else fail(new TfjsBenchError(`${label} failed: ${message.message}`));
    });
    worker.on('error', (error) => fail(new TfjsBenchError(`${label} crashed: ${error.stack ?? error.message}`)));
    worker.on('exit', (code) => fail(new TfjsBenchError(`${label} exited (code ${code}) before finishing`)));
  }

  go(): Promise<Done> {
    this.worker.postMessage('go');
    return this.done;
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}
