/**
 * Peak memory and time of each robust aggregator over n updates of cnn-small's size, against the formula in
 * shared/robust/memory.ts; writes the table into docs/robustness.md.
 *   npx tsx bench/robust-memory.ts [--clients 10,25,50,100] [--no-write]
 * Each (method, n) runs in a fresh child process (bench/robust-memory-child.ts, which imports no tfjs), see there
 * for how it measures. Times: the median of 3 runs per method at the largest n, methods interleaved.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGGREGATOR_KINDS } from '../shared/config/robust.js';
import { parameterCount } from '../shared/models/index.js';
import { aggregateUpdates, maxUpdatesThatFit, robustMemoryBytes } from '../shared/robust/index.js';
import { ALLOCATION_SLACK_BYTES, workingSetBytes } from '../shared/robust/memory.js';
import { buildUpdates, configFor, type ChildResult } from './robust-memory-child.js';
import { replaceDocSection } from './doc-section.js';
import { describeMachine, withEndLoad } from './machine.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MiB = 2 ** 20;
const P = parameterCount('cnn-small');
const ROBUST_KINDS = AGGREGATOR_KINDS.filter((kind) => kind !== 'mean');

/** The baseline quickselect is measured against: gather each coordinate's n values and sort them. */
function medianBySorting(deltas: readonly Float32Array[]): Float32Array {
  const n = deltas.length;
  const out = new Float32Array(deltas[0]!.length);
  const column = new Float64Array(n);
  for (let i = 0; i < out.length; i++) {
    for (let u = 0; u < n; u++) column[u] = deltas[u]![i]!;
    column.sort();
    out[i] = n % 2 ? column[(n - 1) / 2]! : (column[n / 2 - 1]! + column[n / 2]!) / 2;
  }
  return out;
}

const SORT_REFERENCE = 'median by sorting each coordinate (reference)';

function timeMethods(n: number): Map<string, number> {
  const updates = buildUpdates(n, P);
  const runs: [string, () => unknown][] = [
    ...ROBUST_KINDS.map((kind): [string, () => unknown] => [kind, () => aggregateUpdates(configFor(kind, n), updates)]),
    [SORT_REFERENCE, () => medianBySorting(updates.map((update) => update.delta))],
  ];
  const times = new Map<string, number[]>(runs.map(([name]) => [name, []]));
  for (let repeat = 0; repeat < 4; repeat++) {
    for (const [name, run] of runs) {
      const started = performance.now();
      run();
      // The first round warms the JIT up and is not counted.
      if (repeat > 0) times.get(name)!.push(performance.now() - started);
    }
  }
  return new Map([...times].map(([name, list]) => [name, list.sort((a, b) => a - b)[1]!]));
}

const fmt = (bytes: number) => (bytes / MiB).toFixed(1);

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const clientsArg = args.indexOf('--clients');
  const counts = clientsArg >= 0 ? args[clientsArg + 1]!.split(',').map(Number) : [10, 25, 50, 100];
  const write = !args.includes('--no-write');
  const machine = await describeMachine();
  const date = new Date().toISOString().slice(0, 10);
  console.log(`robust aggregators, cnn-small (P = ${P} values), ${machine.cpuModel}, load ${machine.loadAverage.start}`);

  const rows: string[] = [];
  let worstOvershoot = -Infinity;
  for (const kind of ROBUST_KINDS) {
    for (const n of counts) {
      const output = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(here, 'robust-memory-child.ts'), kind, String(n), String(P)], {
        cwd: path.join(here, '..'),
        encoding: 'utf8',
        env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '65536', MALLOC_TRIM_THRESHOLD_: '0' },
      });
      const result = JSON.parse(output) as ChildResult;
      const formulaWorking = workingSetBytes(kind, P, n);
      const formulaTotal = robustMemoryBytes(kind, P, n);
      const measuredTotal = result.heldBytes + result.peakWorkingBytes;
      worstOvershoot = Math.max(worstOvershoot, measuredTotal - (formulaTotal - ALLOCATION_SLACK_BYTES));
      const row = `| ${kind} | ${n} | ${fmt(result.heldBytes)} (${fmt(result.heldRssBytes)}) | ${fmt(4 * P * n)} | ${fmt(result.peakWorkingBytes)} | ${fmt(formulaWorking)} | ${fmt(measuredTotal)} | ${fmt(formulaTotal)} |`;
      rows.push(row);
      console.log(row);
    }
  }
  const largest = Math.max(...counts);
  const times = timeMethods(largest);
  const fits = ROBUST_KINDS.map((kind) => {
    const row = [1769, 3008, 10240].map((memoryMb) => maxUpdatesThatFit(kind, P, { memoryMb }));
    const mcmahan = [1769, 3008, 10240].map((memoryMb) => maxUpdatesThatFit(kind, parameterCount('cnn-mcmahan'), { memoryMb }));
    return `| ${kind} | ${times.get(kind)!.toFixed(0)} | ${row.join(' / ')} | ${mcmahan.join(' / ')} |`;
  });
  const end = withEndLoad(machine);
  const body = [
    `Measured by \`npm run bench:robust-memory\` on ${date}: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion},`,
    `load average ${machine.loadAverage.start} at the start and ${end.loadAverage.end} at the end. Updates of cnn-small's size (P = ${P.toLocaleString('en-US')} values).`,
    `Worst measured total above the formula without its ${ALLOCATION_SLACK_BYTES / MiB} MiB slack: ${fmt(worstOvershoot)} MiB.`,
    '',
    '| method | n | held, measured: ArrayBuffers (RSS) (MiB) | held, 4·P·n (MiB) | peak working set, measured (MiB) | working set, formula (MiB) | total, measured (MiB) | robustMemoryBytes (MiB) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `Time for n = ${largest} (median of 3 runs after a warm-up, methods interleaved), and the updates that fit (maxUpdatesThatFit, 400 MiB baseline) in an aggregator of 1,769 / 3,008 / 10,240 MB:`,
    '',
    `| method | ms for n = ${largest} | cnn-small updates that fit | cnn-mcmahan updates that fit |`,
    '| --- | ---: | ---: | ---: |',
    ...fits,
    `| ${SORT_REFERENCE} | ${times.get(SORT_REFERENCE)!.toFixed(0)} | | |`,
  ].join('\n');
  console.log(`\n${body}`);
  if (write) {
    await replaceDocSection(path.join(here, '..', 'docs', 'robustness.md'), 'robust-memory', body);
    console.log('\nwrote docs/robustness.md');
  }
}

await main();
