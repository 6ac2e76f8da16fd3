/** docs/scale.md's measured tree of sums (bench/scale-groups.ts): each size with one group and with √n groups, pair by pair. */
import type { MachineInfo } from './machine.js';
import { ms } from './scale-format.js';
import { meanOverheadPerUpdate } from './scale-local-doc.js';
import type { ScaleRunResult } from './scale-run.js';

export interface GroupsResults {
  readonly date: string;
  readonly machine: MachineInfo;
  /** by `${perRound}-g${groups}-pair${n}` */
  readonly runs: Record<string, ScaleRunResult>;
}

export interface GroupsPair {
  readonly perRound: number;
  readonly pair: number;
  readonly one: ScaleRunResult;
  readonly split: ScaleRunResult;
}

export const groupsOf = (run: ScaleRunResult) => run.options.groups ?? 1;

/** The pairs in the order they ran, by size. */
export function groupsPairs(results: GroupsResults): GroupsPair[] {
  const found = new Map<string, { one?: ScaleRunResult; split?: ScaleRunResult; perRound: number; pair: number }>();
  for (const [key, run] of Object.entries(results.runs)) {
    const match = /^(\d+)-g(\d+)-pair(\d+)$/.exec(key);
    if (!match) continue;
    const id = `${match[1]}-${match[3]}`;
    const entry = found.get(id) ?? { perRound: Number(match[1]), pair: Number(match[3]) };
    if (Number(match[2]) === 1) entry.one = run;
    else entry.split = run;
    found.set(id, entry);
  }
  return [...found.values()]
    .flatMap(({ one, split, perRound, pair }) => (one && split && one.completed && split.completed ? [{ perRound, pair, one, split }] : []))
    .sort((a, b) => a.perRound - b.perRound || a.pair - b.pair);
}

const perUpdate = (total: number | undefined, run: ScaleRunResult) => (total === undefined || run.updates === 0 ? undefined : total / run.updates);
const s3Requests = (run: ScaleRunResult) => {
  const { s3 } = run.counts.aggregate;
  return s3.get + s3.put + s3.head + s3.list;
};
const fixed = (value: number | undefined, digits = 1) => (value === undefined ? '–' : value.toFixed(digits));

export function groupsTable(results: GroupsResults): string {
  const lines = [
    '| clients a round | pair | groups | wall per round | overhead per client-update | CPU per client-update (process) | aggregator S3 requests per update | aggregator invocations per update |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { perRound, pair, one, split } of groupsPairs(results)) {
    for (const run of [one, split]) {
      const wall = run.rounds.reduce((total, round) => total + round.wallMs, 0) / Math.max(1, run.rounds.length);
      lines.push(
        `| ${perRound} | ${pair} | ${groupsOf(run)} | ${ms(wall)} | ${ms(meanOverheadPerUpdate(run))} | ${fixed(perUpdate(run.cpu?.processMs, run), 0)} ms | ${fixed(perUpdate(s3Requests(run), run), 2)} | ${fixed(perUpdate(run.aggregator.invocations, run), 2)} |`,
      );
    }
  }
  return lines.join('\n');
}
