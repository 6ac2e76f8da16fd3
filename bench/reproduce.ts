/**
 * `npm run reproduce`: the original study (MNIST, 5 clients, 5 rounds, IID vs label skew) on the embedded local cloud,
 * through the same `flambda run` a user types, then docs/results.md with the measured table and chart.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import { compareAccuracy, lineChartSvgFile, loadExperimentMetrics } from '../shared/report/index.js';
import { BLOCKS } from './doc-blocks.js';
import { runFlambda } from './flambda-cli.js';
import { DEFAULT_RESULTS_FILE, readResults } from './results.js';
import { describeMachine, withEndLoad, type MachineInfo } from './machine.js';

const EXPERIMENTS = [
  { id: 'reproduce-iid', config: 'examples/mnist-iid.json', label: 'IID' },
  { id: 'reproduce-label-skew', config: 'examples/mnist-label-skew.json', label: 'label skew' },
] as const;

// What the original PyTorch proof of concept claimed: the bar to compare against. Our own PyTorch reference (FedAvg
// on flambda's shards, `npm run bench:train -- --e2e`) fills generated blocks from bench/benchmarks.json, so that
// re-running that benchmark refreshes this page too (bench/doc-blocks.ts).
const ORIGINAL_CLAIM = { iid: 0.96, gapPoints: 15 };

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'results/reproduce' },
    docs: { type: 'string', default: 'docs' },
    // Re-render the docs from the last run in --out (after a change to this page), without training again.
    'render-only': { type: 'boolean', default: false },
  },
});
const out = values.out!;
const docs = values.docs!;


const runRecord = path.join(out, 'reproduce-run.json');
const benchmarks = await readResults(DEFAULT_RESULTS_FILE);
/** A generated block, filled now and refreshed by `npm run docs` whenever bench/benchmarks.json changes. */
const block = (name: string) => `<!-- generated:${name} -->${BLOCKS[name]!(benchmarks)}<!-- /generated -->`;
const machine = await describeMachine();
const started = Date.now();
const results: { label: string; metrics: ExperimentMetrics }[] = [];
for (const experiment of EXPERIMENTS) {
  const code = values['render-only'] ? 0 : await runFlambda(['run', experiment.config, '--id', experiment.id, '--out', out]);
  if (code !== 0) {
    console.error(`reproduce: ${experiment.config} did not complete (exit ${code}); see ${out}/flambda-local.log`);
    process.exit(1);
  }
  results.push({ label: experiment.label, metrics: await loadExperimentMetrics(path.join(out, experiment.id)) });
}
// What only the run itself can know (its duration, the machine's load) is kept beside the results for --render-only.
const run: { machine: MachineInfo; totalMs: number } = values['render-only']
  ? (JSON.parse(await readFile(runRecord, 'utf8')) as { machine: MachineInfo; totalMs: number })
  : { machine: withEndLoad(machine), totalMs: Date.now() - started };
if (!values['render-only']) await writeFile(runRecord, JSON.stringify(run, null, 1));

await mkdir(path.join(docs, 'img'), { recursive: true });
await writeFile(path.join(docs, 'img', 'results-accuracy.svg'), accuracyChart(results));
await writeFile(path.join(docs, 'results.md'), renderResults(results, run.machine, run.totalMs));
console.log(`\nreproduce: wrote ${path.join(docs, 'results.md')} and ${path.join(docs, 'img', 'results-accuracy.svg')}`);

function accuracyChart(list: readonly { label: string; metrics: ExperimentMetrics }[]): string {
  return lineChartSvgFile({
    id: 'results-accuracy',
    title: 'Test accuracy per round: IID vs label skew (FedAvg)',
    xLabel: 'Round',
    yLabel: 'Accuracy',
    series: list.map(({ label, metrics }) => ({ name: label, points: metrics.rounds.map((r) => ({ x: r.round, y: r.accuracy })) })),
    formatY: (value) => `${(value * 100).toFixed(2)} %`,
    formatTick: (value) => `${Math.round(value * 100)} %`,
    yBounds: { min: 0, max: 1 },
  });
}

function renderResults(list: readonly { label: string; metrics: ExperimentMetrics }[], host: MachineInfo, wallMs: number): string {
  const comparison = compareAccuracy(list.map((r) => r.metrics));
  const [iid, skew] = list.map((r) => r.metrics) as [ExperimentMetrics, ExperimentMetrics];
  const pct = (value: number) => `${(value * 100).toFixed(2)} %`;
  const points = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(2)}`;
  const backend = iid.backend;
  const finalGap = comparison.final.gapPoints[1]!;
  const rows = comparison.rows.map((row) => `| ${row.round} | ${pct(row.accuracy[0]!)} | ${pct(row.accuracy[1]!)} | ${points(row.gapPoints[1]!)} |`);
  const histogram = skew.partition.clients.map((client) => {
    const labels = client.labelHistogram.map((count, digit) => (count > 0 ? `${digit}×${count}` : '')).filter(Boolean);
    return `| ${client.clientId} | ${client.samples} | ${labels.length} | ${labels.join(', ')} |`;
  });
  const seconds = (ms: number) => `${(ms / 1000).toFixed(0)} s`;

  return `# The original study, reproduced

Measured by \`npm run reproduce\` on ${new Date().toISOString().slice(0, 10)}: MNIST (all 60,000 training and 10,000 test
images), 5 clients, 5 rounds, E = 1, B = 32, SGD (lr 0.05, momentum 0.9), the ${iid.summary?.parameters.toLocaleString('en-US') ?? ''}-parameter
\`cnn-small\`, FedAvg, on the embedded local cloud — the configs are \`examples/mnist-iid.json\` and
\`examples/mnist-label-skew.json\`.

- Machine: ${host.cpuModel}, ${host.cores} cores, ${host.memoryGiB} GiB, ${host.os}, Node ${host.nodeVersion};
  load average ${host.loadAverage.start} at the start, ${host.loadAverage.end ?? '?'} at the end.
- Backend: **${backend.backend}** (tfjs ${backend.tfjsVersion}; ${Object.entries(backend.details).map(([k, v]) => `${k} ${v}`).join(', ')}).
- Time: IID ${seconds(iid.summary?.wallMs ?? Number.NaN)}, label skew ${seconds(skew.summary?.wallMs ?? Number.NaN)} from the first round's fan-out to the
  final evaluation; ${seconds(wallMs)} for the whole script (partitioning, emulator start-up and both CLI runs included).

![accuracy per round](img/results-accuracy.svg)

| round | IID | label skew | gap (points) |
|---|---|---|---|
${rows.join('\n')}

## Against the original claims

| | original PyTorch proof of concept | PyTorch reference: ${block('pytorch-reference-source')} | flambda (this run) |
|---|---|---|---|
| IID, final accuracy | ~${pct(ORIGINAL_CLAIM.iid)} | ${block('pytorch-reference-iid')} | ${pct(comparison.final.accuracy[0]!)} |
| label skew, final accuracy | ~${ORIGINAL_CLAIM.gapPoints} points lower | ${block('pytorch-reference-label-skew')} | ${pct(comparison.final.accuracy[1]!)} |
| gap | ~${ORIGINAL_CLAIM.gapPoints} points | ${block('pytorch-reference-gap')} | ${finalGap.toFixed(2)} points |

${comparison.final.accuracy[0]! >= ORIGINAL_CLAIM.iid ? 'IID accuracy beats the original claim' : '**IID accuracy falls short of the original claim**'}; the
label-skew gap is ${Math.abs(finalGap) <= ORIGINAL_CLAIM.gapPoints ? 'smaller than' : '**larger than**'} the ~${ORIGINAL_CLAIM.gapPoints} points the original reported.
Remedies for the gap (FedProx, server optimisers, sampling) are compared in [noniid.md](noniid.md) where measured.

## Who holds which digits under label skew

Shards of a label-sorted MNIST straddle label boundaries, so clients hold 2–5 digits, not exactly 2:

| client | samples | digits | digit × samples |
|---|---|---|---|
${histogram.join('\n')}
`;
}
