/**
 * `npm run bench:privacy-direct`: the privacy/accuracy trade-off at the issue's scale (1,000 clients, 100 rounds),
 * through the in-process simulation of bench/dp-simulation.ts, which test/privacy-simulation.test.ts checks against
 * the pipeline. Each run is saved as JSON in --out (reused with --resume); the table goes into docs/privacy.md
 * between its privacy-direct markers, the accuracy curves into docs/img/privacy-direct-*.svg.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ExperimentConfigInput } from '../shared/config/schema.js';
import { defaultCountNoiseStddev, updateNoiseMultiplier } from '../shared/privacy/adaptive.js';
import { formatDuration, lineChartSvgFile } from '../shared/report/index.js';
import { replaceDocSection } from './doc-section.js';
import { simulatePrivateFedAvg, type SimulatedRound } from './dp-simulation.js';
import { describeMachine, finishMachineInfo, startCpuMeter } from './machine.js';

const HELP = `Usage: npm run bench:privacy-direct -- [options]

DP-FedAvg on MNIST at each target ε and without DP, in one process with the pipeline's own functions
(bench/dp-simulation.ts), and writes the table into docs/privacy.md (section "At the issue's scale").

  --clients N          clients (default 1000; 60 MNIST images each)
  --rounds N           rounds per run (default 100)
  --fraction Q         Poisson sampling rate q (default 0.1)
  --epsilons a,b       target ε at δ 1e-5 (default 1,2,4,8)
  --partitions a,b     iid and/or shards (label skew, 2 shards per client) (default iid)
  --model NAME         model (default cnn-tiny)
  --clip C             fixed clip norm C, or the first round's with adaptive clipping (default 0.5)
  --clipping KIND      fixed or adaptive (Andrew et al. 2021: C follows a quantile of the update norms, its count
                       query accounted); adaptive runs are saved apart and written to their own section of privacy.md
  --target-quantile γ  adaptive clipping's target unclipped quantile (default 0.5)
  --server-lr η        server learning rate of FedAvgM (default 1, with --server-momentum 0: FedAvg)
  --server-momentum β  server momentum of FedAvgM (default 0)
  --seeds a,b          seeds (default 42); with several, a table of mean ± sd over the seeds comes first
  --run a,b            partitions to run now (default: all of --partitions); the others' runs are read from --out
                       only, and the ones missing there are listed as pending
  --evaluate-every K   evaluate the global model every K rounds and at the last (default 5)
  --resume             reuse runs saved in --out with exactly the same config
  --out DIR            results folder (default results/privacy-direct)
  --docs DIR           where privacy.md and img/ are written (default docs)
  -h, --help           this text`;

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '100' },
    fraction: { type: 'string', default: '0.1' },
    epsilons: { type: 'string', default: '1,2,4,8' },
    partitions: { type: 'string', default: 'iid' },
    model: { type: 'string', default: 'cnn-tiny' },
    clip: { type: 'string', default: '0.5' },
    clipping: { type: 'string', default: 'fixed' },
    'target-quantile': { type: 'string', default: '0.5' },
    'server-lr': { type: 'string', default: '1' },
    'server-momentum': { type: 'string', default: '0' },
    seeds: { type: 'string', default: '42' },
    run: { type: 'string' },
    'evaluate-every': { type: 'string', default: '5' },
    resume: { type: 'boolean', default: false },
    out: { type: 'string', default: 'results/privacy-direct' },
    docs: { type: 'string', default: 'docs' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}

const DELTA = 1e-5;
const PARTITIONS = { iid: { kind: 'iid' }, shards: { kind: 'shards', shardsPerClient: 2 } } as const;
type PartitionKey = keyof typeof PARTITIONS;
const LABEL: Record<PartitionKey, string> = { iid: 'IID', shards: 'label skew' };
const numbers = (text: string) => text.split(',').filter(Boolean).map(Number);
const clients = Number(values.clients);
const rounds = Number(values.rounds);
const fraction = Number(values.fraction);
const clip = Number(values.clip);
const adaptive = values.clipping === 'adaptive';
if (!adaptive && values.clipping !== 'fixed') throw new Error(`--clipping: fixed or adaptive (got ${values.clipping})`);
const targetQuantile = Number(values['target-quantile']);
const clippingConfig = adaptive ? { kind: 'adaptive', initialNorm: clip, targetQuantile } : { kind: 'fixed', norm: clip };
/** Adaptive runs get their own result names, doc section and charts, so the fixed-clipping table stays as it is. */
const variant = adaptive ? '-adaptive' : '';
const serverLr = Number(values['server-lr']);
const serverMomentum = Number(values['server-momentum']);
const epsilons = numbers(values.epsilons!);
const seeds = numbers(values.seeds!);
const partitions = values.partitions!.split(',').filter(Boolean) as PartitionKey[];
const evaluateEvery = Number(values['evaluate-every']);
for (const partition of partitions) if (!(partition in PARTITIONS)) throw new Error(`--partitions: iid and/or shards (got ${partition})`);
const runNow = new Set(values.run === undefined ? partitions : (values.run.split(',').filter(Boolean) as PartitionKey[]));
for (const partition of runNow) if (!partitions.includes(partition)) throw new Error(`--run: ${partition} is not one of --partitions (${partitions.join(', ')})`);

interface Saved {
  readonly config: ExperimentConfigInput;
  readonly rounds: readonly SimulatedRound[];
  readonly sigma: number | undefined;
  readonly wallMs: number;
}

function configFor(partition: PartitionKey, epsilon: number | undefined, seed: number): ExperimentConfigInput {
  return {
    name: `direct-${partition}-${epsilon ?? 'nodp'}${epsilon === undefined ? '' : variant}-s${seed}`,
    clients,
    rounds,
    model: values.model as ExperimentConfigInput['model'],
    samplesPerClient: null,
    partition: PARTITIONS[partition],
    testSamples: 10_000,
    seed,
    local: { epochs: 1, batchSize: 10, learningRate: 0.05, optimizer: 'sgd', momentum: 0.9 },
    sampling: { method: 'poisson', fraction },
    strategy: serverMomentum === 0 && serverLr === 1 ? { name: 'fedavg' } : { name: 'fedavgm', serverLearningRate: serverLr, momentum: serverMomentum },
    ...(epsilon !== undefined ? { privacy: { clipping: clippingConfig, targetEpsilon: epsilon, delta: DELTA, randomness: 'seeded' } } : {}),
  } as ExperimentConfigInput;
}

/** The run's saved result (with --resume, or when its partition is not run now), else a new run, else undefined. */
async function runOne(config: ExperimentConfigInput, mayRun: boolean): Promise<(Saved & { reused: boolean }) | undefined> {
  const file = path.join(values.out!, `${config.name}.json`);
  if (values.resume || !mayRun) {
    const saved = await readFile(file, 'utf8').then((text) => JSON.parse(text) as Saved, () => undefined);
    if (saved && JSON.stringify(saved.config) === JSON.stringify(config)) return { ...saved, reused: true };
    if (!mayRun) return undefined;
  }
  const started = Date.now();
  const result = await simulatePrivateFedAvg(config, {
    evaluateEvery,
    onRound: (round) => {
      if (round.accuracy !== undefined) {
        console.log(`${config.name} round ${round.round}: ${(round.accuracy * 100).toFixed(2)} %${round.epsilon !== undefined ? `, ε ${round.epsilon.toFixed(3)}` : ''} (${formatDuration(Date.now() - started)})`);
      }
    },
  });
  const saved: Saved = { config, rounds: result.rounds, sigma: result.plan?.noiseMultiplier, wallMs: result.wallMs };
  await mkdir(values.out!, { recursive: true });
  await writeFile(file, `${JSON.stringify(saved)}\n`);
  return { ...saved, reused: false };
}

const percent = (value: number) => `${(value * 100).toFixed(2)} %`;
const machine = await describeMachine();
const meter = startCpuMeter();
const started = Date.now();
const results: { partition: PartitionKey; epsilon: number | undefined; seed: number; saved: Saved & { reused: boolean } }[] = [];
const pending: string[] = [];
for (const partition of partitions) {
  for (const epsilon of [undefined, ...epsilons]) {
    for (const seed of seeds) {
      const saved = await runOne(configFor(partition, epsilon, seed), runNow.has(partition));
      if (saved) results.push({ partition, epsilon, seed, saved });
      else pending.push(`${LABEL[partition]} ${epsilon === undefined ? 'no DP' : `ε ${epsilon}`} seed ${seed}`);
    }
  }
}
const finished = finishMachineInfo(machine, meter.stop());

const evaluated = (saved: Saved) => saved.rounds.filter((round) => round.accuracy !== undefined);
const rows = results.map(({ partition, epsilon, seed, saved }) => {
  const last = saved.rounds.at(-1)!;
  const best = Math.max(...evaluated(saved).map((round) => round.accuracy!));
  return [
    LABEL[partition],
    epsilon === undefined ? 'no DP' : String(epsilon),
    String(seed),
    last.epsilon !== undefined ? last.epsilon.toFixed(3) : '—',
    saved.sigma === undefined ? '—' : adaptive ? `${saved.sigma.toPrecision(4)} (${updateNoiseMultiplier(saved.sigma, defaultCountNoiseStddev(clients * fraction)).toPrecision(4)} on Δ)` : saved.sigma.toPrecision(4),
    epsilon === undefined ? '—' : last.clipNorm.toPrecision(3),
    percent(last.accuracy!),
    percent(best),
    formatDuration(saved.wallMs),
  ];
});
const header = ['Partition', 'Target ε', 'Seed', 'ε spent', 'σ', 'C in the last round', 'Final accuracy', 'Best (every 5th round)', 'Wall time'];
const table = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
const reused = results.filter((result) => result.saved.reused).length;
const summary = seeds.length > 1 ? seedSummaryTable() : '';

/** Mean ± sample standard deviation of the final accuracy over the seeds that ran, per partition and target ε. */
function seedSummaryTable(): string {
  const lines = partitions.flatMap((partition) =>
    [undefined, ...epsilons].map((epsilon) => {
      const runs = results.filter((result) => result.partition === partition && result.epsilon === epsilon);
      const finals = runs.map((result) => result.saved.rounds.at(-1)!.accuracy!);
      const label = epsilon === undefined ? 'no DP' : String(epsilon);
      if (finals.length === 0) return `| ${LABEL[partition]} | ${label} | 0 of ${seeds.length} | pending | | |`;
      const mean = finals.reduce((sum, value) => sum + value, 0) / finals.length;
      const sd = finals.length > 1 ? Math.sqrt(finals.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (finals.length - 1)) : Number.NaN;
      const worst = runs[finals.indexOf(Math.min(...finals))]!;
      return `| ${LABEL[partition]} | ${label} | ${finals.length} of ${seeds.length} | ${(mean * 100).toFixed(2)}${Number.isNaN(sd) ? '' : ` ± ${(sd * 100).toFixed(2)}`} % | ${percent(Math.min(...finals))} (seed ${worst.seed}) | ${runs.map((run) => `${run.seed}: ${percent(run.saved.rounds.at(-1)!.accuracy!)}`).join(', ')} |`;
    }),
  );
  return [
    `Final accuracy over seeds ${seeds.join(', ')} (mean ± sample standard deviation; each seed deals its own partition, sampling and noise):`,
    '',
    '| Partition | Target ε | Seeds run | Mean ± sd | Worst seed | Per seed |',
    '|---|---|---|---|---|---|',
    ...lines,
    '',
    'Every run:',
    '',
    '',
  ].join('\n');
}
const strategyText = serverMomentum === 0 && serverLr === 1 ? 'FedAvg' : `FedAvgM (server learning rate ${serverLr}, momentum ${serverMomentum})`;
const command = process.argv.slice(2).filter((arg) => arg !== '--resume').join(' ');

/** One line per target ε: the run itself, or with several seeds the mean over the seeds that ran. */
function seriesFor(partition: PartitionKey) {
  return [undefined, ...epsilons].flatMap((epsilon) => {
    const runs = results.filter((result) => result.partition === partition && result.epsilon === epsilon);
    if (runs.length === 0) return [];
    const name = `${epsilon === undefined ? 'no DP' : `ε ${epsilon}`}${runs.length > 1 ? ` (mean of ${runs.length} seeds)` : seeds.length > 1 ? ` (seed ${runs[0]!.seed})` : ''}`;
    const points = evaluated(runs[0]!.saved).map((round) => ({
      x: round.round,
      y: runs.reduce((sum, run) => sum + (run.saved.rounds.find((other) => other.round === round.round)?.accuracy ?? Number.NaN), 0) / runs.length,
    }));
    return [{ name, points }];
  });
}

await mkdir(path.join(values.docs!, 'img'), { recursive: true });
const charts: string[] = [];
for (const partition of partitions) {
  const name = `privacy-direct${variant}-${partition}.svg`;
  await writeFile(
    path.join(values.docs!, 'img', name),
    lineChartSvgFile({
      id: `privacy-direct${variant}-${partition}`,
      title: `Test accuracy, ${LABEL[partition]}, ${clients} clients, q ${fraction}, ${values.model}${adaptive ? ', adaptive clipping' : ''}`,
      xLabel: 'Round',
      yLabel: 'Accuracy',
      series: seriesFor(partition),
      formatY: percent,
      formatTick: (value) => `${Math.round(value * 100)} %`,
      yBounds: { min: 0, max: 1 },
    }),
  );
  charts.push(name);
}
const body = [
  `Measured by \`npm run bench:privacy-direct${command ? ` -- ${command}` : ''}\` on ${new Date().toISOString().slice(0, 10)}: ${clients} clients of ` +
    `${Math.floor(60_000 / clients)} MNIST images, Poisson sampling at q = ${fraction} (m = ${clients * fraction} expected clients per round), ` +
    `${rounds} rounds, model \`${values.model}\`, ${adaptive ? `adaptive clipping from C = ${clip} towards the ${targetQuantile} quantile of the update norms (learning rate 0.2)` : `fixed clipping at C = ${clip}`}, δ = ${DELTA}, the 10,000 test images, local training 1 epoch of ` +
    `batch 10 at learning rate 0.05 (SGD, momentum 0.9), ${strategyText} on the server, noise and sampling seeded. In one process ` +
    '(bench/dp-simulation.ts: the pipeline\'s own functions, checked against a pipeline run by test/privacy-simulation.test.ts).',
  '',
  `Machine: ${finished.cpuModel}, ${finished.cores} cores, Node ${finished.nodeVersion}; 1-minute load ${finished.loadAverage.start} at the start, ` +
    `${finished.loadAverage.end ?? '?'} at the end${finished.otherCpuShare !== undefined ? `; other work took ${(finished.otherCpuShare * 100).toFixed(0)} % of the CPU` : ''}. ` +
    `Total ${formatDuration(Date.now() - started)}${reused ? ` (${reused} run(s) reused with --resume)` : ''}.`,
  '',
  summary + table,
  ...(pending.length > 0 ? ['', `Pending (not run yet, \`--run\`): ${pending.join('; ')}.`] : []),
  '',
  ...charts.map((name) => `![${name.replace(/\.svg$/, '')}](img/${name})`),
].join('\n');
const doc = path.join(values.docs!, 'privacy.md');
if (!(await readFile(doc, 'utf8').then(() => true, () => false))) await writeFile(doc, '# bench:privacy-direct\n\n<!-- privacy-direct:begin -->\n<!-- privacy-direct:end -->\n');
await replaceDocSection(doc, `privacy-direct${variant}`, body);
console.log(`\n${body}\n\nbench:privacy-direct: wrote ${doc}`);
