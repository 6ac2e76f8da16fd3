/**
 * A model of one round on AWS, from the S3 and SQS operations the local runtime measured per client-update
 * (bench/scale-run.ts), a client's training time from bench/benchmarks.json, and AWS's published limits, latencies
 * and prices (AWS_FIGURES, each with where it is published in docs/scale.md). Pure: no I/O, no clock.
 *
 * The round as simulated, in 10 ms steps:
 * - fan-out: the aggregator (or the start step) sends the train messages 10 a call (SendMessageBatch), one call after
 *   another;
 * - training: each message starts a client Lambda when the train queue's event-source mapping has a poller free
 *   (5 at first, 300 more a minute, at most 1,000) and the account has concurrency left (1,000); Lambda adds at most
 *   1,000 environments per 10 s. A client: cold start, its S3 reads, training, its S3 writes, its "update ready";
 * - S3 per prefix: a client's reads wait for the prefix's GET rate, its writes for the PUT rate;
 * - the "update ready" sends wait for the FIFO queue's SendMessage rate (unbatched);
 * - aggregation: one FIFO message group per experiment, so one message at a time, each costing the aggregator's
 *   measured S3 and SQS calls per update at the published latency — except the reads it makes together (a batch's
 *   updates read ahead, the close's reads 10 at a time) and the writes it makes together (a batch's verdicts), which
 *   wait `1 / readConcurrency` of that each, and the reads made alongside the batch's round-state read (each client's
 *   verdict, report and update), which wait for nothing more; then the global model is evaluated.
 * With trainer batches (`-c trainBatchSize`), an invocation takes up to that many visible messages: one cold start and
 * one client's reads and writes in full, then each further client its training and its warm reads' and writes' bytes
 * (the handler's records run side by side, their training one at a time: shared/engine/train.ts's runExclusive).
 */

export interface AwsFigures {
  readonly accountConcurrency: number;
  /** new execution environments per function per 10 s */
  readonly scalingPer10s: number;
  /** SQS event-source mapping (standard queue): concurrent batches at first, added per minute, and at most */
  readonly pollersInitial: number;
  readonly pollersPerMinute: number;
  readonly pollersMax: number;
  readonly s3PutsPerSecondPerPrefix: number;
  readonly s3GetsPerSecondPerPrefix: number;
  /** FIFO queue, per API action, without batching and without high-throughput mode */
  readonly fifoCallsPerSecond: number;
  /** one S3 request's latency (small objects) */
  readonly s3LatencyMs: number;
  /** one SQS API call */
  readonly sqsLatencyMs: number;
  /** a client Lambda's cold start, tfjs and its wasm backend loaded */
  readonly coldStartMs: number;
  /** one Lambda's S3 transfer rate */
  readonly bytesPerSecond: number;
  readonly trainMemoryGb: number;
  readonly aggregateMemoryGb: number;
  readonly pricePerGbSecond: number;
  readonly pricePerInvocation: number;
  readonly pricePerS3Put: number;
  readonly pricePerS3Get: number;
  readonly pricePerSqsRequest: number;
}

export const AWS_FIGURES: AwsFigures = {
  accountConcurrency: 1000,
  scalingPer10s: 1000,
  pollersInitial: 5,
  pollersPerMinute: 300,
  pollersMax: 1000,
  s3PutsPerSecondPerPrefix: 3500,
  s3GetsPerSecondPerPrefix: 5500,
  fifoCallsPerSecond: 300,
  s3LatencyMs: 100,
  sqsLatencyMs: 20,
  coldStartMs: 1500,
  bytesPerSecond: 50e6,
  trainMemoryGb: 1769 / 1024,
  aggregateMemoryGb: 1769 / 1024,
  pricePerGbSecond: 0.0000166667,
  pricePerInvocation: 0.2 / 1e6,
  pricePerS3Put: 0.005 / 1000,
  pricePerS3Get: 0.0004 / 1000,
  pricePerSqsRequest: 0.5 / 1e6,
};

/** S3 and SQS calls per client-update, as measured */
export interface CallsPerUpdate {
  readonly s3Gets: number;
  readonly s3GetBytes: number;
  readonly s3Puts: number;
  readonly s3PutBytes: number;
  readonly s3Heads: number;
  readonly s3Lists: number;
  /** every SQS call but the train messages' fan-out */
  readonly sqsCalls: number;
  /** of the GETs and HEADs, those made together with others (their waits overlap); default none */
  readonly overlappedReads?: number;
  /** of the PUTs, those made together with others (a batch's verdicts); default none */
  readonly overlappedWrites?: number;
  /**
   * of the overlapped reads, those made alongside a request that waits anyway (a client's verdict, report and update,
   * read with the batch's round state): they add no wait of their own; default none
   */
  readonly hiddenReads?: number;
}

export interface Workload {
  readonly model: string;
  /** one client's training on one vCPU (the train function's 1,769 MB) */
  readonly trainMs: number;
  /** the global model's evaluation after the round, on the aggregator */
  readonly evaluationMs: number;
  readonly trainer: CallsPerUpdate;
  /** the trainer's calls for a client in a warm container (a batch's later clients); default `trainer` */
  readonly trainerWarm?: CallsPerUpdate;
  /** the aggregator's calls per update: its "update ready" message and the update's share of the close */
  readonly aggregator: CallsPerUpdate;
  /** how many of the aggregator's overlapped reads, or writes, are in flight at once (its batch, at most 10); default 1 */
  readonly readConcurrency?: number;
}

export const LIMITS = ['lambda-concurrency', 'sqs-poller-scaling', 's3-prefix-rate', 'sqs-fifo-throughput', 'serial-aggregator'] as const;
export type LimitName = (typeof LIMITS)[number];

export interface RoundEstimate {
  readonly clients: number;
  readonly roundMs: number;
  readonly fanOutMs: number;
  /** fan-out start → last client done */
  readonly trainingMs: number;
  /** one client Lambda, cold: start, S3 reads, training, S3 writes, "update ready" */
  readonly clientMs: number;
  /** the aggregator's time per "update ready" message */
  readonly aggregatorMsPerUpdate: number;
  /** the limit whose lifting shortens the round most; undefined when none shortens it by 1% */
  readonly firstLimit: LimitName | undefined;
  /** the round time with each limit lifted */
  readonly withoutLimit: Readonly<Record<LimitName, number>>;
  /** the round time with a tree of treeGroups(clients) groups (config round.groups) */
  readonly treeRoundMs: number;
  /** the round time with MODELLED_TRAIN_BATCH clients a trainer invocation, with one group and with the tree's */
  readonly batchedRoundMs: number;
  readonly batchedTreeRoundMs: number;
  readonly cost: { readonly lambda: number; readonly s3: number; readonly sqs: number; readonly total: number };
}

const STEP_MS = 10;

const s3Requests = (calls: CallsPerUpdate) => calls.s3Gets + calls.s3Heads + calls.s3Puts + calls.s3Lists;

/** a client's time: cold start, reads (those made together wait once), training, writes, the "update ready" send and the queue's delete */
export function clientMs(workload: Workload, aws: AwsFigures = AWS_FIGURES): number {
  const { trainer } = workload;
  return (
    aws.coldStartMs +
    (s3Requests(trainer) - (trainer.overlappedReads ?? 0)) * aws.s3LatencyMs +
    ((trainer.s3GetBytes + trainer.s3PutBytes) / aws.bytesPerSecond) * 1000 +
    workload.trainMs +
    trainer.sqsCalls * aws.sqsLatencyMs
  );
}

/**
 * the aggregator's time per "update ready": its S3 calls one after another but for the overlapped reads and writes
 * (each waits 1/readConcurrency of a request, or nothing if hidden behind one that waits anyway), the bytes (one
 * Lambda's bandwidth, overlapped or not), its SQS calls
 */
export function aggregatorMsPerUpdate(workload: Workload, aws: AwsFigures = AWS_FIGURES): number {
  const { aggregator } = workload;
  const overlappedReads = Math.min(aggregator.overlappedReads ?? 0, aggregator.s3Gets + aggregator.s3Heads);
  const hidden = Math.min(aggregator.hiddenReads ?? 0, overlappedReads);
  const overlapped = overlappedReads + Math.min(aggregator.overlappedWrites ?? 0, aggregator.s3Puts);
  const concurrency = Math.max(1, workload.readConcurrency ?? 1);
  return (
    (s3Requests(aggregator) - overlapped) * aws.s3LatencyMs +
    ((overlapped - hidden) * aws.s3LatencyMs) / concurrency +
    ((aggregator.s3GetBytes + aggregator.s3PutBytes) / aws.bytesPerSecond) * 1000 +
    aggregator.sqsCalls * aws.sqsLatencyMs
  );
}

/** SendMessageBatch: the fan-out's messages per call */
export const FAN_OUT_BATCH = 10;

/** Sends through a gate of `perSecond`: each is let through no sooner than 1/perSecond after the one before. */
function gate(times: readonly number[], perSecond: number): number[] {
  if (!Number.isFinite(perSecond)) return [...times];
  const spacing = 1000 / perSecond;
  const out: number[] = [];
  let last = -Infinity;
  for (const time of [...times].sort((a, b) => a - b)) {
    last = Math.max(time, last + spacing);
    out.push(last);
  }
  return out;
}

/**
 * The round's length in ms with the given limits lifted. `groups` > 1 models the tree of sums (config round.groups,
 * docs/protocol.md): the updates spread over that many FIFO groups, each checked by its own aggregator at the measured
 * cost per update; each group's close then writes its partial sum (float64: twice an update's bytes) and its state and
 * sends "group closed", and the round's close reads the partial sums, 10 at a time (they carry the verdicts).
 */
export function simulateRound(
  clients: number,
  workload: Workload,
  aws: AwsFigures = AWS_FIGURES,
  lifted: ReadonlySet<LimitName> = new Set(),
  groups = 1,
  trainBatch = 1,
): { roundMs: number; fanOutMs: number; trainingMs: number; invocationMs: number } {
  if (!Number.isSafeInteger(groups) || groups < 1) throw new RangeError(`groups must be a positive integer (got ${groups})`);
  if (!Number.isSafeInteger(clients) || clients < 1) throw new RangeError(`clients must be a positive integer (got ${clients})`);
  if (!Number.isSafeInteger(trainBatch) || trainBatch < 1 || trainBatch > 10) throw new RangeError(`trainBatch must be an integer from 1 to 10 (got ${trainBatch})`);
  const concurrencyCap = lifted.has('lambda-concurrency') ? Infinity : aws.accountConcurrency;
  const s3Lifted = lifted.has('s3-prefix-rate');
  const duration = clientMs(workload, aws);
  const later = laterClientMs(workload, aws);
  // Messages become visible one batch send after another.
  const available = Array.from({ length: clients }, (_, index) => (Math.floor(index / FAN_OUT_BATCH) + 1) * aws.sqsLatencyMs);
  const fanOutMs = Math.ceil(clients / FAN_OUT_BATCH) * aws.sqsLatencyMs;
  // per client: its invocation's start, and when its update is written counted from there
  const starts: number[] = [];
  const doneAfter: number[] = [];
  const running: number[] = [];
  let invocationMs = 0;
  let next = 0;
  for (let time = 0; next < clients; time += STEP_MS) {
    for (let i = running.length - 1; i >= 0; i--) if (running[i]! <= time) running.splice(i, 1);
    const pollers = lifted.has('sqs-poller-scaling') ? Infinity : Math.min(aws.pollersMax, aws.pollersInitial + (aws.pollersPerMinute * time) / 60_000);
    // Lambda's scaling rate: environments, once created, are reused; new ones come at most scalingPer10s per 10 s.
    const environmentCap = lifted.has('lambda-concurrency') ? Infinity : aws.scalingPer10s * (1 + Math.floor(time / 10_000));
    const slots = Math.floor(Math.min(concurrencyCap, pollers, environmentCap)) - running.length;
    for (let s = 0; s < slots && next < clients && available[next]! <= time; s++) {
      let taken = 0;
      for (; taken < trainBatch && next < clients && available[next]! <= time; taken++, next++) {
        starts.push(time);
        doneAfter.push(duration + taken * later);
      }
      const length = duration + (taken - 1) * later;
      invocationMs += length;
      running.push(time + length);
    }
  }
  // Reads wait for the prefix's GET rate; the gated start shifts the whole client.
  const readStarts = s3Lifted ? starts : gate(starts, aws.s3GetsPerSecondPerPrefix / Math.max(1, workload.trainer.s3Gets + workload.trainer.s3Heads));
  const writesDone = gate(
    readStarts.map((start, index) => start + doneAfter[index]!),
    s3Lifted ? Infinity : aws.s3PutsPerSecondPerPrefix / Math.max(1, workload.trainer.s3Puts),
  );
  const announced = gate(writesDone, lifted.has('sqs-fifo-throughput') ? Infinity : aws.fifoCallsPerSecond);
  const perUpdate = lifted.has('serial-aggregator') ? 0 : aggregatorMsPerUpdate(workload, aws);
  const groupFree = new Array<number>(groups).fill(0);
  announced.forEach((time, index) => {
    groupFree[index % groups] = Math.max(groupFree[index % groups]!, time) + perUpdate;
  });
  let aggregatorFree = Math.max(...groupFree);
  if (groups > 1) {
    const partialBytes = 2 * workload.trainer.s3PutBytes;
    const groupClose = 2 * aws.s3LatencyMs + (partialBytes / aws.bytesPerSecond) * 1000 + aws.sqsLatencyMs;
    aggregatorFree += groupClose + Math.ceil(groups / 10) * aws.s3LatencyMs + ((groups * partialBytes) / aws.bytesPerSecond) * 1000;
  }
  // Lifting the serial path (a tree of partial sums) still leaves one message's work after the last update.
  if (lifted.has('serial-aggregator')) aggregatorFree += aggregatorMsPerUpdate(workload, aws);
  const trainingMs = Math.max(...writesDone);
  return { roundMs: aggregatorFree + workload.evaluationMs, fanOutMs, trainingMs, invocationMs };
}

/** what each client after a batch's first adds to its invocation: its training and its warm transfers' bytes */
export function laterClientMs(workload: Workload, aws: AwsFigures = AWS_FIGURES): number {
  const warm = workload.trainerWarm ?? workload.trainer;
  return workload.trainMs + ((warm.s3GetBytes + warm.s3PutBytes) / aws.bytesPerSecond) * 1000;
}

/** The trainer batch the model compares with one client an invocation: SQS's most messages a receive. */
export const MODELLED_TRAIN_BATCH = 10;

/** The tree's group count the model assumes (config round.groups): one group below 100 clients a round, ≈ √n above. */
export function treeGroups(clients: number): number {
  return clients < 100 ? 1 : Math.round(Math.sqrt(clients));
}

export function estimateRound(clients: number, workload: Workload, aws: AwsFigures = AWS_FIGURES): RoundEstimate {
  const base = simulateRound(clients, workload, aws);
  const tree = simulateRound(clients, workload, aws, new Set(), treeGroups(clients));
  const batched = simulateRound(clients, workload, aws, new Set(), 1, MODELLED_TRAIN_BATCH);
  const batchedTree = simulateRound(clients, workload, aws, new Set(), treeGroups(clients), MODELLED_TRAIN_BATCH);
  const withoutLimit = Object.fromEntries(LIMITS.map((limit) => [limit, simulateRound(clients, workload, aws, new Set([limit])).roundMs])) as Record<LimitName, number>;
  let firstLimit: LimitName | undefined;
  let bestGain = base.roundMs * 0.01;
  for (const limit of LIMITS) {
    const gain = base.roundMs - withoutLimit[limit];
    if (gain > bestGain) {
      bestGain = gain;
      firstLimit = limit;
    }
  }
  const client = clientMs(workload, aws);
  const perUpdate = aggregatorMsPerUpdate(workload, aws);
  const { trainer, aggregator } = workload;
  const lambda =
    (2 * clients + 1) * aws.pricePerInvocation +
    (base.invocationMs / 1000) * aws.trainMemoryGb * aws.pricePerGbSecond +
    ((clients * perUpdate + workload.evaluationMs) / 1000) * aws.aggregateMemoryGb * aws.pricePerGbSecond;
  const s3 =
    clients * ((trainer.s3Puts + trainer.s3Lists + aggregator.s3Puts + aggregator.s3Lists) * aws.pricePerS3Put + (trainer.s3Gets + trainer.s3Heads + aggregator.s3Gets + aggregator.s3Heads) * aws.pricePerS3Get);
  // every SQS call priced as a FIFO request (the dearer kind); the fan-out is one call per 10 clients
  const sqs = (clients * (trainer.sqsCalls + aggregator.sqsCalls) + Math.ceil(clients / FAN_OUT_BATCH)) * aws.pricePerSqsRequest;
  return {
    clients,
    roundMs: base.roundMs,
    fanOutMs: base.fanOutMs,
    trainingMs: base.trainingMs,
    clientMs: client,
    aggregatorMsPerUpdate: perUpdate,
    firstLimit,
    withoutLimit,
    treeRoundMs: tree.roundMs,
    batchedRoundMs: batched.roundMs,
    batchedTreeRoundMs: batchedTree.roundMs,
    cost: { lambda, s3, sqs, total: lambda + s3 + sqs },
  };
}

/** ms one client trains `samples` samples for `epochs` epochs at `samplesPerSecond` */
export function trainingMs(samples: number, epochs: number, samplesPerSecond: number): number {
  if (!(samplesPerSecond > 0)) throw new RangeError(`samplesPerSecond must be positive (got ${samplesPerSecond})`);
  return ((samples * epochs) / samplesPerSecond) * 1000;
}

/** Calls per update measured on one model, with the model-sized transfers scaled to another model's size. */
export function scaleBytes(calls: CallsPerUpdate, fromParameters: number, toParameters: number): CallsPerUpdate {
  const ratio = toParameters / fromParameters;
  return { ...calls, s3GetBytes: calls.s3GetBytes * ratio, s3PutBytes: calls.s3PutBytes * ratio };
}
