/**
 * One scale measurement: an MNIST experiment on the embedded local cloud (real start, train, aggregate and timer
 * handlers, real S3 and SQS calls to the in-process emulator), every handler's S3 and SQS calls counted through the
 * decorators of bench/scale-counting.ts, the aggregator's time per "update ready" message, and the process's RSS.
 *
 * Training runs in this thread, one client at a time (its calls counted), or in `trainWorkers` worker threads as
 * `flambda run` trains: what is left of the round's wall time beyond the training (spread over the workers) and the
 * close is orchestration (S3 and SQS round trips, the emulator, the aggregator's per-message work) — the overhead
 * the issue asks about.
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAggregateHandler } from '../functions/aggregate.js';
import { createStartHandler } from '../functions/start.js';
import { createTimerHandler } from '../functions/timer.js';
import { createTrainHandler } from '../functions/train.js';
import { startLocalCloud, type SQSHandlerFn } from '../local/cloud.js';
import type { ExperimentConfigInput, ModelName } from '../shared/config/schema.js';
import type { RoundMetrics } from '../shared/metrics/types.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { readStatus } from '../shared/pipeline/experiment.js';
import { keys } from '../shared/protocol/keys.js';
import { addCounts, countingQueues, countingStore, emptyCounts, subtractCounts, type OperationCounts, type SqsCounts } from './scale-counting.js';

// Beside this module: functions/train.ts under tsx or vitest, as local/default-handlers.ts finds it.
const TRAIN_MODULE = new URL(`../functions/train${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`, import.meta.url);

export type ScaleRole = 'start' | 'train' | 'aggregate' | 'timer';
const ROLES: readonly ScaleRole[] = ['start', 'train', 'aggregate', 'timer'];

export interface ScaleRunOptions {
  /** clients in the federation (MNIST split evenly, samplesPerClient each) */
  readonly clients: number;
  /** clients sampled per round */
  readonly perRound: number;
  readonly rounds: number;
  readonly model?: ModelName;
  readonly samplesPerClient?: number;
  /** test images the global model is evaluated on after each round */
  readonly testSamples?: number;
  /**
   * `in-process` (default): one trainer in this thread, its S3 and SQS calls counted like the others'; but a client
   * training blocks this thread, so the aggregator's time per message includes waits for it. `worker`: training
   * worker threads (`trainWorkers`), as `flambda run` trains, so the aggregator's times are its own; the trainer's calls are
   * then made by the worker's own clients and are not counted (counts.train stays 0). `in-process-warm`: in-process
   * and counted, but every client trained in one warm container, as a worker of the local runtime trains them (it reads
   * the round's global model and config once); `in-process` gives each client a container of its own, as on AWS.
   */
  readonly trainer?: 'in-process' | 'in-process-warm' | 'worker';
  /**
   * With a worker trainer: the training worker threads, and as many clients trained at once (default 1). `flambda run`
   * starts local/trainer-pool.ts's trainerPoolSize(clients a round, cores).
   */
  readonly trainWorkers?: number;
  /** the emulator on the main thread, as `flambda run` runs it (default), or on a thread of its own */
  readonly emulatorThread?: boolean;
  /** config round.groups: the round's clients checked and summed in this many groups side by side (default 1) */
  readonly groups?: number;
  /** clients per trainer invocation (the train queue's batch size; default 1, the stack's; `flambda run` picks trainBatchSize) */
  readonly trainBatch?: number;
  /** give up after this long (the run then reports what it has and `completed: false`) */
  readonly timeoutMs?: number;
}

export interface ScaleRoundResult {
  readonly round: number;
  readonly clients: number;
  /** fan-out to the next global model written and evaluated */
  readonly wallMs: number;
  /** Σ of the clients' training times (one after another in-process; spread over the workers with a worker trainer) */
  readonly trainMsSum: number;
  readonly slowestTrainMs: number;
  /** the close: folding every update (with its S3 read), server step, evaluation */
  readonly aggregateMs: number;
  /**
   * (wall − Σ train ÷ training workers − close) / clients: Σ train ÷ workers is the least time the training can have
   * taken across the workers, so the overhead is, if anything, overstated
   */
  readonly overheadMsPerUpdate: number;
  /** metrics.json's orchestrationMs: latest update announced → next round opened, minus the close's compute */
  readonly orchestrationMs?: number;
}

export interface ScaleRunResult {
  readonly options: Required<Omit<ScaleRunOptions, 'timeoutMs'>>;
  readonly completed: boolean;
  readonly state: string;
  /** config written → experiment completed */
  readonly experimentMs: number;
  readonly rounds: readonly ScaleRoundResult[];
  /** client-updates the rounds accepted */
  readonly updates: number;
  /** operations of the rounds (from the first round's fan-out on), per role */
  readonly counts: Readonly<Record<ScaleRole, OperationCounts>>;
  /** operations of the experiment's start (partition, initial model), once per experiment */
  readonly setupCounts: Readonly<Record<ScaleRole, OperationCounts>>;
  /**
   * the aggregator's invocations during the rounds (the start's excluded), the messages they carried (batches of up to
   * 10), and its time per invocation: the serial FIFO path
   */
  readonly aggregator: { readonly invocations?: number; readonly messages: number; readonly totalMs: number; readonly medianMs: number; readonly p90Ms: number };
  /**
   * CPU time from the start step's partition to the experiment's end (the rounds): of the whole process (every thread:
   * the emulator, the handlers, the training worker, GC helpers) and of the main thread alone (Linux only). Unlike the
   * wall times it does not grow when other work on the machine takes the cores.
   */
  readonly cpu?: { readonly processMs: number; readonly mainThreadMs?: number };
  readonly memory: {
    /** RSS once the cloud had started, before the experiment */
    readonly baselineRssBytes: number;
    /** RSS when the start step had partitioned the data, before the first round */
    readonly afterSetupRssBytes: number;
    /** highest RSS sampled during the experiment (every 50 ms) */
    readonly peakRssBytes: number;
    readonly peakHeapUsedBytes: number;
    /** bytes the counted handlers wrote to the emulator, which keeps every object in this process's memory (a worker trainer's writes are not counted) */
    readonly storedBytes: number;
  };
}

/** This thread's CPU time in ms (user + system, from /proc/thread-self/stat); undefined where there is none. */
function threadCpuMs(): number | undefined {
  try {
    // Fields after the command name (which may hold spaces, hence from the last ')'): utime and stime are the 12th and 13th, in clock ticks (100 a second on Linux).
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

const percentile = (sorted: readonly number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : 0);

/** Counts, at the handler's border, the receives and batch deletes Lambda's event-source mapping makes for it. */
function countedHandler(handler: SQSHandlerFn, counts: SqsCounts, timings?: number[]): SQSHandlerFn {
  return async (event: SQSEvent) => {
    counts.receive++;
    counts.received += event.Records.length;
    const started = performance.now();
    let response: SQSBatchResponse | void;
    try {
      response = await handler(event);
    } finally {
      timings?.push(performance.now() - started);
    }
    if ((response?.batchItemFailures.length ?? 0) < event.Records.length) counts.delete++;
    return response;
  };
}

export async function measureScale(options: ScaleRunOptions): Promise<ScaleRunResult> {
  const settings = {
    clients: options.clients,
    perRound: options.perRound,
    rounds: options.rounds,
    model: options.model ?? 'mlp',
    samplesPerClient: options.samplesPerClient ?? 60,
    testSamples: options.testSamples ?? 1000,
    trainer: options.trainer ?? 'in-process',
    trainWorkers: options.trainWorkers ?? 1,
    emulatorThread: options.emulatorThread ?? false,
    groups: options.groups ?? 1,
    trainBatch: options.trainBatch ?? 1,
  };
  if (!Number.isSafeInteger(settings.trainWorkers) || settings.trainWorkers < 1) throw new RangeError(`trainWorkers must be a positive integer (got ${settings.trainWorkers})`);
  const counts = Object.fromEntries(ROLES.map((role) => [role, emptyCounts()])) as Record<ScaleRole, OperationCounts>;
  const aggregateTimings: number[] = [];
  // the one container an 'in-process-warm' trainer trains every client in
  const warmTrainer = {};
  // The start step (partitioning MNIST into per-client shards, the initial model) runs once per experiment: its
  // operations are counted apart, up to the moment it logs 'start.partitioned', and left out of the per-update figures.
  let setup: { counts: Record<ScaleRole, OperationCounts>; aggregateMessages: number; rssBytes: number; cpu: NodeJS.CpuUsage; mainThreadCpuMs: number | undefined } | undefined;
  const cloud = await startLocalCloud({
    log: (event) => {
      if (event !== 'start.partitioned' || setup) return;
      setup = {
        counts: Object.fromEntries(ROLES.map((role) => [role, addCounts(counts[role], emptyCounts())])) as Record<ScaleRole, OperationCounts>,
        // the message being handled (the start) has not finished yet: its time is recorded next
        aggregateMessages: aggregateTimings.length + 1,
        rssBytes: process.memoryUsage().rss,
        cpu: process.cpuUsage(),
        mainThreadCpuMs: threadCpuMs(),
      };
    },
    concurrency: { train: settings.trainWorkers },
    batchSize: { train: settings.trainBatch },
    trainWorkers: settings.trainWorkers,
    emulatorThread: settings.emulatorThread,
    handlers: (context: PipelineContext) => {
      const contextFor = (role: ScaleRole) => {
        const counted: PipelineContext = { ...context, store: countingStore(context.store, counts[role].s3), queues: countingQueues(context.queues, counts[role].sqs) };
        // The counted trainer runs each client in a container of its own, as 1,000 concurrent Lambdas do (its calls
        // include the global model and config that a warm worker of the local runtime reads once a round), or, with
        // 'in-process-warm', all of them in one, as that worker does.
        if (role === 'train') return async (): Promise<PipelineContext> => ({ ...counted, warm: settings.trainer === 'in-process-warm' ? warmTrainer : {} });
        return async () => counted;
      };
      return {
        start: createStartHandler(contextFor('start')),
        train: settings.trainer === 'worker' ? { workerModule: TRAIN_MODULE } : countedHandler(createTrainHandler(contextFor('train')), counts.train.sqs),
        aggregate: countedHandler(createAggregateHandler(contextFor('aggregate')), counts.aggregate.sqs, aggregateTimings),
        timer: countedHandler(createTimerHandler(contextFor('timer')), counts.timer.sqs),
      };
    },
  });
  let peakRss = 0;
  let peakHeap = 0;
  const sample = () => {
    const usage = process.memoryUsage();
    peakRss = Math.max(peakRss, usage.rss);
    peakHeap = Math.max(peakHeap, usage.heapUsed);
  };
  try {
    const baselineRssBytes = process.memoryUsage().rss;
    const sampler = setInterval(sample, 50);
    const experimentId = `scale-${settings.perRound}-of-${settings.clients}`;
    const config: ExperimentConfigInput = {
      name: experimentId,
      clients: settings.clients,
      rounds: settings.rounds,
      model: settings.model,
      samplesPerClient: settings.samplesPerClient,
      testSamples: settings.testSamples,
      ...(settings.perRound < settings.clients ? { sampling: { perRound: settings.perRound } } : {}),
      round: { deadlineSeconds: 86_400, ...(settings.groups > 1 ? { groups: settings.groups } : {}) },
    };
    const started = performance.now();
    await cloud.context.store.put(keys.config(experimentId), JSON.stringify(config), 'application/json');
    const until = Date.now() + (options.timeoutMs ?? 6 * 3600_000);
    let state = 'pending';
    while (Date.now() < until) {
      state = (await readStatus(cloud.context.store, experimentId))?.state ?? 'pending';
      if (state === 'completed' || state === 'failed') break;
      // As often as `flambda run` polls (cli/watch.ts): each poll is a GET served on this thread, which the rounds share.
      await sleep(500);
    }
    const experimentMs = performance.now() - started;
    const processCpuMs = setup ? cpuMs(process.cpuUsage(setup.cpu)) : undefined;
    const mainThreadNow = threadCpuMs();
    const mainThreadMs = setup?.mainThreadCpuMs !== undefined && mainThreadNow !== undefined ? mainThreadNow - setup.mainThreadCpuMs : undefined;
    clearInterval(sampler);
    sample();

    const rounds: ScaleRoundResult[] = [];
    const assembled = await cloud.context.store.getText(keys.metrics(experimentId));
    const orchestration = new Map((assembled ? (JSON.parse(assembled) as { rounds: RoundMetrics[] }).rounds : []).map((round) => [round.round, round.timing.orchestrationMs]));
    for (let round = 1; round <= settings.rounds; round++) {
      const text = await cloud.context.store.getText(keys.roundMetrics(experimentId, round));
      if (!text) break;
      const metrics = JSON.parse(text) as RoundMetrics;
      const trainMsSum = metrics.clients.reduce((total, client) => total + client.trainMs, 0);
      const wallMs = metrics.timing.roundMs + metrics.timing.aggregateMs;
      const n = metrics.clients.length;
      rounds.push({
        round,
        clients: n,
        wallMs,
        trainMsSum,
        slowestTrainMs: metrics.timing.trainMs,
        aggregateMs: metrics.timing.aggregateMs,
        overheadMsPerUpdate: n ? (wallMs - trainMsSum / (settings.trainer === 'worker' ? settings.trainWorkers : 1) - metrics.timing.aggregateMs) / n : 0,
        ...(orchestration.get(round) !== undefined ? { orchestrationMs: orchestration.get(round)! } : {}),
      });
    }
    const setupCounts = setup?.counts ?? (Object.fromEntries(ROLES.map((role) => [role, emptyCounts()])) as Record<ScaleRole, OperationCounts>);
    const roundCounts = Object.fromEntries(ROLES.map((role) => [role, subtractCounts(counts[role], setupCounts[role])])) as Record<ScaleRole, OperationCounts>;
    const roundTimings = aggregateTimings.slice(setup?.aggregateMessages ?? 0);
    const sorted = [...roundTimings].sort((a, b) => a - b);
    const storedBytes = ROLES.reduce((total, role) => total + counts[role].s3.putBytes, 0);
    return {
      options: settings,
      completed: state === 'completed',
      state,
      experimentMs,
      rounds,
      updates: rounds.reduce((total, round) => total + round.clients, 0),
      counts: roundCounts,
      setupCounts,
      aggregator: { invocations: sorted.length, messages: roundCounts.aggregate.sqs.received, totalMs: sorted.reduce((a, b) => a + b, 0), medianMs: percentile(sorted, 0.5), p90Ms: percentile(sorted, 0.9) },
      ...(processCpuMs !== undefined ? { cpu: { processMs: processCpuMs, ...(mainThreadMs !== undefined ? { mainThreadMs } : {}) } } : {}),
      memory: { baselineRssBytes, afterSetupRssBytes: setup?.rssBytes ?? baselineRssBytes, peakRssBytes: peakRss, peakHeapUsedBytes: peakHeap, storedBytes },
    };
  } finally {
    await cloud.stop();
  }
}
