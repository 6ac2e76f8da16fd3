/**
 * `npm run bench:noniid`: the label-skew experiment (MNIST, 5 clients × 5 rounds, 2 shards per client) once per
 * config in examples/noniid/ — one per built-in strategy, with its tuned values — against IID FedAvg
 * (examples/mnist-iid.json), each through the same `flambda run` a user types. Then docs/noniid.md with the measured
 * table and docs/img/noniid-accuracy.svg.
 *
 * `--tune` first runs the tuning grid below at a reduced setting and adds its table to the page. The grid is the search
 * space; the values chosen from it live in the configs, so what a run uses is always in examples/noniid/.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseExperimentConfig } from '../shared/config/parse.js';
import { STRATEGY_NAMES, type ExperimentConfig, type StrategyConfig } from '../shared/config/schema.js';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import { bestRoundOf, describeBackend } from '../shared/report/digest.js';
import {
  compareAccuracy,
  formatDuration,
  formatPoints,
  lineChartSvgFile,
  loadExperimentMetrics,
  loadExperimentStatus,
} from '../shared/report/index.js';
import { runFlambda } from './flambda-cli.js';
import { describeMachine, withEndLoad, type MachineInfo } from './machine.js';

type StrategyName = (typeof STRATEGY_NAMES)[number];
/** Strategy parameters to change, e.g. { serverLearningRate: 0.03 }; validated with the rest of the config. */
type StrategyOverride = Readonly<Record<string, number>>;
/** Caps applied to every run for a cheaper setting: the config fields of the same names. */
interface DataCap {
  readonly samplesPerClient: number;
  readonly testSamples?: number;
}

const BASELINE = { key: 'iid', config: 'examples/mnist-iid.json', label: 'IID FedAvg' } as const;
const STRATEGY_CONFIG_DIR = 'examples/noniid';
const GOAL_POINTS = 2;
const TARGET_ACCURACY = 0.95;
const MNIST_TRAINING_IMAGES = 60_000;
/**
 * A sixth of each client's 12,000 images. Measured here: 0.5–1.5 min of wall time per run against 2–7 min with full
 * data, as partitioning and evaluating on all 10,000 test images stay.
 */
const TUNING_CAP: DataCap = { samplesPerClient: 2000 };
const QUICK_CAP: DataCap = { samplesPerClient: 300, testSamples: 1000 };

/**
 * Candidates per strategy: the documented default first, then the values the papers and our sanity check
 * (docs/strategies.md) point to, extended by one step where the best sat at the edge. Small on purpose: one candidate
 * costs a minute or more on a 2-core machine.
 */
const TUNING_GRID: Readonly<Record<StrategyName, readonly StrategyOverride[]>> = {
  fedavg: [{}],
  fedprox: [{ mu: 0.01 }, { mu: 0.1 }],
  fedavgm: [
    { serverLearningRate: 1, momentum: 0.9 },
    { serverLearningRate: 1, momentum: 0.5 },
  ],
  fedadam: [{ serverLearningRate: 0.01 }, { serverLearningRate: 0.03 }, { serverLearningRate: 0.1 }],
  fedyogi: [{ serverLearningRate: 0.01 }, { serverLearningRate: 0.03 }, { serverLearningRate: 0.1 }],
  fedadagrad: [{ serverLearningRate: 0.1 }, { serverLearningRate: 0.3 }, { serverLearningRate: 1 }],
  scaffold: [{ serverLearningRate: 1 }],
};

const DISPLAY_NAMES: Readonly<Record<StrategyName, string>> = {
  fedavg: 'FedAvg',
  fedprox: 'FedProx',
  fedavgm: 'FedAvgM',
  fedadam: 'FedAdam',
  fedyogi: 'FedYogi',
  fedadagrad: 'FedAdagrad',
  scaffold: 'SCAFFOLD',
};

const PARAMETER_SYMBOLS: Readonly<Record<string, string>> = {
  mu: 'μ',
  serverLearningRate: 'η',
  momentum: 'β',
  beta1: 'β1',
  beta2: 'β2',
  tau: 'τ',
};

const HELP = `Usage: tsx bench/noniid.ts [options]

Runs the label-skew experiment once per examples/noniid/*.json and IID FedAvg (examples/mnist-iid.json), one after
the other, through \`flambda run\`, and writes noniid.md and img/noniid-accuracy.svg.

  --only a,b        only these configs of examples/noniid (file names without .json); IID FedAvg always runs
  --tune            first run the tuning grid at samplesPerClient ${TUNING_CAP.samplesPerClient} and add its table
  --tune-only       run only the tuning grid (and IID FedAvg at the same setting)
  --quick           smoke run: every run capped at samplesPerClient ${QUICK_CAP.samplesPerClient}, testSamples ${QUICK_CAP.testSamples}
  --resume          reuse a completed result in --out when it ran exactly the same config
  --out DIR         results folder (default results/noniid)
  --docs DIR        where noniid.md and img/ go (default: docs for a full run of every config, else the --out folder,
                    so a partial or reduced run never replaces the published page unless asked to)
  -h, --help        this text`;

const OPTIONS = {
  only: { type: 'string' },
  tune: { type: 'boolean', default: false },
  'tune-only': { type: 'boolean', default: false },
  quick: { type: 'boolean', default: false },
  resume: { type: 'boolean', default: false },
  out: { type: 'string', default: 'results/noniid' },
  docs: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parseOptions() {
  try {
    return parseArgs({ options: OPTIONS });
  } catch (error) {
    console.error(`bench:noniid: ${error instanceof Error ? error.message : String(error)}\n\n${HELP}`);
    process.exit(2);
  }
}

const { values } = parseOptions();
if (values.help) {
  console.log(HELP);
  process.exit(0);
}

const out = values.out!;
const tuneOnly = values['tune-only']!;
const runTuning = values.tune! || tuneOnly;
const cap = values.quick ? QUICK_CAP : undefined;
const tuningCap = cap ?? TUNING_CAP;
const publishing = !values.quick && !tuneOnly && values.only === undefined;
const docs = values.docs ?? (publishing ? 'docs' : out);

interface SourceConfig {
  /** File name without .json: how --only names it */
  readonly key: string;
  readonly file: string;
  readonly text: string;
  readonly raw: Readonly<Record<string, unknown>>;
  readonly config: ExperimentConfig;
}

interface Planned {
  readonly id: string;
  readonly source: SourceConfig;
  /** The file `flambda run` gets: the source itself, or a derived copy under <out>/configs/ */
  readonly file: string;
  readonly text: string;
  readonly config: ExperimentConfig;
}

interface Outcome {
  readonly planned: Planned;
  readonly metrics?: ExperimentMetrics;
  /** Set when the run did not complete: what happened and where to look */
  readonly failure?: string;
  readonly reused: boolean;
  /** 1-minute load average when the run started and ended; unknown for a reused run that predates the record */
  readonly load?: RunLoad;
}

interface RunLoad {
  readonly start: number;
  readonly end: number;
}

/** Kept beside each result, so a page built from reused runs still says how busy the machine was when they ran. */
const LOAD_FILE = 'bench-load.json';
const runLoadSchema = z.object({ start: z.number(), end: z.number() });

class BenchError extends Error {}

async function main(): Promise<number> {
  const baseline = await readSource(BASELINE.key, BASELINE.config);
  const strategies = selectStrategies(await readStrategySources(), values.only);
  // Every config is derived and validated before the first run, so a typo fails in a second rather than an hour in.
  const tuningPlan = runTuning ? await planTuning(baseline, strategies) : [];
  const finalPlan = tuneOnly
    ? []
    : await Promise.all([baseline, ...strategies].map((source) => derive(source, cap ? `quick-${source.key}` : `noniid-${source.key}`, { cap })));

  const machine = await describeMachine();
  const started = Date.now();
  const tuning = await executeAll(tuningPlan);
  const finals = await executeAll(finalPlan);
  const baselineRun = finals[0] ?? tuning[0];
  if (baselineRun?.failure) throw new BenchError(`IID FedAvg, the baseline every gap is measured against, did not complete: ${baselineRun.failure}`);
  const totalMs = Date.now() - started;

  const page = renderPage({ finals, tuning, strategies, host: withEndLoad(machine), totalMs });
  await mkdir(path.join(docs, 'img'), { recursive: true });
  if (page.chart) await writeFile(path.join(docs, 'img', 'noniid-accuracy.svg'), page.chart);
  await writeFile(path.join(docs, 'noniid.md'), page.markdown);
  console.log(`\nbench:noniid: wrote ${path.join(docs, 'noniid.md')}${page.chart ? ` and ${path.join(docs, 'img', 'noniid-accuracy.svg')}` : ''}`);

  const failed = [...tuning, ...finals].filter((outcome) => outcome.failure);
  for (const outcome of failed) console.error(`bench:noniid: ${outcome.planned.id}: ${outcome.failure}`);
  return failed.length === 0 ? 0 : 1;
}

async function readSource(key: string, file: string): Promise<SourceConfig> {
  const text = await readFile(file, 'utf8').catch((error: unknown) => {
    throw new BenchError(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  });
  const parsed = parseExperimentConfig(text);
  if (!parsed.ok) throw new BenchError(`${file} is not a valid experiment config:\n  - ${parsed.errors.join('\n  - ')}`);
  // A valid config is a JSON object, so the raw form can be copied and changed field by field.
  return { key, file, text, raw: JSON.parse(text) as Record<string, unknown>, config: parsed.config };
}

async function readStrategySources(): Promise<SourceConfig[]> {
  const files = (await readdir(STRATEGY_CONFIG_DIR)).filter((file) => file.endsWith('.json'));
  const sources = await Promise.all(files.map((file) => readSource(path.basename(file, '.json'), path.join(STRATEGY_CONFIG_DIR, file))));
  const order = (source: SourceConfig) => STRATEGY_NAMES.indexOf(source.config.strategy.name);
  return sources.sort((a, b) => order(a) - order(b) || a.key.localeCompare(b.key));
}

function selectStrategies(sources: readonly SourceConfig[], only: string | undefined): SourceConfig[] {
  if (only === undefined) return [...sources];
  const wanted = only.split(',').map((name) => name.trim()).filter(Boolean);
  if (wanted.length === 0) throw new BenchError(`--only needs at least one of: ${sources.map((s) => s.key).join(', ')}`);
  const unknown = wanted.filter((name) => !sources.some((source) => source.key === name));
  if (unknown.length > 0) {
    throw new BenchError(`--only: no ${unknown.map((name) => `${STRATEGY_CONFIG_DIR}/${name}.json`).join(', ')}; available: ${sources.map((s) => s.key).join(', ')}`);
  }
  return sources.filter((source) => wanted.includes(source.key));
}

function planTuning(baseline: SourceConfig, strategies: readonly SourceConfig[]): Promise<Planned[]> {
  const prefix = `tune${tuningCap.samplesPerClient}`;
  const candidates = strategies.flatMap((source) =>
    TUNING_GRID[source.config.strategy.name].map((override) => ({ source, override })),
  );
  return Promise.all([
    derive(baseline, `${prefix}-${baseline.key}`, { cap: tuningCap }),
    ...candidates.map(({ source, override }) =>
      derive(source, [prefix, source.key, ...Object.entries(override).map(([key, value]) => `${key}${value}`)].join('-'), {
        cap: tuningCap,
        override,
      }),
    ),
  ]);
}

/** The source config itself when nothing changes; otherwise a copy with the changes, written under <out>/configs/. */
async function derive(source: SourceConfig, id: string, changes: { cap?: DataCap; override?: StrategyOverride }): Promise<Planned> {
  const override = changes.override ?? {};
  if (!changes.cap && Object.keys(override).length === 0) return { id, source, file: source.file, text: source.text, config: source.config };

  const { $schema: _editorOnly, ...raw } = source.raw;
  const strategy = typeof raw.strategy === 'object' && raw.strategy !== null ? raw.strategy : {};
  const derived = { ...raw, name: id, strategy: { ...strategy, ...override }, ...changes.cap };
  const text = `${JSON.stringify(derived, null, 2)}\n`;
  const file = path.join(out, 'configs', `${id}.json`);
  const parsed = parseExperimentConfig(text);
  if (!parsed.ok) throw new BenchError(`${source.file} with ${JSON.stringify(override)} is not a valid experiment config:\n  - ${parsed.errors.join('\n  - ')}`);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return { id, source, file, text, config: parsed.config };
}

/**
 * One at a time: the local cloud already trains one experiment's clients in parallel on every core. The baseline comes
 * first in each plan, and without it no gap can be measured, so its failure stops the plan.
 */
async function executeAll(plan: readonly Planned[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const planned of plan) {
    const outcome = await execute(planned);
    outcomes.push(outcome);
    if (outcome.failure && planned.source.key === BASELINE.key) break;
  }
  return outcomes;
}

async function execute(planned: Planned): Promise<Outcome> {
  const folder = path.join(out, planned.id);
  if (values.resume) {
    const previous = await completedResult(planned, folder);
    if (previous) {
      console.log(`\n↺ ${planned.id}: reusing the completed result in ${folder} (same config)`);
      const load = await readFile(path.join(folder, LOAD_FILE), 'utf8').then(
        (text) => runLoadSchema.safeParse(JSON.parse(text)).data,
        () => undefined,
      );
      return { planned, metrics: previous, reused: true, ...(load ? { load } : {}) };
    }
  }
  const before = await describeMachine();
  const code = await runFlambda(['run', planned.file, '--id', planned.id, '--out', out]);
  const { loadAverage } = withEndLoad(before);
  const load = { start: loadAverage.start, end: loadAverage.end ?? loadAverage.start };
  await writeFile(path.join(folder, LOAD_FILE), `${JSON.stringify(load)}\n`).catch(() => undefined);
  const metrics = await loadExperimentMetrics(folder).catch(() => undefined);
  if (code === 0 && metrics?.summary?.state === 'completed') return { planned, metrics, reused: false, load };
  const status = await loadExperimentStatus(folder).catch(() => undefined);
  const reasons = status?.errors?.length ? `: ${status.errors.join('; ')}` : '';
  const failure = `flambda run exited with ${code}${status ? `, experiment ${status.state} at round ${status.round}` : ''}${reasons} (see ${folder} and ${path.join(out, 'flambda-local.log')})`;
  return { planned, ...(metrics ? { metrics } : {}), failure, reused: false, load };
}

async function completedResult(planned: Planned, folder: string): Promise<ExperimentMetrics | undefined> {
  const ranWith = await readFile(path.join(folder, 'config.json'), 'utf8').catch(() => undefined);
  if (ranWith !== planned.text) return undefined;
  const metrics = await loadExperimentMetrics(folder).catch(() => undefined);
  return metrics?.summary?.state === 'completed' ? metrics : undefined;
}


// ---------------------------------------------------------------------------------------------------------------
// The page

interface PageInput {
  readonly finals: readonly Outcome[];
  readonly tuning: readonly Outcome[];
  readonly strategies: readonly SourceConfig[];
  readonly host: MachineInfo;
  readonly totalMs: number;
}

interface Completed {
  readonly outcome: Outcome;
  readonly metrics: ExperimentMetrics;
  readonly label: string;
}

function renderPage(input: PageInput): { markdown: string; chart?: string } {
  const finals = completedOnly(input.finals);
  const baseline = finals.find((run) => run.outcome.planned.source.key === BASELINE.key);
  const skew = finals.filter((run) => run !== baseline);
  const chart = baseline && skew.length > 0 ? accuracyChart([baseline, ...skew]) : undefined;
  const anyMetrics = [...finals, ...completedOnly(input.tuning)][0]?.metrics;

  const sections = [
    header(input, anyMetrics),
    input.finals.length > 0 ? resultSection(input.finals, baseline, skew, chart !== undefined) : '',
    input.tuning.length > 0 ? tuningSection(input.tuning, input.strategies, skew) : untunedNote(),
    partitionSection(skew[0]?.metrics ?? completedOnly(input.tuning).find((run) => run.metrics.partition.kind === 'shards')?.metrics),
    scopeSection(),
  ];
  return { markdown: `${sections.filter(Boolean).join('\n\n')}\n`, ...(chart ? { chart } : {}) };
}

function completedOnly(outcomes: readonly Outcome[]): Completed[] {
  return outcomes.flatMap((outcome) =>
    outcome.metrics && !outcome.failure ? [{ outcome, metrics: outcome.metrics, label: runLabel(outcome.planned) }] : [],
  );
}

function runLabel(planned: Planned): string {
  if (planned.source.key === BASELINE.key) return BASELINE.label;
  const name = DISPLAY_NAMES[planned.config.strategy.name];
  // Two configs of one strategy (e.g. fedadam.json and fedadam-slow.json) need tellable-apart labels.
  return planned.source.key === planned.config.strategy.name ? name : `${name} (${planned.source.key})`;
}

function strategyParameters(strategy: StrategyConfig): string {
  const entries = Object.entries(strategy).filter(([key]) => key !== 'name');
  return entries.length === 0 ? '—' : entries.map(([key, value]) => `${PARAMETER_SYMBOLS[key] ?? key} ${String(value)}`).join(', ');
}

function percent(fraction: number): string {
  return Number.isFinite(fraction) ? `${(fraction * 100).toFixed(2)} %` : '—';
}

/** Signed, two decimals, no unit: the column header says "points". */
function points(value: number): string {
  return formatPoints(value, 2).replace(' pp', '');
}

function finalAccuracy(metrics: ExperimentMetrics): number {
  return metrics.rounds.at(-1)?.accuracy ?? Number.NaN;
}

function wallTime(metrics: ExperimentMetrics): string {
  return formatDuration(metrics.summary?.wallMs ?? Number.NaN);
}

/** Label-skewed runs swing from round to round; the best round next to the final one shows how much. */
function bestRound(metrics: ExperimentMetrics): string {
  const best = bestRoundOf(metrics.rounds);
  return best ? `${percent(best.accuracy)} (round ${best.round})` : '—';
}

function firstRoundReaching(metrics: ExperimentMetrics, accuracy: number): number | undefined {
  return metrics.rounds.find((round) => round.accuracy >= accuracy)?.round;
}

function describeSetting(config: ExperimentConfig): string {
  const local = config.local;
  const optimizer = local.optimizer === 'sgd' ? `SGD (lr ${local.learningRate}, momentum ${local.momentum})` : `Adam (lr ${local.learningRate})`;
  const data =
    config.samplesPerClient === null ? 'all 60,000 training images' : `**${config.samplesPerClient.toLocaleString('en-US')} training images per client**`;
  const test = config.testSamples === null ? 'all 10,000 test images' : `**the first ${config.testSamples.toLocaleString('en-US')} test images**`;
  return `MNIST (${data}; accuracy on ${test}), ${config.clients} clients, ${config.rounds} rounds, E = ${local.epochs}, B = ${local.batchSize}, ${optimizer}, \`${config.model}\`, seed ${config.seed}`;
}

function header(input: PageInput, anyMetrics: ExperimentMetrics | undefined): string {
  const { host } = input;
  const outcomes = [...input.tuning, ...input.finals];
  const reference = input.finals[0]?.planned.config ?? input.tuning[0]?.planned.config;
  const summaries = outcomes.flatMap((outcome) => (outcome.metrics?.summary ? [outcome.metrics.summary] : []));
  const minute = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
  const starts = summaries.map((summary) => summary.startedAt).sort();
  const ends = summaries.map((summary) => summary.finishedAt).sort();
  const when = starts.length > 0 ? `between ${minute(starts[0]!)} and ${minute(ends.at(-1)!)}` : `on ${minute(new Date().toISOString())}`;
  const runWallMs = summaries.reduce((sum, summary) => sum + summary.wallMs, 0);

  const loads = outcomes.flatMap((outcome) => (outcome.load ? [outcome.load.start, outcome.load.end] : []));
  const unrecorded = outcomes.filter((outcome) => !outcome.load).length;
  const loadText =
    loads.length > 0
      ? `1-minute load average ${Math.min(...loads)} to ${Math.max(...loads)} at the runs' starts and ends${unrecorded > 0 ? ` (not recorded for ${unrecorded} reused runs)` : ''}`
      : 'load average not recorded for these reused runs';
  const reused = outcomes.filter((outcome) => outcome.reused);
  const invocation =
    reused.length === 0
      ? `this invocation took ${formatDuration(input.totalMs)}.`
      : reused.length === outcomes.length
        ? 'every run was reused from an earlier invocation with the same config (`--resume`) and this page rendered from their results.'
        : `this invocation took ${formatDuration(input.totalMs)}, reusing ${reused.length} of the ${outcomes.length} runs from an earlier invocation with the same config (\`--resume\`).`;
  const partial = !publishing
    ? '\n\n> **Not the published measurement**: this page comes from a partial or reduced run (`--only`, `--quick` or `--tune-only`).'
    : '';
  return `# Label skew: how close each strategy gets to IID

Measured by \`npm run bench:noniid${input.tuning.length > 0 ? ' -- --tune' : ''}\` ${when}. The label-skew
experiment — ${reference ? describeSetting(reference) : 'see the configs'}, \`partition\` \`{ "kind": "shards", "shardsPerClient": 2 }\` —
once per config in [\`examples/noniid/\`](../examples/noniid/) (one per built-in strategy, with its tuned values), against IID
FedAvg ([\`examples/mnist-iid.json\`](../examples/mnist-iid.json)), on the embedded local cloud, one run after the other.${partial}

- Machine: ${host.cpuModel}, ${host.cores} cores, ${host.memoryGiB} GiB, ${host.os}, Node ${host.nodeVersion}; ${loadText}:
  other work on the machine slows every run, so compare wall times with care.
- Backend: **${anyMetrics ? describeBackend(anyMetrics.backend) : '—'}**.
- Time: the ${summaries.length} runs' wall times add up to ${formatDuration(runWallMs)}, each from the first round's fan-out to the final
  evaluation (partitioning and the emulator's start-up add about 20 s per run); ${invocation}

`.trimEnd();
}

function resultSection(outcomes: readonly Outcome[], baseline: Completed | undefined, skew: readonly Completed[], withChart: boolean): string {
  const target = percent(TARGET_ACCURACY).replace('.00', '');
  const rows = outcomes.map((outcome) => {
    const label = runLabel(outcome.planned);
    const config = `[\`${outcome.planned.source.file}\`](../${outcome.planned.source.file})`;
    const parameters = strategyParameters(outcome.planned.config.strategy);
    if (outcome.failure || !outcome.metrics) return `| ${label} | ${config} | ${parameters} | **did not complete**: ${outcome.failure ?? 'no metrics'} | | | | |`;
    const metrics = outcome.metrics;
    const gap = baseline ? (finalAccuracy(metrics) - finalAccuracy(baseline.metrics)) * 100 : Number.NaN;
    const reached = firstRoundReaching(metrics, TARGET_ACCURACY);
    return `| ${label} | ${config} | ${parameters} | ${percent(finalAccuracy(metrics))} | ${outcome === baseline?.outcome ? 'baseline' : points(gap)} | ${
      reached === undefined ? `not within ${metrics.rounds.length} rounds` : `round ${reached}`
    } | ${bestRound(metrics)} | ${wallTime(metrics)} |`;
  });

  const perRound = [baseline, ...skew].filter((run): run is Completed => run !== undefined);
  const comparison = perRound.length > 0 ? compareAccuracy(perRound.map((run) => run.metrics)) : undefined;
  const roundTable = comparison
    ? [
        `| round | ${perRound.map((run) => run.label).join(' | ')} |`,
        `|---|${perRound.map(() => '---').join('|')}|`,
        ...comparison.rows.map((row) => `| ${row.round} | ${row.accuracy.map(percent).join(' | ')} |`),
      ].join('\n')
    : '';

  return `## Results

${verdict(baseline, skew)}

| strategy | config | values | final accuracy | gap to IID FedAvg (points) | first round ≥ ${target} | best round | wall time |
|---|---|---|---|---|---|---|---|
${rows.join('\n')}
${withChart ? '\n![Test accuracy per round, one line per strategy](img/noniid-accuracy.svg)\n' : ''}
### Round by round

Test accuracy of the global model after each round.

${roundTable}`;
}

/** The honest paragraph: computed from the numbers above, so it cannot drift from them. */
function verdict(baseline: Completed | undefined, skew: readonly Completed[]): string {
  if (!baseline) return '**IID FedAvg did not complete, so there is no baseline to measure the gap against.**';
  if (skew.length === 0) return '**No label-skew run completed.**';
  const iid = finalAccuracy(baseline.metrics);
  const gapOf = (run: Completed) => (finalAccuracy(run.metrics) - iid) * 100;
  const ranked = [...skew].sort((a, b) => finalAccuracy(b.metrics) - finalAccuracy(a.metrics));
  const best = ranked[0]!;
  const bestGap = gapOf(best);
  const met = bestGap >= -GOAL_POINTS;
  const bestValues = strategyParameters(best.outcome.planned.config.strategy);
  const sentences = [
    `**Goal: within ${GOAL_POINTS} points of IID FedAvg (${percent(iid)}) after ${baseline.metrics.rounds.length} rounds on label skew.**`,
    `The best strategy here, ${best.label}${bestValues === '—' ? '' : ` (${bestValues})`}, ends at ${percent(finalAccuracy(best.metrics))}, ${Math.abs(bestGap).toFixed(2)} points ${bestGap < 0 ? 'below' : 'above'} IID FedAvg:`,
    met ? `**the goal is met**${bestGap > -GOAL_POINTS + 0.5 ? '' : ', with less than half a point to spare'}.` : `**the goal is missed by ${(-bestGap - GOAL_POINTS).toFixed(2)} points**.`,
  ];
  const fedavg = skew.find((run) => run.outcome.planned.config.strategy.name === 'fedavg');
  if (fedavg) {
    const fedavgGap = gapOf(fedavg);
    const remedies = skew.filter((run) => run !== fedavg);
    const worse = remedies.filter((run) => finalAccuracy(run.metrics) < finalAccuracy(fedavg.metrics));
    if (fedavg === best) {
      sentences.push(
        remedies.length === 0
          ? ''
          : `That is plain FedAvg: none of the ${remedies.length} remedies ends above it (${remedies
              .map((run) => `${run.label} ${percent(finalAccuracy(run.metrics))}`)
              .join(', ')}).`,
      );
    } else {
      const closed = fedavgGap < 0 ? ((bestGap - fedavgGap) / -fedavgGap) * 100 : Number.NaN;
      sentences.push(
        `Plain FedAvg on the same label skew ends at ${percent(finalAccuracy(fedavg.metrics))} (${points(fedavgGap)} points)` +
          (Number.isFinite(closed) ? `; ${best.label} closes ${closed.toFixed(0)} % of that gap.` : '.'),
      );
      if (worse.length > 0) sentences.push(`Below plain FedAvg: ${worse.map((run) => `${run.label} (${percent(finalAccuracy(run.metrics))})`).join(', ')}.`);
    }
  }
  const reachedTarget = skew.flatMap((run) => {
    const round = firstRoundReaching(run.metrics, TARGET_ACCURACY);
    return round === undefined ? [] : [`${run.label} (round ${round})`];
  });
  const baselineRound = firstRoundReaching(baseline.metrics, TARGET_ACCURACY);
  sentences.push(
    `IID FedAvg passes ${percent(TARGET_ACCURACY).replace('.00', '')} ${baselineRound === undefined ? 'in none of its rounds' : `in round ${baselineRound}`}; on label skew ` +
      (reachedTarget.length === 0 ? 'no strategy does.' : `${reachedTarget.join(', ')} ${reachedTarget.length === 1 ? 'does' : 'do'}, the others not within ${baseline.metrics.rounds.length} rounds.`),
  );
  const runnerUp = ranked[1];
  if (runnerUp && (finalAccuracy(best.metrics) - finalAccuracy(runnerUp.metrics)) * 100 < 1) {
    sentences.push(
      `${best.label} leads ${runnerUp.label} by only ${((finalAccuracy(best.metrics) - finalAccuracy(runnerUp.metrics)) * 100).toFixed(2)} points.`,
    );
  }
  const drop = largestDrop(skew);
  if (drop && drop.points > 1) {
    sentences.push(
      `On label skew accuracy does not rise steadily: ${drop.label} fell ${drop.points.toFixed(2)} points in round ${drop.round}, so one round more or fewer can move a final accuracy by that much.`,
    );
  }
  sentences.push(
    'Every number is one run with one seed (42): we did not measure the run-to-run spread here, so read differences of a point or two between strategies as unsettled.',
  );
  return sentences.filter(Boolean).join(' ');
}

function largestDrop(runs: readonly Completed[]): { label: string; round: number; points: number } | undefined {
  let largest: { label: string; round: number; points: number } | undefined;
  for (const run of runs) {
    run.metrics.rounds.forEach((round, index) => {
      const previous = run.metrics.rounds[index - 1];
      const fall = previous ? (previous.accuracy - round.accuracy) * 100 : Number.NaN;
      if (fall > (largest?.points ?? 0)) largest = { label: run.label, round: round.round, points: fall };
    });
  }
  return largest;
}

function tuningSection(outcomes: readonly Outcome[], strategies: readonly SourceConfig[], finals: readonly Completed[]): string {
  const reference = outcomes[0]?.planned.config;
  const setting = reference ? describeSetting(reference) : '';
  const fullShard = reference ? MNIST_TRAINING_IMAGES / reference.clients : Number.NaN;
  const fraction = reference?.samplesPerClient ? `1/${Math.round(fullShard / reference.samplesPerClient)}` : 'a fraction';
  const iid = completedOnly(outcomes).find((run) => run.outcome.planned.source.key === BASELINE.key);
  const notes: string[] = [];
  const rows = outcomes.map((outcome) => {
    const label = runLabel(outcome.planned);
    const parameters = strategyParameters(outcome.planned.config.strategy);
    if (!outcome.metrics || outcome.failure) return `| ${label} | ${parameters} | **did not complete** | | |`;
    const accuracy = finalAccuracy(outcome.metrics);
    const gap = iid && outcome !== iid.outcome ? points((accuracy - finalAccuracy(iid.metrics)) * 100) : '';
    const source = strategies.find((candidate) => candidate === outcome.planned.source);
    const inConfig = source && sameStrategy(source.config.strategy, outcome.planned.config.strategy) ? 'yes' : '';
    return `| ${label} | ${parameters} | ${percent(accuracy)} | ${gap} | ${inConfig} |`;
  });

  for (const source of strategies) {
    const candidates = completedOnly(outcomes).filter((run) => run.outcome.planned.source === source);
    if (candidates.length < 2) continue;
    const best = candidates.reduce((a, b) => (finalAccuracy(b.metrics) > finalAccuracy(a.metrics) ? b : a));
    if (!sameStrategy(source.config.strategy, best.outcome.planned.config.strategy)) {
      notes.push(
        `\`${source.file}\` uses ${strategyParameters(source.config.strategy)}, not this grid's best (${strategyParameters(best.outcome.planned.config.strategy)}).`,
      );
    }
  }

  const remarks = [...notes, transferNote(completedOnly(outcomes), finals)].filter(Boolean);
  return `## How the values were tuned

Each strategy's candidates (the \`TUNING_GRID\` in \`bench/noniid.ts\`: the documented default first, then the values the
papers and the sanity check in [strategies.md](strategies.md) point to) ran at a reduced setting: ${setting}, label skew
as above. The best final accuracy per strategy went into its config. A reduced run takes ${fraction} of the local steps per
round, so clients drift less than with full data: the best value there is a guide, not a guarantee — the table above is
what counts. The grid is small because a candidate costs minutes on this machine.

| strategy | values | final accuracy (reduced) | gap to IID FedAvg at this setting (points) | in the config |
|---|---|---|---|---|
${rows.join('\n')}
${remarks.length > 0 ? `\n${remarks.join(' ')}` : ''}`;
}

/** Whether the reduced setting picked the right strategies: which beat FedAvg there, and which with full data. */
function transferNote(tuned: readonly Completed[], finals: readonly Completed[]): string {
  const aheadOfFedavg = (runs: readonly Completed[]) => {
    const skewed = runs.filter((run) => run.outcome.planned.source.key !== BASELINE.key);
    const fedavg = skewed.find((run) => run.outcome.planned.config.strategy.name === 'fedavg');
    if (!fedavg) return undefined;
    return skewed.filter((run) => run !== fedavg && finalAccuracy(run.metrics) > finalAccuracy(fedavg.metrics));
  };
  const chosen = tuned.filter((run) => sameStrategy(run.outcome.planned.source.config.strategy, run.outcome.planned.config.strategy));
  const reduced = aheadOfFedavg(chosen);
  const full = aheadOfFedavg(finals);
  if (!reduced || !full) return '';
  const names = (runs: readonly Completed[]) => (runs.length === 0 ? 'none' : runs.map((run) => run.label).join(', '));
  return `Ahead of plain FedAvg with the values chosen: ${names(reduced)} at the reduced setting; ${names(full)} with full data.`;
}

function untunedNote(): string {
  return `## How the values were tuned

This run did not repeat the tuning (\`npm run bench:noniid -- --tune\` does, at samplesPerClient ${TUNING_CAP.samplesPerClient}, with the
\`TUNING_GRID\` in \`bench/noniid.ts\`); the values are those in the configs.`;
}

function sameStrategy(a: StrategyConfig, b: StrategyConfig): boolean {
  // Parsed configs list a strategy's keys in the schema's order, so equal settings serialise identically.
  return JSON.stringify(a) === JSON.stringify(b);
}

function partitionSection(metrics: ExperimentMetrics | undefined): string {
  if (!metrics) return '';
  const rows = metrics.partition.clients.map((client) => {
    const digits = client.labelHistogram.flatMap((count, digit) => (count > 0 ? [`${digit}×${count.toLocaleString('en-US')}`] : []));
    return `| ${client.clientId} | ${client.samples.toLocaleString('en-US')} | ${digits.length} | ${digits.join(', ')} |`;
  });
  const digitCounts = metrics.partition.clients.map((client) => client.labelHistogram.filter((count) => count > 0).length);
  const fewest = Math.min(...digitCounts);
  const most = Math.max(...digitCounts);
  return `## Who holds which digits

Every label-skew run deals the same shards (seed ${metrics.partition.seed}). Shards of the label-sorted training set straddle
label boundaries, so these clients hold ${fewest === most ? fewest : `${fewest}–${most}`} digits each, not exactly 2 (from \`${metrics.experimentId}\`):

| client | samples | digits | digit × samples |
|---|---|---|---|
${rows.join('\n')}`;
}

function scopeSection(): string {
  return `## What is not here

- Client sampling: with 5 clients, training fewer per round only removes data from each round; it is meant for large
  federations ([config.md](config.md#client-sampling)).
- Personalization (FedPer) reports each client's accuracy with its own local layers, a different metric from the
  global model's test accuracy compared here.
- Local training (E, B, the client learning rate) is the same for every strategy and for the baseline, so the gaps measure
  the strategies alone.`;
}

// ---------------------------------------------------------------------------------------------------------------
// The chart

const BLACK_SLOT = 6;
const FAINT_YELLOW_SLOT = 7;

/** The baseline in black, the reference every line is read against; no strategy in black or the faint yellow. */
function colourSlot(run: Completed, position: number): number {
  if (run.outcome.planned.source.key === BASELINE.key) return BLACK_SLOT;
  const strategyPosition = position - 1;
  return strategyPosition < BLACK_SLOT ? strategyPosition : strategyPosition + (FAINT_YELLOW_SLOT - BLACK_SLOT + 1);
}

function accuracyChart(runs: readonly Completed[]): string {
  return lineChartSvgFile({
    id: 'noniid-accuracy',
    title: 'Test accuracy per round on label skew, against IID FedAvg',
    xLabel: 'Round',
    yLabel: 'Accuracy',
    series: runs.map((run, position) => ({
      name: run.label,
      colourIndex: colourSlot(run, position),
      points: run.metrics.rounds.map((round) => ({ x: round.round, y: round.accuracy })),
    })),
    formatY: (value) => percent(value),
    formatTick: (value) => `${Math.round(value * 100)} %`,
    yBounds: { min: 0, max: 1 },
  });
}

// Last, so every constant above is initialised before the first run reads it.
try {
  process.exitCode = await main();
} catch (error) {
  if (!(error instanceof BenchError)) throw error;
  console.error(`bench:noniid: ${error.message}`);
  process.exitCode = 1;
}
