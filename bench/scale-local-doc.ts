/**
 * docs/scale.md's table of the local runs (bench/scale-run.ts), and which runs it shows: per size the run trained as
 * `flambda run` trains, then the largest once more with one training worker, then each size once more with the
 * emulator's other placement.
 */
import { emulatorThreadFor } from '../local/emulator-thread.js';
import type { ScaleResults } from './scale.js';
import { fineMs, mib, ms } from './scale-format.js';
import type { ScaleRunResult } from './scale-run.js';

export const trainWorkersOf = (run: ScaleRunResult) => run.options.trainWorkers ?? 1;
/** results written before the option existed ran the emulator on the main thread */
export const emulatorThreadOf = (run: ScaleRunResult) => run.options.emulatorThread ?? false;
/** results written before trainer batches gave one client an invocation */
export const trainBatchOf = (run: ScaleRunResult) => run.options.trainBatch ?? 1;
/** the emulator where `flambda run` places it for rounds of this size */
const placedAsFlambdaRun = (run: ScaleRunResult) => emulatorThreadOf(run) === emulatorThreadFor(run.options.perRound);

// A run split into groups (bench/scale-groups.ts) is compared with its own pairs, not with these.
const workerTrained = (run: ScaleRunResult) => run.options.trainer === 'worker' && run.rounds.length > 0 && (run.options.groups ?? 1) === 1;

/** Per size, the run trained as `flambda run` trains (the most training workers, the emulator where it places it), the one with more rounds first. */
export function workerRuns(results: ScaleResults): ScaleRunResult[] {
  return Object.values(results.runs)
    .filter((run) => workerTrained(run) && placedAsFlambdaRun(run))
    .sort((a, b) => a.options.perRound - b.options.perRound || trainWorkersOf(b) - trainWorkersOf(a) || b.options.rounds - a.options.rounds)
    .filter((run, index, runs) => index === 0 || runs[index - 1]!.options.perRound !== run.options.perRound);
}

/** The largest size once more with one training worker, where `flambda run` starts more: clients trained one at a time. */
export function oneWorkerRun(results: ScaleResults, largest: ScaleRunResult): ScaleRunResult | undefined {
  if (trainWorkersOf(largest) === 1) return undefined;
  return Object.values(results.runs).find(
    (run) => workerTrained(run) && placedAsFlambdaRun(run) && run.options.perRound === largest.options.perRound && trainWorkersOf(run) === 1,
  );
}

export interface PlacementPair {
  readonly onMain: ScaleRunResult;
  readonly ownThread: ScaleRunResult;
}

const samePlacementRun = (a: ScaleRunResult, b: ScaleRunResult) =>
  workerTrained(b) &&
  b.options.perRound === a.options.perRound &&
  b.options.rounds === a.options.rounds &&
  trainWorkersOf(b) === trainWorkersOf(a) &&
  trainBatchOf(b) === trainBatchOf(a);

/**
 * A size run with the emulator on the main thread and on a thread of its own, one right after the other: the pair
 * beside `asRun` in the table first, then the repeats (`--pairs`), where they were run.
 */
export function placementPairs(results: ScaleResults, asRun: ScaleRunResult): PlacementPair[] {
  const pairOf = (runs: readonly ScaleRunResult[]): PlacementPair | undefined => {
    const onMain = runs.find((run) => !emulatorThreadOf(run));
    const ownThread = runs.find((run) => emulatorThreadOf(run));
    return onMain && ownThread ? { onMain, ownThread } : undefined;
  };
  const first = pairOf(Object.values(results.runs).filter((run) => samePlacementRun(asRun, run)));
  const repeats = new Map<string, ScaleRunResult[]>();
  for (const [key, run] of Object.entries(results.placementRepeats ?? {})) {
    const pair = /-pair(\d+)$/.exec(key)?.[1];
    if (pair !== undefined && samePlacementRun(asRun, run)) repeats.set(pair, [...(repeats.get(pair) ?? []), run]);
  }
  const repeated = [...repeats].sort(([a], [b]) => Number(a) - Number(b)).map(([, runs]) => pairOf(runs));
  return [first, ...repeated].filter((pair): pair is PlacementPair => pair !== undefined);
}

/**
 * Every completed run of `asRun`'s setup (size, rounds, workers, trainer batch, emulator placement) in this results
 * file: the table's run, the placement repeats and the trainer-batch pairs. One run is at the mercy of whatever else
 * the machine did in its minute; the goal is judged on their median.
 */
export function sameSetupRuns(results: ScaleResults, asRun: ScaleRunResult): ScaleRunResult[] {
  const all = [results.runs, results.placementRepeats ?? {}, results.trainBatchPairs ?? {}].flatMap((group) => Object.values(group));
  return all.filter((run) => run.completed && samePlacementRun(asRun, run) && emulatorThreadOf(run) === emulatorThreadOf(asRun));
}

/** bytes written to the emulator in the rounds; a worker-trained run's trainer writes are taken from the counted run */
export function writtenInRounds(run: ScaleRunResult, trainerPutBytesPerUpdate: number): number {
  const counted = Object.values(run.counts).reduce((total, counts) => total + counts.s3.putBytes, 0);
  return run.options.trainer === 'worker' ? counted + run.updates * trainerPutBytesPerUpdate : counted;
}

export const meanOverheadPerUpdate = (run: ScaleRunResult) => run.rounds.reduce((total, round) => total + round.overheadMsPerUpdate, 0) / run.rounds.length;

export function localTable(runs: readonly ScaleRunResult[], trainerPutBytesPerUpdate: number): string {
  const lines = [
    '| clients a round | training workers | clients a trainer invocation | emulator | rounds done | wall per round | Σ training | close (fold + evaluation) | overhead per client-update | between rounds (`orchestrationMs`): per round / per client-update | CPU per client-update: process (main thread) | aggregator per invocation (median / p90) | RSS after start → peak | bytes written in the rounds |',
    '|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const run of runs) {
    const n = run.rounds.length;
    const mean = (pick: (round: ScaleRunResult['rounds'][number]) => number) => run.rounds.reduce((total, round) => total + pick(round), 0) / n;
    const written = writtenInRounds(run, trainerPutBytesPerUpdate);
    const updates = Math.max(1, run.updates);
    const cpu = run.cpu ? `${ms(run.cpu.processMs / updates)}${run.cpu.mainThreadMs !== undefined ? ` (${ms(run.cpu.mainThreadMs / updates)})` : ''}` : '–';
    const between = run.rounds.filter((round) => round.orchestrationMs !== undefined);
    const orchestration = between.length
      ? `${ms(between.reduce((total, round) => total + round.orchestrationMs!, 0) / between.length)} / ${fineMs(between.reduce((total, round) => total + round.orchestrationMs! / Math.max(1, round.clients), 0) / between.length)}`
      : '–';
    lines.push(
      `| ${run.options.perRound} | ${trainWorkersOf(run)} | ${trainBatchOf(run)} | ${emulatorThreadOf(run) ? 'own thread' : 'main thread'} | ${n}${run.completed ? '' : ` (${run.state})`} | ${ms(mean((r) => r.wallMs))} | ${ms(mean((r) => r.trainMsSum))} | ${ms(mean((r) => r.aggregateMs))} | ${ms(mean((r) => r.overheadMsPerUpdate))} | ${orchestration} | ${cpu} | ${ms(run.aggregator.medianMs)} / ${ms(run.aggregator.p90Ms)} | ${mib(run.memory.afterSetupRssBytes)} → ${mib(run.memory.peakRssBytes)} MiB | ${mib(written)} MiB |`,
    );
  }
  return lines.join('\n');
}
