/**
 * `npm run chaos [-- --quick] [-- --seeds N]`: the fault-injection campaign (test/chaos/). For each scenario, a
 * fault-free reference run, then crashes before and after the mutating operations it performed, S3 errors on reads,
 * duplicated deliveries, clocks ahead, and random mixes under other delivery orders; each run judged against the
 * reference. Prints a table and writes docs/reliability.md. Exits 1 if any run was not survived.
 *
 * --quick (under 5 minutes on 2 quiet cores): FedAvg 3 × 3 exhaustively (every crash point, every delivery), the other
 * strategies and the straggler on samples. The full campaign is exhaustive everywhere and adds more random seeds.
 */
import { writeFile } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import {
  crashSchedules,
  deliverySchedules,
  randomSchedules,
  readErrorSchedules,
  writeErrorSchedules,
  runCampaign,
  runReference,
  scenario,
  SIM_DEADLINE_SECONDS,
  SIM_QUEUES,
  type PlannedRun,
  type RunResult,
  type Scenario,
} from '../test/chaos/campaign.js';
import type { SimOutcome } from '../test/chaos/simulation.js';
import { newRoundState } from '../shared/pipeline/rounds.js';
import { parseExperimentConfig } from '../shared/config/parse.js';
import type { ModelName } from '../shared/config/schema.js';
import { clientIdFor } from '../shared/protocol/keys.js';
import { weightSpecs } from '../shared/models/index.js';
import { encodedWeightsSize } from '../shared/weights/codec.js';
import { describeMachine, finishMachineInfo, startCpuMeter } from './machine.js';
import { renderReliabilityDoc, type ScenarioReport, type UpdateCost } from './chaos-report.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const seedsArg = args.indexOf('--seeds');
const randomRuns = seedsArg >= 0 ? Number(args[seedsArg + 1]) : quick ? 12 : 60;
const OUT = 'docs/reliability.md';

function sample(runs: readonly PlannedRun[], count: number, seed: number): PlannedRun[] {
  if (runs.length <= count) return [...runs];
  // Evenly spread over the run, so every phase (start, rounds, close, completion) is hit.
  const step = runs.length / count;
  return Array.from({ length: count }, (_, index) => runs[Math.min(runs.length - 1, Math.floor(index * step + (seed % Math.max(1, Math.floor(step)))))]!);
}

interface Plan {
  readonly target: Scenario;
  readonly select: (reference: SimOutcome) => PlannedRun[];
}

const exhaustive = (reference: SimOutcome, seed: number): PlannedRun[] => [
  ...crashSchedules(reference),
  ...readErrorSchedules(reference, quick ? { count: 40, seed } : undefined),
  ...writeErrorSchedules(reference),
  ...deliverySchedules(reference),
  ...randomSchedules(reference, randomRuns, seed),
];
const sampled = (reference: SimOutcome, seed: number): PlannedRun[] => [
  ...sample(crashSchedules(reference), 48, seed),
  ...readErrorSchedules(reference, { count: 12, seed }),
  ...sample(writeErrorSchedules(reference), 12, seed),
  ...sample(deliverySchedules(reference), 12, seed),
  ...randomSchedules(reference, Math.ceil(randomRuns / 2), seed),
];

const plans: Plan[] = [
  { target: scenario('fedavg'), select: (reference) => exhaustive(reference, 1) },
  { target: scenario('fedadam'), select: (reference) => (quick ? sampled(reference, 2) : exhaustive(reference, 2)) },
  { target: scenario('scaffold'), select: (reference) => (quick ? sampled(reference, 3) : exhaustive(reference, 3)) },
  { target: scenario('fedper'), select: (reference) => (quick ? sampled(reference, 4) : exhaustive(reference, 4)) },
  { target: scenario('feddyn'), select: (reference) => (quick ? sampled(reference, 6) : exhaustive(reference, 6)) },
  { target: scenario('fedavg', 'straggler'), select: (reference) => (quick ? sampled(reference, 5) : exhaustive(reference, 5)) },
  // The aggregator as the stack's event source drives it: up to 10 messages of the experiment's group per invocation.
  { target: scenario('fedavg', 'batches'), select: (reference) => (quick ? sampled(reference, 7) : exhaustive(reference, 7)) },
  // A trainer invocation taking all of a round's clients (flambda run --train-batch, -c trainBatchSize).
  { target: scenario('fedavg', 'train-batches'), select: (reference) => (quick ? sampled(reference, 10) : exhaustive(reference, 10)) },
  { target: scenario('fedavg', 'replaced'), select: (reference) => (quick ? sampled(reference, 8) : exhaustive(reference, 8)) },
  // A tree of sums (round.groups 2): the groups' closes, "group closed", the deadline passed on, the round's close from partial sums.
  { target: scenario('fedavg', 'groups'), select: (reference) => (quick ? sampled(reference, 9) : exhaustive(reference, 9)) },
];

/** Per-update cost of the aggregator, measured on the reference run, and state.json's size at 1,000 clients. */
function updateCost(reference: SimOutcome, clients: number, model: ModelName): UpdateCost {
  const updates = reference.invocationStats.filter((stats) => stats.fn === 'aggregate' && stats.type === 'update');
  // The last update of a round also closes it: the cost of recording an update is that of the others.
  const recorded = updates.filter((stats) => stats.s3Writes === 2);
  const mean = (pick: (stats: (typeof recorded)[number]) => number) => recorded.reduce((total, stats) => total + pick(stats), 0) / recorded.length;
  // What the aggregator read of the clients' objects in the whole run, per update, beyond what recording each took:
  // the closes' reads of verdicts and updates back (a warm aggregator remembers what it wrote and folded).
  const aggregator = reference.invocationStats.filter((stats) => stats.fn === 'aggregate');
  const perUpdate = (pick: (stats: (typeof recorded)[number]) => number) => Math.max(0, aggregator.reduce((total, stats) => total + pick(stats), 0) / updates.length - mean(pick));
  const config = parseExperimentConfig({ clients: 1000, rounds: 3 });
  if (!config.ok) throw new Error(config.errors.join('; '));
  const stateBytes = (count: number) =>
    Buffer.byteLength(JSON.stringify(newRoundState(config.config, 'an-experiment-id-of-40-characters-000000', 1, Array.from({ length: count }, (_, index) => clientIdFor(index)), 4_000_000, new Date()), null, 1));
  return {
    clients,
    updates: recorded.length,
    s3Reads: mean((stats) => stats.s3Reads),
    s3Writes: mean((stats) => stats.s3Writes),
    experimentReads: mean((stats) => stats.experimentReads),
    closeReads: perUpdate((stats) => stats.clientReads),
    closeReadBytes: perUpdate((stats) => stats.clientReadBytes),
    readBytes: mean((stats) => stats.s3ReadBytes),
    writeBytes: mean((stats) => stats.s3WriteBytes),
    sqsCalls: mean((stats) => stats.sqsCalls) + 1,
    stateBytesAt: { small: stateBytes(clients), thousand: stateBytes(1000) },
    modelBytes: encodedWeightsSize(weightSpecs(model)),
    cnnSmallBytes: encodedWeightsSize(weightSpecs('cnn-small')),
  };
}

async function main(): Promise<number> {
  const machine = await describeMachine();
  const meter = startCpuMeter();
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  console.log(`flambda chaos${quick ? ' --quick' : ''}: ${machine.cpuModel}, ${machine.cores} cores, load ${machine.loadAverage.start}`);
  const reports: ScenarioReport[] = [];
  let cost: UpdateCost | undefined;
  for (const plan of plans) {
    const reference = await runReference(plan.target);
    const outcome = reference.outcome;
    if (outcome.limit || !outcome.status || outcome.status.state === 'running') {
      throw new Error(`${plan.target.name}: the fault-free reference run did not finish (${outcome.limit ?? outcome.status?.state ?? 'no status'})`);
    }
    cost ??= updateCost(outcome, Number(plan.target.settings.config.clients), plan.target.settings.config.model as ModelName);
    const planned = plan.select(outcome);
    const bar = new cliProgress.SingleBar(
      {
        format: `  ${plan.target.name.padEnd(40)} |{bar}| {value}/{total} runs, {failed} not survived | {duration_formatted}`,
        hideCursor: true,
        // Piped (CI, a log file): a line every 15 s instead of a redrawn bar.
        noTTYOutput: !process.stdout.isTTY,
        notTTYSchedule: 15_000,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(planned.length, 0, { failed: 0 });
    let failed = 0;
    const scenarioStarted = performance.now();
    const results: RunResult[] = await runCampaign(plan.target, reference, planned, (result) => {
      if (result.judgement !== 'survived') failed++;
      bar.increment(1, { failed });
    });
    bar.stop();
    reports.push({ name: plan.target.name, reference: outcome, results, seconds: (performance.now() - scenarioStarted) / 1000 });
    for (const result of results.filter((r) => r.judgement !== 'survived')) console.log(`    ✘ ${result.label}: ${result.judgement} — ${result.detail}`);
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStarted);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const finished = finishMachineInfo(machine, meter.stop());
  const doc = renderReliabilityDoc({ quick, machine: finished, seconds, cpuSeconds, reports, cost: cost!, queues: SIM_QUEUES, deadlineSeconds: SIM_DEADLINE_SECONDS, randomRuns, date: new Date() });
  await writeFile(OUT, doc);
  const total = reports.reduce((sum, report) => sum + report.results.length, 0);
  const bad = reports.reduce((sum, report) => sum + report.results.filter((r) => r.judgement !== 'survived').length, 0);
  const crashPoints = reports[0]!.results.filter((r) => r.family === 'crash').length;
  console.log(
    `\n${crashPoints} crash points in the FedAvg 3 × 3 run; ${total} schedules in ${seconds.toFixed(0)} s ` +
      `(${cpuSeconds.toFixed(0)} s of CPU: what it takes on an idle machine); ${bad} not survived. Wrote ${OUT}.`,
  );
  return bad === 0 ? 0 : 1;
}

process.exitCode = await main();
