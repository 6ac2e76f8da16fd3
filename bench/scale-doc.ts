/**
 * docs/scale.md from bench/scale-results.json (the local measurements) and bench/benchmarks.json (training speed),
 * with the AWS model of bench/scale-model.ts beside them.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parameterCount } from '../shared/models/index.js';
import type { ScaleResults } from './scale.js';
import { floorOf, floorSection } from './scale-floor-doc.js';
import { BURST_LATENCY_MAX_UPDATES, BURST_LATENCY_MS, BURST_REPEATS, burstKey, burstVariants, type BurstResult } from './scale-burst.js';
import type { OperationCounts } from './scale-counting.js';
import { AWS_FIGURES, estimateRound, scaleBytes, trainingMs, treeGroups, type CallsPerUpdate, type RoundEstimate, type Workload } from './scale-model.js';
import { goalsAndDesign, LIMIT_NAMES, slowedBursts } from './scale-doc-prose.js';
import { kib, mib, ms, num } from './scale-format.js';
import { EMULATOR_THREAD_FROM_CLIENTS_PER_ROUND } from '../local/emulator-thread.js';
import { SCALE_GROUPS_RESULTS_FILE } from './scale-child-process.js';
import type { GroupsResults } from './scale-groups-doc.js';
import { largestTrainBatchMedians, trainBatchPairs, trainBatchSection } from './scale-batch-doc.js';
import { emulatorThreadOf, localTable, placementPairs, meanOverheadPerUpdate, oneWorkerRun, sameSetupRuns, trainBatchOf, trainWorkersOf, workerRuns, writtenInRounds } from './scale-local-doc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DOC = path.join(here, '..', 'docs', 'scale.md');
const MODELLED_CLIENTS = [10, 100, 1000, 10_000] as const;
const AWS_MODELS = ['cnn-small', 'cnn-mcmahan'] as const;
const SAMPLES_PER_CLIENT = 60;
const TEST_IMAGES = 10_000;
/** a sensitivity column: the published 100–200 ms is an upper figure; in-Region small requests are often faster */
const FAST_S3_LATENCY_MS = 20;

const per = (value: number, n: number) => (n ? value / n : 0);
const dollars = (value: number) => (value >= 1 ? `$${value.toFixed(2)}` : value >= 0.01 ? `$${value.toFixed(3)}` : `$${value.toFixed(5)}`);

/** Calls per client-update of one role; the fan-out's SendMessageBatch calls (the train messages) are left out of its SQS calls. */
export function callsPerUpdate(counts: OperationCounts, updates: number): CallsPerUpdate {
  const { s3, sqs } = counts;
  return {
    s3Gets: per(s3.get, updates),
    s3GetBytes: per(s3.getBytes, updates),
    s3Puts: per(s3.put, updates),
    s3PutBytes: per(s3.putBytes, updates),
    s3Heads: per(s3.head, updates),
    s3Lists: per(s3.list, updates),
    sqsCalls: per(sqs.send + sqs.receive + sqs.delete + sqs.changeVisibility, updates),
  };
}

interface Throughput {
  readonly machine: string;
  readonly date: string;
  readonly samplesPerSecond: Readonly<Record<string, number>>;
}

interface ThroughputRow {
  readonly variant: string;
  readonly model: string;
  readonly median: number;
}

async function readThroughput(): Promise<Throughput> {
  const json = JSON.parse(await readFile(path.join(here, 'benchmarks.json'), 'utf8')) as {
    machines: Record<string, { throughput?: { date: string; machine: { cpuModel: string }; rows: ThroughputRow[] } }>;
  };
  for (const entry of Object.values(json.machines)) {
    const throughput = entry.throughput;
    if (!throughput) continue;
    const samplesPerSecond = Object.fromEntries(throughput.rows.filter((row) => row.variant === 'tfjs-single').map((row) => [row.model, row.median]));
    if (AWS_MODELS.every((model) => samplesPerSecond[model])) return { machine: throughput.machine.cpuModel, date: throughput.date, samplesPerSecond };
  }
  throw new Error('bench/benchmarks.json has no single-client tfjs throughput for cnn-small and cnn-mcmahan: run npm run bench:train');
}

function callsTable(rows: readonly [string, CallsPerUpdate, OperationCounts, number][]): string {
  const lines = [
    '| per client-update | S3 GET | GET KiB | S3 PUT | PUT KiB | HEAD | LIST | SQS send (+ batch sends) | receive | delete | visibility changes |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [label, calls, counts, updates] of rows) {
    const { sqs } = counts;
    lines.push(
      `| ${label} | ${num(calls.s3Gets)} | ${kib(calls.s3GetBytes)} | ${num(calls.s3Puts)} | ${kib(calls.s3PutBytes)} | ${num(calls.s3Heads)} | ${num(calls.s3Lists)} | ${num(per(sqs.send, updates))}${sqs.sendBatch ? ` (+ ${num(per(sqs.sendBatch, updates))})` : ''} | ${num(per(sqs.receive, updates))} | ${num(per(sqs.delete, updates))} | ${num(per(sqs.changeVisibility, updates))} |`,
    );
  }
  return lines.join('\n');
}

export interface BurstSummary {
  /** the repeat with the median time per update */
  readonly median: BurstResult;
  readonly repeats: readonly BurstResult[];
}

/** The bursts of each clients-per-round, batches of 1 and of 10 side by side, each the median of its repeats. */
export function burstRows(results: ScaleResults, perRound: readonly number[], population: number): { perRound: number; runs: BurstSummary[] }[] {
  return perRound.flatMap((n) => {
    const runs = burstVariants(n).flatMap((variant): BurstSummary[] => {
      const repeats = Array.from({ length: BURST_REPEATS }, (_, repeat) => results.bursts?.[burstKey({ perRound: n, clients: population, ...variant }, repeat)])
        .filter((run): run is BurstResult => run !== undefined && run.completed && run.updates > 0)
        .sort((a, b) => a.msPerUpdate - b.msPerUpdate);
      return repeats.length ? [{ median: repeats[Math.floor((repeats.length - 1) / 2)]!, repeats }] : [];
    });
    return runs.length ? [{ perRound: n, runs }] : [];
  });
}

function burstTable(rows: readonly { perRound: number; runs: readonly BurstSummary[] }[]): string {
  const lines = [
    '| updates at once | aggregator batch size | S3 latency added · a batch\'s reads and verdicts | runs | invocations | messages per invocation | all announced → round closed | close (aggregation + evaluation) | serial path per update: median (all runs) | S3 GET / PUT / HEAD per update | SQS calls per update |',
    '|---:|---:|---|---:|---:|---:|---:|---:|---|---|---:|',
  ];
  for (const { runs } of rows) {
    for (const { median: run, repeats } of runs) {
      const calls = callsPerUpdate(run.counts, run.updates);
      lines.push(
        `| ${run.updates} | ${run.options.batchSize} | ${burstReads(run)} | ${repeats.length} | ${run.invocations} | ${num(per(run.messages, run.invocations))} | ${ms(run.wallMs)} | ${ms(run.computeMs)} | **${ms(run.msPerUpdate)}** (${repeats.map((repeat) => ms(repeat.msPerUpdate)).join(', ')}) | ${num(calls.s3Gets)} / ${num(calls.s3Puts)} / ${num(calls.s3Heads)} | ${num(calls.sqsCalls)} |`,
      );
    }
  }
  return lines.join('\n');
}

/** How a burst's aggregator read and wrote: the S3 latency the benchmark added, and whether it overlapped a batch's requests. */
function burstReads(run: BurstResult): string {
  const latency = run.options.s3LatencyMs ? `+${run.options.s3LatencyMs} ms` : 'none';
  if (run.options.batchSize === 1) return `${latency} · one message`;
  return `${latency} · ${run.options.readAhead === false ? 'each in its turn' : 'together'}`;
}


function modelTable(estimates: readonly { model: string; trainMs: number; estimate: RoundEstimate; fastS3: RoundEstimate }[]): string {
  const lines = [
    '| model | clients a round | client Lambda (cold) | aggregator per update | training phase | round time | round ÷ slowest training | first limit hit | round without it | round if S3 took 20 ms | round with `round.groups` ≈ √n (modelled) | round with 10 clients a trainer invocation: 1 group / √n | cost per round (Lambda + S3 + SQS) |',
    '|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|',
  ];
  for (const { model, trainMs, estimate, fastS3 } of estimates) {
    const limit = estimate.firstLimit;
    lines.push(
      `| ${model} | ${estimate.clients.toLocaleString('en-US')} | ${ms(estimate.clientMs)} | ${ms(estimate.aggregatorMsPerUpdate)} | ${ms(estimate.trainingMs)} | ${ms(estimate.roundMs)} | ${(estimate.roundMs / trainMs).toFixed(0)}× | ${limit ? LIMIT_NAMES[limit] : 'none (training)'} | ${limit ? ms(estimate.withoutLimit[limit]) : '–'} | ${ms(fastS3.roundMs)} | ${estimate.clients >= 100 ? `${ms(estimate.treeRoundMs)} (${treeGroups(estimate.clients)} groups)` : '– (1 group)'} | ${ms(estimate.batchedRoundMs)} / ${estimate.clients >= 100 ? ms(estimate.batchedTreeRoundMs) : '–'} | ${dollars(estimate.cost.total)} (${dollars(estimate.cost.lambda)} + ${dollars(estimate.cost.s3)} + ${dollars(estimate.cost.sqs)}) |`,
    );
  }
  return lines.join('\n');
}

export interface ScaleDocOptions {
  readonly write: boolean;
  readonly perRound: readonly number[];
  readonly rounds: number;
  /** the tree of sums measured on the local runtime; default: bench/scale-groups-results.json, if there is one */
  readonly groups?: GroupsResults;
}

/** reads per announced update made alongside its batch's round-state read: the client's verdict, report and update */
const READS_WITH_THE_STATE = 3;

/** What the main benchmark measured: its sizes and rounds, for a document written again by another benchmark. */
export function scaleDocOptionsOf(results: ScaleResults): Omit<ScaleDocOptions, 'write'> {
  const runs = workerRuns(results);
  return { perRound: [...new Set(runs.map((run) => run.options.perRound))].sort((a, b) => a - b), rounds: Math.max(...runs.map((run) => run.options.rounds)) };
}

export async function writeScaleDoc(results: ScaleResults, options: ScaleDocOptions): Promise<string> {
  const runs = workerRuns(results);
  const counted = Object.values(results.runs).find((run) => run.options.trainer === 'in-process' && run.updates > 0);
  const warm = Object.values(results.runs).find((run) => run.options.trainer === 'in-process-warm' && run.updates > 0);
  if (!counted || runs.length === 0) throw new Error('bench/scale-results.json lacks the in-process count run or any worker run: run npm run bench:scale');
  const largest = runs.at(-1)!;
  // The trainer's reads made together (status and its report's HEAD; the global model, config and shard), as counted:
  // one trainer at a time, so every overlap is within one client's handler.
  const trainer: CallsPerUpdate = { ...callsPerUpdate(counted.counts.train, counted.updates), overlappedReads: per(counted.counts.train.s3.overlapped ?? 0, counted.updates) };
  const bursts = burstRows(results, options.perRound, largest.options.clients);
  const largestBursts = bursts.at(-1);
  const batched = largestBursts?.runs.find((run) => run.median.options.batchSize === 10 && !run.median.options.s3LatencyMs)?.median;
  const single = largestBursts?.runs.find((run) => run.median.options.batchSize === 1)?.median;
  // On AWS a round's updates arrive together (N Lambdas in parallel): the aggregator then sees full batches, as in the burst.
  // What it reads together (shared/pipeline/batch-reads.ts, ordered-reads.ts): every GET and HEAD but the round
  // state's, read once per batch (one per invocation); what it writes together (shared/pipeline/aggregate.ts): every
  // PUT but the round state's, once per batch (the close's few writes, one after another, are counted as overlapped
  // too: under a thousandth of a PUT per update at 1,000); as many at once as its batches hold (at most 10). Of the
  // reads, each announced client's verdict, report and update start with the batch's round-state read and wait no
  // longer than it (batch-reads.ts; the update on a first delivery, once the process knows the experiment's update
  // size): three a message, every message of the burst being an update delivered once.
  const measuredAggregator = batched ? callsPerUpdate(batched.counts, batched.updates) : callsPerUpdate(largest.counts.aggregate, largest.updates);
  const oncePerBatch = batched ? per(batched.invocations, batched.updates) : 0;
  const aggregator: CallsPerUpdate = batched
    ? {
        ...measuredAggregator,
        overlappedReads: measuredAggregator.s3Gets + measuredAggregator.s3Heads - oncePerBatch,
        overlappedWrites: Math.max(0, measuredAggregator.s3Puts - oncePerBatch),
        hiddenReads: READS_WITH_THE_STATE,
      }
    : measuredAggregator;
  const overlap = batched ? { readConcurrency: Math.min(10, per(batched.messages, batched.invocations)) } : {};
  const e2eAggregator = callsPerUpdate(largest.counts.aggregate, largest.updates);
  const throughput = await readThroughput();
  const measuredParameters = parameterCount(largest.options.model);

  const estimates = AWS_MODELS.flatMap((model) => {
    const ratio = parameterCount(model);
    const trainMs = trainingMs(SAMPLES_PER_CLIENT, 1, throughput.samplesPerSecond[model]!);
    const workload: Workload = {
      model,
      trainMs,
      // a forward pass costs about a third of a training step
      evaluationMs: trainingMs(TEST_IMAGES, 1, 3 * throughput.samplesPerSecond[model]!),
      trainer: scaleBytes(trainer, measuredParameters, ratio),
      ...(warm ? { trainerWarm: scaleBytes(callsPerUpdate(warm.counts.train, warm.updates), measuredParameters, ratio) } : {}),
      aggregator: scaleBytes(aggregator, measuredParameters, ratio),
      ...overlap,
    };
    // The same aggregator reading and writing one thing at a time (before batch-reads.ts and the verdicts written
    // together): what overlapping them changed.
    const oneAtATime: Workload = { ...workload, aggregator: { ...workload.aggregator, overlappedReads: 0, overlappedWrites: 0, hiddenReads: 0 }, readConcurrency: 1 };
    return MODELLED_CLIENTS.map((clients) => ({
      model,
      trainMs,
      estimate: estimateRound(clients, workload),
      readsOneAtATime: estimateRound(clients, oneAtATime),
      fastS3: estimateRound(clients, workload, { ...AWS_FIGURES, s3LatencyMs: FAST_S3_LATENCY_MS }),
    }));
  });
  const at1000 = estimates.filter((row) => row.estimate.clients === 1000);
  const { machine } = results;
  const overheads = runs.map(meanOverheadPerUpdate);
  const largestOverhead = overheads.at(-1)!;
  const rssGrowth = runs.map((run) => `${run.options.perRound}: +${mib(run.memory.peakRssBytes - run.memory.afterSetupRssBytes)} MiB`).join(', ');
  const aggregatorPerUpdate = runs.map((run) => `${run.options.perRound}: ${num(callsPerUpdate(run.counts.aggregate, run.updates).s3Gets)} GET / ${num(callsPerUpdate(run.counts.aggregate, run.updates).s3Puts)} PUT`).join(', ');
  const floor = results.floor && warm ? floorOf(results.floor, warm, largest, machine.cores) : undefined;
  const warmTrainer = warm ? callsPerUpdate(warm.counts.train, warm.updates) : undefined;
  const missing = options.perRound.filter((n) => !runs.some((run) => run.options.perRound === n && run.completed));
  const oneWorker = oneWorkerRun(results, largest);
  const oneWorkerOverhead = oneWorker ? meanOverheadPerUpdate(oneWorker) : undefined;
  const emulatorPairs = runs.flatMap((run) => {
    const pairs = placementPairs(results, run);
    return pairs.length ? [{ asRun: run, pairs }] : [];
  });
  const otherPlacements = emulatorPairs.map(({ asRun, pairs }) => (emulatorThreadOf(asRun) ? pairs[0]!.onMain : pairs[0]!.ownThread));
  const shownRuns = [...runs, ...(oneWorker ? [oneWorker] : []), ...otherPlacements];
  const repeatedPairs = Math.max(0, ...emulatorPairs.map(({ pairs }) => pairs.length));
  const workerCounts = [...new Set(runs.map(trainWorkersOf))];

  const batchMedians = largestTrainBatchMedians(trainBatchPairs(results));
  const doc = `# Scale: the local runtime at 10–1,000 clients a round, and a model of the round on AWS

Generated by \`npm run bench:scale\` (bench/scale.ts) on ${results.date.slice(0, 10)}: **${machine.cpuModel}**, ${machine.cores} cores,
Node ${machine.nodeVersion}, load average ${machine.loadAverage.start}${machine.loadAverage.end !== undefined ? ` at the start, ${machine.loadAverage.end} at the end` : ''}
(the machine was shared with other work: the times below are upper bounds; the operation counts do not depend on it).

## What was run

MNIST split over ${largest.options.clients.toLocaleString('en-US')} clients, ${largest.options.samplesPerClient} samples each, \`model: "${largest.options.model}"\`
(McMahan et al.'s 2NN, ${measuredParameters.toLocaleString('en-US')} parameters): its update is the size of cnn-small's
(${parameterCount('cnn-small').toLocaleString('en-US')} parameters) so the bytes moved are representative, while
it trains several times faster, so the rounds measure orchestration rather than training. \`sampling.perRound\` picks
the clients a round (${runs.map((run) => run.options.perRound).join(', ')}), ${largest.options.rounds} round(s) each, evaluation on ${largest.options.testSamples} test images.
Each configuration runs in a process of its own on the embedded local cloud (the S3 + SQS emulator, the real start,
train, aggregate and timer handlers), with as many training worker threads, each training one client at a
time, as \`flambda run\` starts for that many clients on this machine (local/trainer-pool.ts: ${workerCounts.join(', ')}), giving a trainer
invocation as many clients as it does (trainBatchSize: ${runs.map((run) => `${trainBatchOf(run)} at ${run.options.perRound}`).join(', ')}), and the emulator
where \`flambda run\` places it: on the main thread, or from ${EMULATOR_THREAD_FROM_CLIENTS_PER_ROUND} clients a round on a thread of its own (local/emulator-thread.ts)${emulatorPairs.length ? `; ${emulatorPairs.map(({ asRun }) => asRun.options.perRound).join(', ')} clients a round
once more, each right after its run, with the emulator's other placement${repeatedPairs > 1 ? ` (and that pair ${repeatedPairs - 1} more time${repeatedPairs > 2 ? 's' : ''} per size, alternating which went first: *Against the goals* gives every pair)` : ''}` : ''}${oneWorker ? `; and the
largest size once more with one training worker (the setup of this document's earlier versions: clients trained one after another)` : ''}. Every
handler's S3 and SQS calls go through counting decorators of the pipeline's ports (bench/scale-counting.ts); the
receives and deletes of Lambda's event-source mapping are counted at the handler's border. The start step
(partitioning MNIST into ${largest.options.clients.toLocaleString('en-US')} shards: ${largest.setupCounts.aggregate.s3.put.toLocaleString('en-US')} PUTs, ${mib(largest.setupCounts.aggregate.s3.putBytes)} MiB) happens once per experiment and is left out of the per-update figures.
The trainer's own calls are counted in one more run that trains in the benchmark's thread (${counted.options.perRound} clients, 1 round), each
client in a container of its own, as on AWS when as many Lambdas run as clients: a warm worker of the local runtime reads the
round's global model and the config once for all the clients it trains (shared/pipeline/trainer-reads.ts), so the worker runs
above make about 2 GETs per update fewer than that row shows${warm ? `; a second counted run trains ${warm.options.perRound} clients in one warm container, as that worker does` : ''}.
${missing.length ? `\n**Not measured:** ${missing.join(', ')} clients a round did not finish in the time this run had; the largest that did is ${largest.options.perRound}.\n` : ''}
## Measured on the local runtime

${localTable(shownRuns, trainer.s3PutBytes)}

- *wall per round*: fan-out to the next global model written and evaluated. *Σ training*: the clients' training
  times added up. *close*: folding the updates the aggregator has not folded yet (a warm one folds
  each when it checks it), the server step and the evaluation. *overhead per client-update* = (wall − Σ training ÷ training workers − close) ÷ clients
  (Σ training ÷ workers is the least time the training can have taken, so the overhead is if anything overstated): S3 and SQS round trips, the
  emulator, the aggregator's per-message work, queue polling. *between rounds*: the issue's own measure and metrics.json's
  \`orchestrationMs\` (the latest update announced → the next round opened, minus the close's aggregation and evaluation),
  per round and ÷ clients: the pipeline's time after the clients are done, which the per-update overhead includes, among
  every update's round trips. *CPU per client-update*: the process's CPU time over
  the rounds (every thread: emulator, handlers, the training workers, including their training) and, in brackets, the
  main thread's (aggregator, event sources, and the emulator where it is not on a thread of its own) ÷ client-updates; unlike the wall times it does not grow when
  other work takes the cores.
- Peak RSS growth over the rounds (process: emulator, handlers, training workers): ${rssGrowth}. The emulator keeps
  every object written in this process's memory, so the growth includes the bytes written in the rounds (last
  column; the trainer's writes are counted in the in-process run and multiplied by the updates); the aggregator itself folds updates one at a time into a running mean (shared/aggregate), O(model).
- The aggregator's calls per update stay the same as the round grows (${aggregatorPerUpdate}): its work is linear in
  the clients. Here the training workers deliver updates a few at a time, slower than the aggregator handles them, so
  its batches hold about one message each (receives per update in the table below): the serial FIFO path is not what
  sets these rounds' time; each update's S3 and SQS round trips through the emulator do (a few ms of CPU each, on
  both ends: the SDK in the trainers' and the aggregator's threads, the emulator in its own or the main thread).

${trainBatchSection(results)}
${results.floor && floor && warm ? floorSection(results.floor, floor, warm, largest, machine.cores) : ''}
### The aggregator's serial path alone: a round's updates at once

What a round of N parallel Lambdas hands the aggregator: every sampled client's update and report are written first,
then all N "update ready" messages are sent, and only then is the aggregator let go (its first invocation waits for
the last send), so it drains a backlog of N in full batches, as on AWS whenever it is what the round waits for
(bench/scale-burst.ts; the real start and aggregate handlers, the benchmark in the trainers' place). Each size runs with the aggregator taking one message per invocation and with the
stack's batches of 10 (the FIFO queue hands one receive up to 10 messages of the experiment's group); up to
${BURST_LATENCY_MAX_UPDATES} updates, also with batches of 10 on an S3 slowed by ${BURST_LATENCY_MS} ms a request (bench/scale-counting.ts's
\`slowedStore\`: a request waits, the CPU is free, as on AWS), once reading and writing each update's records in its
message's turn and once reading the batch ahead (shared/pipeline/batch-reads.ts) and writing its verdicts together. Every variant, alternately, ${BURST_REPEATS} times each; the row is the
median run. *Serial path per update* = (all announced → round closed − close) ÷ updates. All variants read the
close's verdicts and updates 10 at a time (shared/pipeline/ordered-reads.ts).

${bursts.length ? burstTable(bursts) : '_Not measured in this run (--no-burst)._'}

A batch reads the round state once and writes it once (after the verdicts it counts, written together: a crash in
between is the recovery that a crash between a verdict and the state always had)${single && batched ? `: ${num(callsPerUpdate(single.counts, single.updates).s3Gets + callsPerUpdate(single.counts, single.updates).s3Puts + callsPerUpdate(single.counts, single.updates).s3Heads)} → ${num(aggregator.s3Gets + aggregator.s3Puts + aggregator.s3Heads)} S3 requests and ${num(callsPerUpdate(single.counts, single.updates).sqsCalls)} → ${num(aggregator.sqsCalls)} SQS calls per update at ${batched.updates}, ${ms(single.msPerUpdate)} → ${ms(batched.msPerUpdate)} per update here (medians of runs as noisy as the ranges show)` : ''}.
Reading a batch ahead and writing its verdicts together change no count, only how long the requests wait: on the
emulator's own speed they cost CPU the 2 cores are short of, so little changes; on the slowed S3 they overlap (see
*Against the goals*).
What is left per update: the check of the update (one GET of its report and one of the update, each reading the body
only if the size S3 sends first is within bound: what a HEAD before each GET used to tell), its verdict
(GET to find none, PUT) and its share of the batch's lease (ChangeMessageVisibilityBatch). At the close nothing more when the
aggregator is warm: it folded the update into a running sum when it checked it, in the order of the verdicts'
ordinals, and remembers the verdict it wrote (shared/pipeline/round-memory.ts); a cold close GETs both back.

### S3 and SQS operations per client-update

${callsTable([
  ['trainer, each client in a fresh container (counted in-process run)', trainer, counted.counts.train, counted.updates],
  ...(warm && warmTrainer ? [[`trainer, ${warm.options.perRound} clients in one warm container (counted in-process run)`, warmTrainer, warm.counts.train, warm.updates] as [string, CallsPerUpdate, OperationCounts, number]] : []),
  ...runs.map((run): [string, CallsPerUpdate, OperationCounts, number] => [`aggregator, ${run.options.perRound} a round`, callsPerUpdate(run.counts.aggregate, run.updates), run.counts.aggregate, run.updates]),
  ...bursts.flatMap(({ runs: burstRuns }) =>
    burstRuns.map(({ median: run }): [string, CallsPerUpdate, OperationCounts, number] => [`aggregator, ${run.updates} at once, batches of ${run.options.batchSize}${run.options.s3LatencyMs ? `, S3 +${run.options.s3LatencyMs} ms, ${burstReads(run).split(' · ')[1]}` : ''}`, callsPerUpdate(run.counts, run.updates), run.counts, run.updates]),
  ),
])}

The aggregator's SQS sends are the deadline timers (one per round); the next round's train messages go out 10 a
SendMessageBatch call (in brackets).

## Modelled on AWS

bench/scale-model.ts simulates a round (in 10 ms steps) from the measured calls per update above (bytes scaled to
each model's parameter count), each client's training time from bench/benchmarks.json (single client, one thread,
${throughput.machine}, ${throughput.date.slice(0, 10)}: cnn-small ${throughput.samplesPerSecond['cnn-small']!.toFixed(0)} samples/s, cnn-mcmahan ${throughput.samplesPerSecond['cnn-mcmahan']!.toFixed(0)} samples/s,
so ${SAMPLES_PER_CLIENT} samples train in ${ms(trainingMs(SAMPLES_PER_CLIENT, 1, throughput.samplesPerSecond['cnn-small']!))} and ${ms(trainingMs(SAMPLES_PER_CLIENT, 1, throughput.samplesPerSecond['cnn-mcmahan']!))}; assumed equal to one Lambda vCPU,
which the train function's 1,769 MB gives), and the published figures below. The round: the fan-out of the train
messages, 10 a call one call after another; clients start as the train queue's event-source mapping and the account's concurrency allow; reads and
writes wait for S3's per-prefix rates; the "update ready" sends for the FIFO queue's rate; then the aggregator, one
invocation at a time (one FIFO group per experiment), its reads made together waiting a tenth each (a batch's updates
read ahead, the close's reads 10 at a time: every GET and HEAD but the round state's and, made alongside that one and
waiting no longer, each client's verdict, report and update), at the calls per update measured ${batched ? `in the burst of ${batched.updates} with batches of 10 (a round's updates arrive together on AWS)` : 'in the largest run'}, and the evaluation of the global model on ${TEST_IMAGES.toLocaleString('en-US')} test images
(estimated as a third of a training step per image). *First limit hit*: the limit whose lifting alone shortens
the round most (the model runs once per lifted limit). *Round if S3 took 20 ms*: the same round with a fifth of the
published S3 latency, to show how much of the estimate hangs on that one figure.

${modelTable(estimates)}

### Published figures the model uses

| figure | value | source |
|---|---|---|
| Lambda concurrency per account and Region (default) | ${AWS_FIGURES.accountConcurrency.toLocaleString('en-US')} | https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html (checked) |
| Lambda scaling rate per function | ${AWS_FIGURES.scalingPer10s.toLocaleString('en-US')} environments every 10 s | https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html (checked) |
| SQS event-source mapping, standard queue | starts with ${AWS_FIGURES.pollersInitial} concurrent batches, +${AWS_FIGURES.pollersPerMinute}/min, at most ${AWS_FIGURES.pollersMax.toLocaleString('en-US')} | https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html (checked) |
| S3 requests per partitioned prefix | ${AWS_FIGURES.s3PutsPerSecondPerPrefix.toLocaleString('en-US')} PUT/COPY/POST/DELETE, ${AWS_FIGURES.s3GetsPerSecondPerPrefix.toLocaleString('en-US')} GET/HEAD per second | https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html (checked via AWS's re:Post and knowledge-center pages quoting it) |
| SQS FIFO throughput | ${AWS_FIGURES.fifoCallsPerSecond} API calls/s per action; 3,000 messages/s with batches of 10; more with high-throughput FIFO | https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/troubleshooting-fifo-throttling-issues.html (checked) |
| Lambda at 1,769 MB | one vCPU | as published by AWS on https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html (not checked here) |
| S3 small-object latency | ${AWS_FIGURES.s3LatencyMs} ms (AWS gives 100–200 ms) | as published by AWS in "Performance design patterns for Amazon S3", https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance-design-patterns.html (not checked here) |
| SQS call latency | ${AWS_FIGURES.sqsLatencyMs} ms | assumption, not published by AWS |
| client Lambda cold start with tfjs + wasm | ${ms(AWS_FIGURES.coldStartMs)} | assumption, not measured on AWS |
| one Lambda's S3 transfer rate | ${AWS_FIGURES.bytesPerSecond / 1e6} MB/s | assumption, not published by AWS |
| Lambda price (x86, us-east-1) | $${AWS_FIGURES.pricePerGbSecond} per GB-s, $0.20 per million requests | as published by AWS on https://aws.amazon.com/lambda/pricing/ (not checked here) |
| S3 Standard request price (us-east-1) | $0.005 per 1,000 PUT/COPY/POST/LIST, $0.0004 per 1,000 GET/HEAD | as published by AWS on https://aws.amazon.com/s3/pricing/ (not checked here) |
| SQS request price | $0.50 per million FIFO requests (every call priced so; standard is $0.40) | as published by AWS on https://aws.amazon.com/sqs/pricing/ (not checked here) |

Free tiers, storage, data transfer and CloudWatch Logs are left out of the cost.

${goalsAndDesign({ batchMedians, largestSetupOverheads: sameSetupRuns(results, largest).map(meanOverheadPerUpdate), oneWorker, oneWorkerOverhead, emulatorPairs, floor, warmTrainer, runs, largest, overheads, largestOverhead, trainer, e2eAggregator, aggregator, batched, single, at1000, slowed: slowedBursts(bursts), trainerPutBytes: trainer.s3PutBytes, written: writtenInRounds(largest, trainer.s3PutBytes), groups: options.groups ?? (existsSync(SCALE_GROUPS_RESULTS_FILE) ? (JSON.parse(await readFile(SCALE_GROUPS_RESULTS_FILE, 'utf8')) as GroupsResults) : undefined) })}
`;
  if (options.write) await writeFile(DOC, doc);
  console.log(localTable(shownRuns, trainer.s3PutBytes));
  console.log(modelTable(estimates));
  return doc;
}
