/**
 * `npm run bench:privacy`: what client-level differential privacy costs in accuracy (issue 13). MNIST split over
 * 1,000 clients (IID and label skew), Poisson sampling at q = 0.1, a fixed number of rounds, σ calibrated by flambda
 * for ε ∈ {1, 2, 4, 8} at δ = 1e-5, and the same runs without DP; each through `flambda run`, as a user runs it.
 * Writes the table and charts into docs/privacy.md (between its privacy-bench markers) and docs/img/privacy-*.svg.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseExperimentConfig } from '../shared/config/parse.js';
import type { ExperimentConfigInput } from '../shared/config/schema.js';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import { formatDuration, lineChartSvgFile } from '../shared/report/index.js';
import { replaceDocSection } from './doc-section.js';
import { runConfigFile } from './grid-run.js';
import { describeMachine, finishMachineInfo, startCpuMeter, type MachineInfo } from './machine.js';

const HELP = `Usage: tsx bench/privacy.ts [options]

Runs DP-FedAvg on MNIST at each target ε and without DP, on IID and label-skewed partitions, with \`flambda run\`,
and writes the results into docs/privacy.md (section "Benchmark") and docs/img/privacy-*.svg.

  --clients N          clients (default 1000)
  --rounds N           rounds per run (default 100)
  --fraction Q         Poisson sampling rate q (default 0.1)
  --epsilons a,b       target ε at δ 1e-5 (default 1,2,4,8)
  --partitions a,b     iid and/or shards (label skew, 2 shards per client) (default iid,shards)
  --model NAME         model (default cnn-tiny: the fewest parameters, so the least total noise)
  --clip C             fixed clip norm C (default 0.5: about cnn-tiny's median update norm in round 1 without DP)
  --adaptive           adaptive clipping (initial C 0.1, target quantile 0.5) instead of a fixed C
  --test-samples N     test images evaluated each round (default 10000)
  --quick              smoke run: 100 clients, 5 rounds, ε 2 and 8, IID only, 1000 test images
  --resume             reuse runs in --out that ran exactly the same config (completed, or failed: it fails the same way again)
  --out DIR            results folder (default results/privacy)
  --docs DIR           where privacy.md and img/ are written (default docs; with --quick, the --out folder)
  -h, --help           this text`;

const OPTIONS = {
  clients: { type: 'string' },
  rounds: { type: 'string' },
  fraction: { type: 'string', default: '0.1' },
  epsilons: { type: 'string' },
  partitions: { type: 'string' },
  model: { type: 'string', default: 'cnn-tiny' },
  clip: { type: 'string', default: '0.5' },
  adaptive: { type: 'boolean', default: false },
  'test-samples': { type: 'string' },
  quick: { type: 'boolean', default: false },
  resume: { type: 'boolean', default: false },
  out: { type: 'string', default: 'results/privacy' },
  docs: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

class BenchError extends Error {}

const DELTA = 1e-5;
const PARTITIONS = { iid: { kind: 'iid' }, shards: { kind: 'shards', shardsPerClient: 2 } } as const;
type PartitionKey = keyof typeof PARTITIONS;
const PARTITION_LABEL: Record<PartitionKey, string> = { iid: 'IID', shards: 'label skew' };

function parseOptions() {
  try {
    return parseArgs({ options: OPTIONS }).values;
  } catch (error) {
    console.error(`bench:privacy: ${error instanceof Error ? error.message : String(error)}\n\n${HELP}`);
    process.exit(2);
  }
}

const values = parseOptions();
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const quick = values.quick!;
const out = path.resolve(values.out!);
const docs = values.docs ?? (quick ? out : 'docs');
const clients = Number(values.clients ?? (quick ? 100 : 1000));
const rounds = Number(values.rounds ?? (quick ? 5 : 100));
const fraction = Number(values.fraction);
const epsilons = (values.epsilons ?? (quick ? '2,8' : '1,2,4,8')).split(',').filter(Boolean).map(Number);
const partitions = (values.partitions ?? (quick ? 'iid' : 'iid,shards')).split(',').filter(Boolean) as PartitionKey[];
const testSamples = Number(values['test-samples'] ?? (quick ? 1000 : 10_000));
const clip = values.adaptive ? undefined : Number(values.clip);

interface Run {
  readonly id: string;
  readonly partition: PartitionKey;
  /** undefined: no DP */
  readonly targetEpsilon: number | undefined;
  readonly file: string;
}

interface Result extends Run {
  readonly metrics?: ExperimentMetrics;
  readonly failure?: string;
  readonly load?: { readonly start: number; readonly end: number };
  readonly reused?: boolean;
}

function configFor(partition: PartitionKey, targetEpsilon: number | undefined, id: string): ExperimentConfigInput {
  return {
    name: id,
    clients,
    rounds,
    model: values.model as ExperimentConfigInput['model'],
    partition: PARTITIONS[partition],
    testSamples,
    local: { epochs: 1, batchSize: 10, learningRate: 0.05, optimizer: 'sgd', momentum: 0.9 },
    sampling: { method: 'poisson', fraction },
    ...(targetEpsilon !== undefined
      ? {
          privacy: {
            clipping: clip === undefined ? { kind: 'adaptive', initialNorm: 0.1, targetQuantile: 0.5 } : { kind: 'fixed', norm: clip },
            targetEpsilon,
            delta: DELTA,
            // Reproducible runs for a benchmark; a deployment keeps the default "secure".
            randomness: 'seeded',
          },
        }
      : {}),
  } as ExperimentConfigInput;
}

async function main(): Promise<number> {
  for (const [name, value] of [['clients', clients], ['rounds', rounds], ['test-samples', testSamples]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new BenchError(`--${name} must be a positive integer (got ${value})`);
  }
  if (clip !== undefined && !(clip > 0)) throw new BenchError(`--clip must be a positive number (got ${values.clip})`);
  if (!(fraction > 0 && fraction <= 1)) throw new BenchError(`--fraction must be in (0, 1] (got ${fraction})`);
  if (!epsilons.every((epsilon) => epsilon > 0)) throw new BenchError(`--epsilons must be positive numbers (got ${values.epsilons})`);
  if (!partitions.every((partition) => partition in PARTITIONS)) throw new BenchError(`--partitions must be iid and/or shards (got ${values.partitions})`);

  const machine = await describeMachine();
  const meter = startCpuMeter();
  const started = Date.now();
  const prefix = quick ? 'quick-privacy' : 'privacy';
  const runs: Run[] = [];
  for (const partition of partitions) {
    for (const targetEpsilon of [undefined, ...epsilons]) {
      const id = `${prefix}-${partition}-${targetEpsilon === undefined ? 'nodp' : `eps${targetEpsilon}`}-${clients}c-${rounds}r`;
      const config = configFor(partition, targetEpsilon, id);
      const text = `${JSON.stringify(config, null, 2)}\n`;
      const parsed = parseExperimentConfig(text);
      if (!parsed.ok) throw new BenchError(`${id}: ${parsed.errors.join('; ')}`);
      const file = path.join(out, 'configs', `${id}.json`);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, text);
      runs.push({ id, partition, targetEpsilon, file });
    }
  }
  const results: Result[] = [];
  for (const run of runs) results.push({ ...run, ...(await runOne(run.id, run.file)) });

  const finished = finishMachineInfo(machine, meter.stop());
  await mkdir(path.join(docs, 'img'), { recursive: true });
  const charts = renderCharts(results);
  for (const [name, svg] of Object.entries(charts)) await writeFile(path.join(docs, 'img', name), svg);
  const body = renderSection(results, finished, Date.now() - started, Object.keys(charts));
  const doc = path.join(docs, 'privacy.md');
  // A folder other than docs/ gets a page of its own holding just this section.
  if (!(await readFile(doc, 'utf8').then(() => true, () => false))) await writeFile(doc, '# bench:privacy\n\n<!-- privacy-bench:begin -->\n<!-- privacy-bench:end -->\n');
  await replaceDocSection(doc, 'privacy-bench', body);
  console.log(`\nbench:privacy: wrote ${doc}`);
  console.log(body);
  return results.every((result) => !result.failure) ? 0 : 1;
}


async function runOne(id: string, file: string): Promise<Pick<Result, 'metrics' | 'failure' | 'load' | 'reused'>> {
  const { id: _ran, ...result } = await runConfigFile(out, id, file, values.resume ?? false);
  return result;
}

const percent = (value: number) => `${(value * 100).toFixed(2)} %`;
const label = (result: Run) => `${PARTITION_LABEL[result.partition]}, ${result.targetEpsilon === undefined ? 'no DP' : `ε ${result.targetEpsilon}`}`;

function renderCharts(results: readonly Result[]): Record<string, string> {
  const charts: Record<string, string> = {};
  for (const partition of partitions) {
    const completed = results.filter((result) => result.partition === partition && result.metrics);
    if (completed.length === 0) continue;
    charts[`privacy-accuracy-${partition}.svg`] = lineChartSvgFile({
      id: `privacy-accuracy-${partition}`,
      title: `Test accuracy per round, ${PARTITION_LABEL[partition]}, ${clients} clients, q ${fraction}`,
      xLabel: 'Round',
      yLabel: 'Accuracy',
      series: completed.map((result) => ({ name: label(result), points: result.metrics!.rounds.map((round) => ({ x: round.round, y: round.accuracy })) })),
      formatY: percent,
      formatTick: (value) => `${Math.round(value * 100)} %`,
      yBounds: { min: 0, max: 1 },
    });
  }
  const dp = results.filter((result) => result.metrics && result.targetEpsilon !== undefined);
  if (dp.length > 0) {
    charts['privacy-utility.svg'] = lineChartSvgFile({
      id: 'privacy-utility',
      title: `Final test accuracy against ε spent (δ ${DELTA}), ${clients} clients, ${rounds} rounds`,
      xLabel: 'ε',
      yLabel: 'Accuracy',
      series: partitions.map((partition) => ({
        name: PARTITION_LABEL[partition],
        points: dp.filter((result) => result.partition === partition).map((result) => ({ x: result.metrics!.summary!.privacy!.epsilon, y: result.metrics!.summary!.finalAccuracy })),
      })),
      formatY: percent,
      formatTick: (value) => `${Math.round(value * 100)} %`,
      yBounds: { min: 0, max: 1 },
    });
  }
  return charts;
}

function renderSection(results: readonly Result[], machine: MachineInfo, totalMs: number, charts: readonly string[]): string {
  const rows = results.map((result) => {
    const metrics = result.metrics;
    const summary = metrics?.summary;
    const privacy = summary?.privacy;
    const last = metrics?.rounds.at(-1)?.privacy;
    const meanOf = (pick: (round: ExperimentMetrics['rounds'][number]) => number | undefined) => {
      const picked = (metrics?.rounds ?? []).map(pick).filter((value): value is number => value !== undefined && Number.isFinite(value));
      return picked.length ? picked.reduce((a, b) => a + b, 0) / picked.length : undefined;
    };
    const signal = meanOf((round) => round.privacy?.signalNorm);
    const noise = meanOf((round) => round.privacy?.noiseNorm);
    return [
      PARTITION_LABEL[result.partition],
      result.targetEpsilon === undefined ? 'no DP' : String(result.targetEpsilon),
      privacy ? privacy.epsilon.toFixed(3) : '—',
      privacy ? privacy.noiseMultiplier.toPrecision(4) : '—',
      summary ? percent(summary.finalAccuracy) : result.failure ? 'failed' : '—',
      summary ? percent(summary.bestAccuracy) : '—',
      last ? last.clipNorm.toPrecision(3) : '—',
      signal !== undefined && noise !== undefined ? `${signal.toPrecision(3)} / ${noise.toPrecision(3)}` : '—',
      summary ? formatDuration(summary.wallMs) : '—',
      result.load ? `${result.load.start} → ${result.load.end}` : '—',
    ];
  });
  const header = ['Partition', 'Target ε', 'ε spent', 'σ', 'Final accuracy', 'Best', 'Final C', 'Mean signal / noise norm', 'Wall time', 'Load (1 min)'];
  const table = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
  const failures = results.filter((result) => result.failure).map((result) => `- ${result.id}: ${result.failure}`);
  const reused = results.filter((result) => result.reused).length;
  const command = [
    'npm run bench:privacy --',
    ...(values.clients !== undefined ? [`--clients ${clients}`] : []),
    ...(values.rounds !== undefined ? [`--rounds ${rounds}`] : []),
    ...(values.fraction !== '0.1' ? [`--fraction ${fraction}`] : []),
    ...(values.epsilons !== undefined ? [`--epsilons ${epsilons.join(',')}`] : []),
    ...(values.partitions !== undefined ? [`--partitions ${partitions.join(',')}`] : []),
    ...(values.model !== OPTIONS.model.default ? [`--model ${values.model}`] : []),
    ...(values.adaptive ? ['--adaptive'] : values.clip !== OPTIONS.clip.default ? [`--clip ${clip}`] : []),
    ...(values['test-samples'] !== undefined ? [`--test-samples ${testSamples}`] : []),
    ...(quick ? ['--quick'] : []),
  ].join(' ');
  return [
    `Measured by \`${command}\` on ${new Date().toISOString().slice(0, 10)}: ${clients} clients, Poisson sampling at q = ${fraction} ` +
      `(m = ${clients * fraction} expected clients per round), ${rounds} rounds, model \`${values.model}\`, ` +
      `${clip === undefined ? 'adaptive clipping (initial C 0.1, median)' : `fixed clipping at C = ${clip}`}, δ = ${DELTA}, ` +
      `${testSamples} test images, local training 1 epoch of batch 10 at learning rate 0.05 (SGD, momentum 0.9), FedAvg on the server, ` +
      'noise and sampling seeded (`randomness: "seeded"`) so that the runs repeat.',
    '',
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.nodeVersion}; 1-minute load ${machine.loadAverage.start} at the start, ${machine.loadAverage.end ?? '?'} at the end` +
      `${machine.otherCpuShare !== undefined ? `; other work took ${(machine.otherCpuShare * 100).toFixed(0)} % of the CPU while it ran` : ''}. ` +
      `Total ${formatDuration(totalMs)}${reused ? ` (${reused} run(s) reused from an earlier invocation with --resume)` : ''}.`,
    '',
    table,
    '',
    '"Mean signal / noise norm": ‖Σ clip(Δᵢ)‖/m and ‖noise‖/m averaged over the rounds, the two parts of the mean update the server applies.',
    ...(failures.length ? ['', 'Failed:', ...failures] : []),
    '',
    ...charts.map((name) => `![${name.replace(/\.svg$/, '')}](img/${name})`),
  ].join('\n');
}

try {
  process.exitCode = await main();
} catch (error) {
  if (!(error instanceof BenchError)) throw error;
  console.error(`bench:privacy: ${error.message}`);
  process.exitCode = 1;
}
