/**
 * docs/scale.md's trainer batches (bench/scale.ts's trainBatchPairs): where `flambda run` gives a trainer invocation
 * several clients (local/trainer-pool.ts's trainBatchSize), those runs against one client an invocation, pair by pair.
 */
import type { ScaleResults } from './scale.js';
import { ms } from './scale-format.js';
import { median } from './throughput.js';
import { meanOverheadPerUpdate, trainBatchOf } from './scale-local-doc.js';
import type { ScaleRunResult } from './scale-run.js';

export interface TrainBatchPair {
  readonly perRound: number;
  readonly pair: number;
  readonly batched: ScaleRunResult;
  readonly single: ScaleRunResult;
}

/** The completed pairs in the order they ran, by size. */
export function trainBatchPairs(results: ScaleResults): TrainBatchPair[] {
  const found = new Map<string, { batched?: ScaleRunResult; single?: ScaleRunResult; perRound: number; pair: number }>();
  for (const [key, run] of Object.entries(results.trainBatchPairs ?? {})) {
    const pair = /-pair(\d+)$/.exec(key)?.[1];
    if (pair === undefined || !run.completed) continue;
    const id = `${run.options.perRound}-${pair}`;
    const entry = found.get(id) ?? { perRound: run.options.perRound, pair: Number(pair) };
    if (trainBatchOf(run) > 1) entry.batched = run;
    else entry.single = run;
    found.set(id, entry);
  }
  return [...found.values()]
    .flatMap(({ batched, single, perRound, pair }) => (batched && single ? [{ perRound, pair, batched, single }] : []))
    .sort((a, b) => a.perRound - b.perRound || a.pair - b.pair);
}

const perUpdate = (total: number | undefined, run: ScaleRunResult) => (total === undefined || run.updates === 0 ? undefined : total / run.updates);
const cpuOf = (run: ScaleRunResult) => {
  const process = perUpdate(run.cpu?.processMs, run);
  const main = perUpdate(run.cpu?.mainThreadMs, run);
  return process === undefined ? '–' : `${ms(process)}${main === undefined ? '' : ` (${ms(main)})`}`;
};
const meanWall = (run: ScaleRunResult) => run.rounds.reduce((total, round) => total + round.wallMs, 0) / Math.max(1, run.rounds.length);

export function trainBatchTable(pairs: readonly TrainBatchPair[]): string {
  const lines = [
    '| clients a round | pair | clients a trainer invocation | wall per round | overhead per client-update | CPU per client-update: process (main thread) | aggregator invocations per update |',
    '|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { perRound, pair, batched, single } of pairs) {
    const ran = pair % 2 === 1 ? [batched, single] : [single, batched];
    for (const run of ran) {
      const invocations = perUpdate(run.aggregator.invocations, run);
      lines.push(
        `| ${perRound} | ${pair} | ${trainBatchOf(run)} | ${ms(meanWall(run))} | ${ms(meanOverheadPerUpdate(run))} | ${cpuOf(run)} | ${invocations === undefined ? '–' : invocations.toFixed(2)} |`,
      );
    }
  }
  return lines.join('\n');
}

/** The median overhead per client-update of each side of the pairs. */
function medianOverheads(pairs: readonly TrainBatchPair[]): { single: number; batched: number } {
  return {
    single: median(pairs.map((pair) => meanOverheadPerUpdate(pair.single))),
    batched: median(pairs.map((pair) => meanOverheadPerUpdate(pair.batched))),
  };
}

/** Per size: each pair's overhead one client an invocation → batched, how many pairs batching won, the medians. */
export function trainBatchVerdict(pairs: readonly TrainBatchPair[]): string {
  const sizes = [...new Set(pairs.map((pair) => pair.perRound))];
  return sizes
    .map((perRound) => {
      const ofSize = pairs.filter((pair) => pair.perRound === perRound);
      const batch = trainBatchOf(ofSize[0]!.batched);
      const faster = ofSize.filter((pair) => meanOverheadPerUpdate(pair.batched) < meanOverheadPerUpdate(pair.single)).length;
      const { single, batched } = medianOverheads(ofSize);
      const medians = `${ms(single)} → ${ms(batched)}`;
      return (
        `At ${perRound} clients a round, one client a trainer invocation → ${batch}: ${ofSize.map((pair) => `${ms(meanOverheadPerUpdate(pair.single))} → ${ms(meanOverheadPerUpdate(pair.batched))}`).join(', ')} ` +
        `of overhead per client-update (batched faster in ${faster} of ${ofSize.length} pairs; medians ${medians})`
      );
    })
    .join('. ');
}

/** The median overhead per client-update of each side at the largest size compared, for the goal's sentence. */
export function largestTrainBatchMedians(pairs: readonly TrainBatchPair[]): { perRound: number; batch: number; single: number; batched: number } | undefined {
  const perRound = Math.max(...pairs.map((pair) => pair.perRound));
  const ofSize = pairs.filter((pair) => pair.perRound === perRound);
  if (!ofSize.length) return undefined;
  return {
    perRound,
    batch: trainBatchOf(ofSize[0]!.batched),
    ...medianOverheads(ofSize),
  };
}

/** The section: why batches, the table, the verdict. */
export function trainBatchSection(results: ScaleResults): string {
  const pairs = trainBatchPairs(results);
  if (!pairs.length) return '';
  return `### Several clients a trainer invocation

A trainer invocation takes up to \`--train-batch\` clients (the train queue's batch size; the stack's \`-c trainBatchSize\`,
default 1): one receive, one lease and one delete for the batch instead of each client's, the records' reads and writes
overlapping while their training runs one at a time (shared/engine/train.ts). \`flambda run\` picks
local/trainer-pool.ts's trainBatchSize: clients a round ÷ (10 × training workers), from 1 to 10, so every worker still
gets at least 10 invocations a round and small rounds (the original 5 clients) keep one client an invocation. The
runs above use it; here each size where it is above 1 ran with it and with one client an invocation, one right after the
other, the order alternating pair by pair (same workers, emulator placement and rounds):

${trainBatchTable(pairs)}

${trainBatchVerdict(pairs)}.
`;
}
