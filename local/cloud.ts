import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createS3Client, createSqsClient } from '../shared/cloud/clients.js';
import {
  EVENT_SOURCE_BATCH_SIZE,
  MAX_RECEIVE_COUNTS,
  RESOURCE_NAMES,
  START_TRIGGER_FILTER,
  type QueueRole,
} from '../shared/cloud/resources.js';
import { S3ObjectStore, createBucketIfMissing } from '../shared/cloud/s3-store.js';
import { SqsMessageQueue, createQueue } from '../shared/cloud/sqs-queue.js';
import { MNIST_FILES, readMnistFile, type MnistFile } from '../shared/data/mnist.js';
import { createCloudContext } from '../shared/pipeline/context-from-env.js';
import { jsonLineLog } from '../shared/pipeline/context.js';
import { keys } from '../shared/protocol/keys.js';
import { copyDatasets } from './directory-store.js';
import { startEmulator, type Emulator, type ObjectWrite } from './emulator.js';
import { startEmulatorThread } from './emulator-thread.js';
import { SqsEventSource } from './sqs-event-source.js';
import { StartTrigger } from './start-trigger.js';
import type { IdleOptions, LocalCloud, LocalCloudOptions, LocalHandlers, LocalQueueUrls, SQSHandlerFn, WorkerModule } from './types.js';
import { TrainWorkerPool } from './worker-pool.js';

export type * from './types.js';

const ROLES: readonly QueueRole[] = ['train', 'aggregate', 'timer'];

/**
 * Local defaults. On AWS the train queue's timeout is ≥ 6× the function timeout; here a longer one only delays the
 * retry of a crashed batch, a shorter one risks training a client twice. A failing aggregate message holds up its
 * experiment's FIFO group for maxReceiveCount × its timeout, so that one is short.
 */
const DEFAULT_VISIBILITY_TIMEOUT_SECONDS: Readonly<Record<QueueRole, number>> = { train: 900, aggregate: 120, timer: 60 };
const DEFAULT_CONCURRENCY: Readonly<Record<QueueRole, number>> = { train: 2, aggregate: 4, timer: 2 };

const QUEUE_NAMES: Readonly<Record<QueueRole, { readonly queue: string; readonly deadLetter: string }>> = {
  train: { queue: RESOURCE_NAMES.trainQueue, deadLetter: RESOURCE_NAMES.trainDeadLetterQueue },
  aggregate: { queue: RESOURCE_NAMES.aggregateQueue, deadLetter: RESOURCE_NAMES.aggregateDeadLetterQueue },
  timer: { queue: RESOURCE_NAMES.timerQueue, deadLetter: RESOURCE_NAMES.timerDeadLetterQueue },
};

function isWorkerModule(train: LocalHandlers['train']): train is WorkerModule {
  return typeof train === 'object' && train !== null && 'workerModule' in train;
}

function visibilityTimeouts(option: LocalCloudOptions['visibilityTimeoutSeconds']): Record<QueueRole, number> {
  const chosen = typeof option === 'number' ? { train: option, aggregate: option, timer: option } : { ...DEFAULT_VISIBILITY_TIMEOUT_SECONDS, ...option };
  for (const role of ROLES) {
    const seconds = chosen[role];
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 43_200) {
      throw new RangeError(`visibilityTimeoutSeconds.${role} must be an integer in 0–43200, got ${seconds}`);
    }
  }
  return chosen;
}

async function uploadMnist(store: S3ObjectStore): Promise<void> {
  for (const file of Object.keys(MNIST_FILES) as MnistFile[]) {
    await store.put(keys.mnist(file), await readMnistFile(file), 'application/octet-stream');
  }
}

/**
 * The pipeline's cloud in this process: fauxqs's S3 + SQS on a loopback port with the stack's bucket and queues,
 * MNIST in datasets/mnist/, and the handlers attached as Lambda would attach them (see SqsEventSource, StartTrigger,
 * TrainWorkerPool).
 */
export async function startLocalCloud(options: LocalCloudOptions): Promise<LocalCloud> {
  const region = options.region ?? 'us-east-1';
  const log = options.log ?? jsonLineLog;
  const pollIntervalMs = options.pollIntervalMs ?? 100;
  const maxReceiveCount = (role: QueueRole) => options.maxReceiveCount ?? MAX_RECEIVE_COUNTS[role];
  const visibility = visibilityTimeouts(options.visibilityTimeoutSeconds);
  const bucket = RESOURCE_NAMES.bucket;
  if (options.maxReceiveCount !== undefined && (!Number.isInteger(options.maxReceiveCount) || options.maxReceiveCount < 1 || options.maxReceiveCount > 1000)) {
    throw new RangeError(`maxReceiveCount must be an integer in 1–1000, got ${options.maxReceiveCount}`);
  }

  const trigger = new StartTrigger({
    bucket,
    region,
    filter: START_TRIGGER_FILTER,
    retryDelaysMs: options.startRetryDelaysMs ?? [1000, 2000],
    log,
  });
  const emulatorOptions = { port: options.port ?? 0, host: options.host ?? '127.0.0.1', region, onObjectWritten: (write: ObjectWrite) => trigger.notify(write) };
  const threaded = (options.emulatorThread ?? false) ? await startEmulatorThread({ ...emulatorOptions, log }) : undefined;
  const emulator: Emulator = threaded ?? (await startEmulator(emulatorOptions));
  const endpoint = emulator.endpoint;
  // The runtime's own clients: long polls here never hold up the handlers' requests. One socket per poller
  // (a train poller per worker), and spare ones so that deletes and idle() checks never queue behind long polls.
  const trainWorkers = options.trainWorkers ?? os.availableParallelism();
  const pollers =
    Math.max(trainWorkers, options.concurrency?.train ?? DEFAULT_CONCURRENCY.train) +
    (options.concurrency?.aggregate ?? DEFAULT_CONCURRENCY.aggregate) +
    (options.concurrency?.timer ?? DEFAULT_CONCURRENCY.timer);
  const s3 = createS3Client({ endpoint, region });
  const sqs = createSqsClient({ endpoint, region, maxSockets: pollers + 16 });
  const sources: SqsEventSource[] = [];
  let pool: TrainWorkerPool | undefined;

  const shutdown = async () => {
    await trigger.stop();
    const sourcesStopped = Promise.all(sources.map((source) => source.stop()));
    // Terminating workers fails their batches at once instead of waiting for a training run to finish.
    await pool?.close();
    await sourcesStopped;
    s3.destroy();
    sqs.destroy();
    await emulator.close();
  };

  try {
    await createBucketIfMissing(s3, bucket);
    const store = new S3ObjectStore(s3, bucket);
    const queues = {} as Record<QueueRole, { queue: SqsMessageQueue; arn: string; deadLetter: SqsMessageQueue }>;
    for (const role of ROLES) {
      const deadLetter = await createQueue(sqs, { name: QUEUE_NAMES[role].deadLetter });
      const main = await createQueue(sqs, {
        name: QUEUE_NAMES[role].queue,
        visibilityTimeoutSeconds: visibility[role],
        deadLetter: { targetArn: deadLetter.arn, maxReceiveCount: maxReceiveCount(role) },
      });
      queues[role] = { queue: new SqsMessageQueue(sqs, main.url), arn: main.arn, deadLetter: new SqsMessageQueue(sqs, deadLetter.url) };
    }
    const queueUrls: LocalQueueUrls = {
      train: queues.train.queue.url,
      aggregate: queues.aggregate.queue.url,
      timer: queues.timer.queue.url,
      trainDeadLetter: queues.train.deadLetter.url,
      aggregateDeadLetter: queues.aggregate.deadLetter.url,
      timerDeadLetter: queues.timer.deadLetter.url,
    };
    const pipelineQueueUrls = { train: queueUrls.train, aggregate: queueUrls.aggregate, timer: queueUrls.timer };

    const context = createCloudContext({
      endpoint,
      region,
      bucket,
      queueUrls: pipelineQueueUrls,
      log,
      ...(options.experimentRetentionDays !== undefined ? { experimentRetentionDays: options.experimentRetentionDays } : {}),
    });
    const handlers = typeof options.handlers === 'function' ? options.handlers(context) : options.handlers;

    // Workers load their modules on the other cores while this thread copies MNIST (and imported datasets) into the bucket.
    const mnistUploaded = Promise.all([
      options.uploadMnist ?? true ? uploadMnist(store) : undefined,
      options.datasets ? copyDatasets(options.datasets.from, store, options.datasets.names) : undefined,
    ]);
    const poolStarted = isWorkerModule(handlers.train)
      ? TrainWorkerPool.start({
          size: trainWorkers,
          workerModule: handlers.train.workerModule,
          connection: { endpoint, region, bucket, queueUrls: pipelineQueueUrls },
          log,
        })
      : Promise.resolve(undefined);
    const [uploaded, started] = await Promise.allSettled([mnistUploaded, poolStarted]);
    if (started.status === 'fulfilled') pool = started.value;
    if (uploaded.status === 'rejected') throw uploaded.reason;
    if (started.status === 'rejected') throw started.reason;

    const train: SQSHandlerFn = isWorkerModule(handlers.train) ? pool!.invoke : handlers.train;
    const trainConcurrency = pool ? pool.size : (options.concurrency?.train ?? DEFAULT_CONCURRENCY.train);
    const handlerFor: Record<QueueRole, SQSHandlerFn> = { train, aggregate: handlers.aggregate, timer: handlers.timer };
    for (const role of ROLES) {
      sources.push(
        new SqsEventSource({
          queue: queues[role].queue,
          queueArn: queues[role].arn,
          region,
          batchSize: options.batchSize?.[role] ?? EVENT_SOURCE_BATCH_SIZE[role],
          concurrency: role === 'train' ? trainConcurrency : (options.concurrency?.[role] ?? DEFAULT_CONCURRENCY[role]),
          maxReceiveCount: maxReceiveCount(role),
          handler: handlerFor[role],
          retryDelayMs: pollIntervalMs,
          log,
        }),
      );
    }
    for (const source of sources) source.start();
    trigger.attach(handlers.start, store);

    let stopping: Promise<void> | undefined;
    const busy = () => trigger.busy || threaded?.notificationsInTransit === true || sources.some((source) => source.busy);

    return {
      endpoint,
      region,
      bucket,
      trainWorkers: trainConcurrency,
      queueUrls,
      environment: {
        FLAMBDA_BUCKET: bucket,
        FLAMBDA_TRAIN_QUEUE_URL: queueUrls.train,
        FLAMBDA_AGGREGATE_QUEUE_URL: queueUrls.aggregate,
        FLAMBDA_TIMER_QUEUE_URL: queueUrls.timer,
        AWS_ENDPOINT_URL: endpoint,
        AWS_REGION: region,
      },
      context,

      async idle({ includeDelayed = true }: IdleOptions = {}) {
        for (;;) {
          if (stopping) throw new Error('the local cloud is stopped: nothing will become idle');
          if (!busy()) {
            const counts = await Promise.all(ROLES.map((role) => queues[role].queue.counts()));
            const empty = counts.every((count) => count.visible === 0 && count.inFlight === 0 && (!includeDelayed || count.delayed === 0));
            // Checked again: a handler may have started and finished while the counts were read.
            if (empty && !busy()) return;
          }
          await sleep(pollIntervalMs);
        }
      },

      async deadLetterCounts() {
        const counts = await Promise.all(ROLES.map((role) => queues[role].deadLetter.counts()));
        const total = (index: number) => {
          const count = counts[index]!;
          return count.visible + count.inFlight + count.delayed;
        };
        return { train: total(0), aggregate: total(1), timer: total(2) };
      },

      stop() {
        stopping ??= shutdown();
        return stopping;
      },
    };
  } catch (error) {
    await shutdown().catch(() => undefined);
    throw error;
  }
}
