/**
 * The aggregator's serial path alone: a round whose every client has already written its update, announced at once,
 * as a round of N parallel Lambdas does on AWS. The real start, aggregate and timer handlers run on the embedded local
 * cloud; the trainer is replaced by the benchmark writing each sampled client's update and report exactly as the trainer
 * does (the global model of round 0, a valid update), so what is timed is the FIFO queue and the aggregator. Every
 * "update ready" is sent before the aggregator may start (its first invocation waits for the last send): it then drains
 * a backlog of N in full batches, as on AWS whenever it is what the round waits for, rather than racing the sends one
 * batch of whatever has arrived at a time. Timed: from the last send to the round closed, minus the close's aggregation
 * and evaluation (timing.computeMs).
 * Run once per aggregator batch size, so batches of 1 (one message per invocation) and of 10 compare in one run.
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAggregateHandler } from '../functions/aggregate.js';
import { createStartHandler } from '../functions/start.js';
import { createTimerHandler } from '../functions/timer.js';
import { startLocalCloud, type SQSHandlerFn } from '../local/cloud.js';
import type { ExperimentConfigInput } from '../shared/config/schema.js';
import type { RoundMetrics } from '../shared/metrics/types.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { readStatus } from '../shared/pipeline/experiment.js';
import type { AggregateMessage, TrainMessage } from '../shared/protocol/messages.js';
import { keys } from '../shared/protocol/keys.js';
import type { UpdateReport } from '../shared/protocol/records.js';
import { addCounts, countingQueues, countingStore, emptyCounts, slowedStore, subtractCounts, type OperationCounts } from './scale-counting.js';

export interface BurstOptions {
  readonly clients: number;
  readonly perRound: number;
  /** the aggregator's event-source batch size (the stack's is 10) */
  readonly batchSize: number;
  readonly samplesPerClient?: number;
  /** added to every S3 request of the aggregator (a slower S3, as on AWS), default 0 */
  readonly s3LatencyMs?: number;
  /** the aggregator reads a batch's updates ahead and writes its verdicts together (default true: what the stack runs) */
  readonly readAhead?: boolean;
  readonly timeoutMs?: number;
}

export interface BurstResult {
  readonly options: Required<Omit<BurstOptions, 'timeoutMs'>>;
  readonly completed: boolean;
  readonly updates: number;
  /** last "update ready" sent (the aggregator let go) → round closed and evaluated */
  readonly wallMs: number;
  /** the close's aggregation and evaluation */
  readonly computeMs: number;
  /** (wall − compute) ÷ updates: the serial path's time per update */
  readonly msPerUpdate: number;
  /** the aggregator's invocations (batches) while the burst was handled, and the messages they carried */
  readonly invocations: number;
  readonly messages: number;
  /** the aggregator's calls during the burst (the start's excluded) */
  readonly counts: OperationCounts;
}

/**
 * What the burst compares, interleaved: one message per invocation and the stack's batches of 10 (on the emulator's
 * own speed), then batches of 10 with S3 requests slowed to BURST_LATENCY_MS, reading and writing each update's
 * records in its message's turn, and reading the batch ahead and writing its verdicts together. The slowed ones only up to BURST_LATENCY_MAX_UPDATES: one at a time they take
 * ~9 × the latency per update.
 */
export const BURST_LATENCY_MS = 20;
export const BURST_LATENCY_MAX_UPDATES = 100;
export type BurstVariant = Pick<BurstOptions, 'batchSize' | 's3LatencyMs' | 'readAhead'>;
export const burstVariants = (perRound: number): BurstVariant[] => [
  { batchSize: 1 },
  { batchSize: 10 },
  ...(perRound <= BURST_LATENCY_MAX_UPDATES
    ? [
        { batchSize: 10, s3LatencyMs: BURST_LATENCY_MS, readAhead: false },
        { batchSize: 10, s3LatencyMs: BURST_LATENCY_MS, readAhead: true },
      ]
    : []),
];
/** Each pair runs this often, alternating: on a shared machine one run of each says little. */
export const BURST_REPEATS = 3;
export const burstKey = (options: Pick<BurstOptions, 'perRound' | 'clients' | 'batchSize' | 's3LatencyMs' | 'readAhead'>, repeat: number) =>
  `burst-${options.perRound}-of-${options.clients}-batch${options.batchSize}${options.s3LatencyMs ? `-s3+${options.s3LatencyMs}ms-${options.readAhead === false ? 'in-turn' : 'ahead'}` : ''}-rep${repeat}`;

const noop: SQSHandlerFn = async () => ({ batchItemFailures: [] });

export async function measureBurst(options: BurstOptions): Promise<BurstResult> {
  const settings = {
    clients: options.clients,
    perRound: options.perRound,
    batchSize: options.batchSize,
    samplesPerClient: options.samplesPerClient ?? 60,
    s3LatencyMs: options.s3LatencyMs ?? 0,
    readAhead: options.readAhead ?? true,
  };
  const trainMessages: TrainMessage[] = [];
  const counts = emptyCounts();
  let invocations = 0;
  let messages = 0;
  let counting = false;
  let releaseAggregator = () => {};
  const aggregatorReleased = new Promise<void>((resolve) => (releaseAggregator = resolve));
  const cloud = await startLocalCloud({
    log: () => {},
    trainWorkers: 1,
    batchSize: { aggregate: settings.batchSize },
    handlers: (context: PipelineContext) => {
      const store = settings.s3LatencyMs ? slowedStore(context.store, settings.s3LatencyMs) : context.store;
      const counted: PipelineContext = { ...context, store: countingStore(store, counts.s3), queues: countingQueues(context.queues, counts.sqs) };
      const aggregate = createAggregateHandler(async () => counted, { readAhead: settings.readAhead });
      return {
        start: createStartHandler(async () => context),
        aggregate: async (event: SQSEvent): Promise<SQSBatchResponse> => {
          if (counting) {
            invocations++;
            messages += event.Records.length;
            counts.sqs.receive++;
            counts.sqs.received += event.Records.length;
            await aggregatorReleased;
          }
          const response = await aggregate(event);
          if (counting && response.batchItemFailures.length < event.Records.length) counts.sqs.delete++;
          return response;
        },
        timer: createTimerHandler(async () => context),
        // The benchmark plays the clients: it collects who was asked, and writes their updates itself.
        train: async (event: SQSEvent) => {
          for (const record of event.Records) trainMessages.push(JSON.parse(record.body) as TrainMessage);
          return noop(event);
        },
      };
    },
  });
  try {
    const { store } = cloud.context;
    const experimentId = `burst-${settings.perRound}-b${settings.batchSize}`;
    const config: ExperimentConfigInput = {
      name: experimentId,
      clients: settings.clients,
      rounds: 1,
      model: 'mlp',
      samplesPerClient: settings.samplesPerClient,
      testSamples: 1000,
      ...(settings.perRound < settings.clients ? { sampling: { perRound: settings.perRound } } : {}),
      round: { deadlineSeconds: 86_400 },
    };
    await store.put(keys.config(experimentId), JSON.stringify(config), 'application/json');
    const until = Date.now() + (options.timeoutMs ?? 3600_000);
    while (trainMessages.length < settings.perRound && Date.now() < until) await sleep(100);
    await cloud.idle({ includeDelayed: false });
    const global = await store.get(keys.globalModel(experimentId, 0));
    if (!global) throw new Error('the start step wrote no initial model');
    const sampled = [...new Map(trainMessages.map((message) => [message.clientId, message])).values()];
    for (const message of sampled) {
      await store.put(keys.update(experimentId, 1, message.clientId), global);
      const report: UpdateReport = {
        experimentId,
        round: 1,
        clientId: message.clientId,
        samples: settings.samplesPerClient,
        trainLoss: 1,
        trainAccuracy: 0.5,
        trainMs: 1,
        updateBytes: global.byteLength,
        backend: { backend: 'wasm', tfjsVersion: 'bench', details: {} },
      };
      await store.put(keys.updateReport(experimentId, 1, message.clientId), JSON.stringify(report));
    }
    // The start's calls (partitioning, the initial model, the fan-out) are not the burst's.
    const before = addCounts(counts, emptyCounts());
    counting = true;
    for (const { clientId } of sampled) {
      const update: AggregateMessage = { type: 'update', experimentId, round: 1, clientId };
      await cloud.context.queues.aggregate.send(update, { groupId: experimentId, deduplicationId: `${experimentId}:1:${clientId}` });
    }
    const started = performance.now();
    releaseAggregator();
    let state = 'running';
    while (Date.now() < until) {
      state = (await readStatus(store, experimentId))?.state ?? 'running';
      if (state !== 'running') break;
      await sleep(20);
    }
    const wallMs = performance.now() - started;
    counting = false;
    const metricsText = await store.getText(keys.roundMetrics(experimentId, 1));
    const computeMs = metricsText ? ((JSON.parse(metricsText) as RoundMetrics).timing.computeMs ?? 0) : 0;
    return {
      options: settings,
      completed: state === 'completed',
      updates: sampled.length,
      wallMs,
      computeMs,
      msPerUpdate: sampled.length ? (wallMs - computeMs) / sampled.length : 0,
      invocations,
      messages,
      counts: subtractCounts(counts, before),
    };
  } finally {
    await cloud.stop();
  }
}
