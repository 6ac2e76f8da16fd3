import type { ExperimentConfig } from '../../shared/config/schema.js';
import { describeBackend } from '../../shared/report/digest.js';
import { formatDuration, lineChartSvgFile } from '../../shared/report/index.js';
import type { MachineInfo } from '../machine.js';
import { spreadChartSvg } from './chart.js';
import { configLabel, configValues, meanSd, percent, points, usesSharedData } from './labels.js';
import { BASELINE_KEY, DIRICHLET_ALPHAS, isLabelSkew, type ConfigPatch, type Planned, type Scenario, type SourceConfig } from './plan.js';
import type { Outcome } from './run.js';
import { checkGoal, finalOf, firstRoundReaching, summarise, type SeedResult, type SeedSummary } from './stats.js';
import { extraSections, torchSection, tuningSection } from './page-sections.js';
import type { TorchRun } from './torch-reference.js';

export const GOAL_MEAN_POINTS = 2;
export const GOAL_WORST_POINTS = 3;
export const TARGET_ACCURACY = 0.95;

export interface PageInput {
  readonly baseline: SourceConfig;
  readonly sources: readonly SourceConfig[];
  readonly planning: { readonly main: readonly Planned[]; readonly tuning: readonly Planned[]; readonly dirichlet: readonly Planned[] };
  readonly outcomes: { readonly main: readonly Outcome[]; readonly tuning: readonly Outcome[]; readonly dirichlet: readonly Outcome[] };
  readonly torch: readonly TorchRun[];
  readonly tuningGrid: Readonly<Record<string, readonly ConfigPatch[]>>;
  readonly seeds: number;
  readonly quick: boolean;
  readonly host: MachineInfo;
  readonly totalMs: number;
  readonly command: string;
}

/** One configuration in one scenario across its seeds: what ran, what completed, and the statistics. */
export interface Row {
  readonly source: SourceConfig;
  readonly config: ExperimentConfig;
  readonly label: string;
  readonly planned: readonly Planned[];
  readonly completed: readonly (Outcome & { readonly metrics: NonNullable<Outcome['metrics']> })[];
  readonly failed: readonly Outcome[];
  readonly summary: SeedSummary | undefined;
  /** every planned seed completed */
  readonly complete: boolean;
}

export function rowFor(source: SourceConfig, scenario: Scenario, planned: readonly Planned[], outcomes: readonly Outcome[]): Row {
  const mine = planned.filter((item) => item.source === source && JSON.stringify(item.scenario) === JSON.stringify(scenario));
  const byId = new Map(outcomes.map((outcome) => [outcome.planned.id, outcome]));
  const found = mine.flatMap((item) => {
    const outcome = byId.get(item.id);
    return outcome ? [outcome] : [];
  });
  const completed = found.flatMap((outcome) => (outcome.metrics && !outcome.failure ? [{ ...outcome, metrics: outcome.metrics }] : []));
  const seeds: SeedResult[] = completed.map((outcome) => ({
    seed: outcome.planned.seed,
    accuracy: outcome.metrics.rounds.map((round) => round.accuracy),
    wallMs: outcome.metrics.summary?.wallMs ?? Number.NaN,
  }));
  const config = mine[0]?.config ?? source.config;
  return {
    source,
    config,
    label: configLabel(config, source.key === BASELINE_KEY),
    planned: mine,
    completed,
    failed: found.filter((outcome) => outcome.failure),
    summary: summarise(seeds),
    complete: mine.length > 0 && completed.length === mine.length,
  };
}

export function renderPage(input: PageInput): { markdown: string; images: Record<string, string> } {
  const main = (source: SourceConfig) => rowFor(source, { kind: 'main' }, input.planning.main, input.outcomes.main);
  const baseline = main(input.baseline);
  const skew = input.sources.filter(isLabelSkew).map(main);
  const iidChecks = input.sources.filter((source) => !isLabelSkew(source)).map(main);
  const images: Record<string, string> = {};
  const withData = [baseline, ...skew].filter((row) => row.summary);
  if (baseline.summary && withData.length > 1) {
    images['noniid-spread.svg'] = spreadChartSvg({
      title: `Final accuracy on label skew per seed, against IID FedAvg`,
      goalPoints: GOAL_MEAN_POINTS,
      rows: withData.map((row) => ({ label: row.label, finals: row.summary!.finals, seeds: row.summary!.seeds.map((s) => s.seed), baseline: row === baseline })),
    });
    images['noniid-accuracy.svg'] = lineChartSvgFile({
      id: 'noniid-accuracy',
      title: 'Mean test accuracy per round over the seeds',
      xLabel: 'Round',
      yLabel: 'Accuracy',
      series: withData.map((row, position) => ({
        name: row.label,
        colourIndex: row === baseline ? 6 : position - 1 < 6 ? position - 1 : position + 1,
        points: row.summary!.perRound.map((round, r) => ({ x: r + 1, y: round.mean })),
      })),
      formatY: (value) => percent(value),
      formatTick: (value) => `${Math.round(value * 100)} %`,
      yBounds: { min: 0, max: 1 },
    });
  }
  const sections = [
    header(input, baseline, skew),
    verdict(baseline, skew, iidChecks),
    resultSection(baseline, skew, Boolean(images['noniid-spread.svg'])),
    iidSection(baseline, iidChecks),
    dirichletSection(input, baseline),
    torchSection(input, skew),
    tuningSection(input),
    ...extraSections(skew),
  ];
  return { markdown: `${sections.filter(Boolean).join('\n\n')}\n`, images };
}

function header(input: PageInput, baseline: Row, skew: readonly Row[]): string {
  const all = [...input.outcomes.main, ...input.outcomes.tuning, ...input.outcomes.dirichlet];
  const summaries = all.flatMap((outcome) => (outcome.metrics?.summary ? [outcome.metrics.summary] : []));
  const minute = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
  const starts = summaries.map((summary) => summary.startedAt).sort();
  const ends = summaries.map((summary) => summary.finishedAt).sort();
  const when = starts.length > 0 ? `between ${minute(starts[0]!)} and ${minute(ends.at(-1)!)}` : `on ${minute(new Date().toISOString())}`;
  const loads = all.flatMap((outcome) => (outcome.load ? [outcome.load.start, outcome.load.end] : []));
  const { host } = input;
  const loadText = loads.length > 0 ? `1-minute load average ${Math.min(...loads)} to ${Math.max(...loads)} at the runs' starts and ends` : 'load average not recorded';
  const wallMs = summaries.reduce((sum, summary) => sum + summary.wallMs, 0);
  // Runs of earlier invocations may have run on an earlier kernel (e.g. before FMA): name each, with its count.
  const backends = new Map<string, number>();
  for (const outcome of all) {
    if (!outcome.metrics?.backend) continue;
    const text = describeBackend(outcome.metrics.backend);
    backends.set(text, (backends.get(text) ?? 0) + 1);
  }
  const backendText = backends.size === 0 ? '—' : backends.size === 1 ? `**${[...backends.keys()][0]}**` : [...backends].map(([text, count]) => `**${text}** (${count} runs)`).join(', ');
  const setting = skew.find((row) => row.config.strategy.name === 'fedavg' && !row.config.local.objective)?.config ?? skew[0]?.config ?? baseline.config;
  const seeds = baseline.planned.map((item) => item.seed);
  const pending = [baseline, ...skew].filter((row) => !row.complete);
  return `# Label skew: how close each strategy and local objective gets to IID

Measured by \`${input.command}\`${all.some((outcome) => outcome.reused) ? ' (with runs of earlier invocations whose config was unchanged)' : ''} ${when}.
The label-skew experiment — ${describeSetting(setting)}, \`partition\` \`${JSON.stringify(setting.partition)}\` — once per
config in [\`examples/noniid/\`](../examples/noniid/) and per seed (${seeds.join(', ')}; the seed also deals the partition),
against IID FedAvg ([\`examples/mnist-iid.json\`](../examples/mnist-iid.json)), on the embedded local cloud, one run after the other.${
    input.quick ? '\n\n> **Smoke run (`--quick`)**: every run capped at a few hundred samples per client; not a measurement.' : ''
  }${pending.length > 0 ? `\n\n> **Incomplete**: ${pending.length} configuration${pending.length === 1 ? ' is' : 's are'} still pending (${pending.map((row) => `${row.label}: ${row.completed.length} of ${row.planned.length} seeds`).join('; ')}); see [Pending](#pending).` : ''}

- Machine: ${host.cpuModel}, ${host.cores} cores, ${host.memoryGiB} GiB, ${host.os}, Node ${host.nodeVersion}; ${loadText}.
  The machine was shared with other work, so wall times say little; accuracies do not depend on it.
- Backend: ${backendText}.
- Time: the ${summaries.length} runs' wall times add up to ${formatDuration(wallMs)}, each from the first round's fan-out to the final evaluation.`;
}

export function describeSetting(config: ExperimentConfig): string {
  const local = config.local;
  const optimizer = local.optimizer === 'sgd' ? `SGD (lr ${local.learningRate}, momentum ${local.momentum})` : `Adam (lr ${local.learningRate})`;
  const data = config.samplesPerClient === null ? 'all 60,000 training images' : `**${config.samplesPerClient.toLocaleString('en-US')} training images per client**`;
  const test = config.testSamples === null ? 'all 10,000 test images' : `**the first ${config.testSamples.toLocaleString('en-US')} test images**`;
  return `MNIST (${data}; accuracy on ${test}), ${config.clients} clients, ${config.rounds} rounds, E = ${local.epochs}, B = ${local.batchSize}, ${optimizer}, \`${config.model}\``;
}

function verdict(baseline: Row, skew: readonly Row[], iidChecks: readonly Row[]): string {
  if (!baseline.summary) return '## Verdict\n\n**IID FedAvg has no completed run yet, so there is no baseline to measure the gap against.**';
  const base = baseline.summary;
  const ready = skew.filter((row) => row.complete && row.summary);
  if (ready.length === 0) return '## Verdict\n\n**No label-skew configuration has completed all its seeds yet.**';
  const byMean = [...ready].sort((a, b) => b.summary!.mean - a.summary!.mean);
  const best = byMean[0]!;
  const goal = checkGoal(best.summary!, base, GOAL_MEAN_POINTS, GOAL_WORST_POINTS);
  const n = base.seeds.length;
  const sentences = [
    `**Goal: the best built-in configuration within ${GOAL_MEAN_POINTS} points of IID FedAvg (${meanSd(base.mean, base.sd)} over ${n} seeds) after ${baseline.config.rounds} rounds on label skew, averaged over the seeds, with no seed more than ${GOAL_WORST_POINTS} points below.**`,
    `The best here, ${best.label}${configValues(best.config) === '—' ? '' : ` (${configValues(best.config)})`}, averages ${meanSd(best.summary!.mean, best.summary!.sd)}: ${points(goal.meanGap)} points from IID FedAvg, its worst seed ${points(goal.worstGap)}.`,
    goal.met
      ? '**The goal is met.**'
      : `**The goal is missed**: by ${goal.meanMet ? '0' : (-goal.meanGap - GOAL_MEAN_POINTS).toFixed(2)} points on the mean and ${goal.worstMet ? '0' : (-goal.worstGap - GOAL_WORST_POINTS).toFixed(2)} points on the worst seed.`,
  ];
  const pure = byMean.find((row) => !usesSharedData(row.config));
  const shared = byMean.find((row) => usesSharedData(row.config));
  // The goal counts every built-in configuration; a shared-data result is not pure FL, so both are reported apart.
  const against = (row: Row, what: string) => {
    const check = checkGoal(row.summary!, base, GOAL_MEAN_POINTS, GOAL_WORST_POINTS);
    const verdictText = check.met
      ? 'within the goal'
      : `${check.meanMet ? 'the mean within the goal' : `the mean ${(-check.meanGap - GOAL_MEAN_POINTS).toFixed(2)} points short`}, ${check.worstMet ? 'the worst seed within it' : `the worst seed ${(-check.worstGap - GOAL_WORST_POINTS).toFixed(2)} points short`}`;
    return `${what} the best is ${row.label}${configValues(row.config) === '—' ? '' : ` (${configValues(row.config)})`} at ${meanSd(row.summary!.mean, row.summary!.sd)}: ${points(check.meanGap)} points from IID FedAvg, worst seed ${points(check.worstGap)} (${verdictText}).`;
  };
  if (pure) sentences.push(against(pure, '**Without shared data** (pure federated learning),'));
  if (shared) {
    sentences.push(against(shared, `**With shared data** (not pure FL: a public, class-balanced ${percentOfTrainingSet(shared.config)} of the training set goes from the server to every client; see [Shared data](#shared-data)),`));
  } else if (!skew.some((row) => usesSharedData(row.config))) {
    sentences.push('No configuration here uses shared data, so this is also the best result without shared data.');
  }
  const fedavg = ready.find((row) => row.config.strategy.name === 'fedavg' && !row.config.local.objective && !usesSharedData(row.config));
  if (fedavg && fedavg !== best) {
    const fedavgGap = (fedavg.summary!.mean - base.mean) * 100;
    const closed = fedavgGap < 0 ? ((goal.meanGap - fedavgGap) / -fedavgGap) * 100 : Number.NaN;
    sentences.push(
      `Plain FedAvg on the same label skew averages ${meanSd(fedavg.summary!.mean, fedavg.summary!.sd)} (${points(fedavgGap)} points, worst seed ${percent(finalOf(fedavg.summary!.worst))})${Number.isFinite(closed) ? `; ${best.label} closes ${closed.toFixed(0)} % of that gap` : ''}.`,
    );
    const gains = ready
      .filter((row) => row.config.strategy.name === 'fedavg' && row.config.local.objective && row !== fedavg && !usesSharedData(row.config))
      .map((row) => `${row.label} ${points((row.summary!.mean - fedavg.summary!.mean) * 100)}`);
    if (gains.length > 0) sentences.push(`Local objectives against plain FedAvg (difference of means, points): ${gains.join(', ')}.`);
    const sharedGains = ready
      .filter((row) => row.config.strategy.name === 'fedavg' && usesSharedData(row.config))
      .map((row) => `${row.label} ${points((row.summary!.mean - fedavg.summary!.mean) * 100)}`);
    if (sharedGains.length > 0) sentences.push(`Shared data against plain FedAvg (difference of means, points): ${sharedGains.join(', ')}.`);
  }
  const partial = skew.filter((row) => !row.complete);
  if (partial.length > 0) sentences.push(`Not ranked because not every seed has run yet: ${partial.map((row) => row.label).join(', ')}.`);
  const iid = iidChecks.filter((row) => row.summary);
  for (const row of iid) {
    const change = (row.summary!.mean - base.mean) * 100;
    const spread = Math.max(row.summary!.sd, base.sd) * 100;
    sentences.push(
      `On IID data, ${row.label} averages ${meanSd(row.summary!.mean, row.summary!.sd)} (${points(change)} points against IID FedAvg${Number.isFinite(spread) ? `; ${Math.abs(change) <= spread ? 'within' : 'beyond'} the larger of the two seed standard deviations, ${spread.toFixed(2)} points` : ''}).`,
    );
  }
  // A default can only be a pure-FL setting: shared data is a deployment decision, never a silent default.
  sentences.push(defaultAdvice(skew, fedavg, iid, base));
  return `## Verdict\n\n${sentences.filter(Boolean).join(' ')}`;
}

/**
 * Whether the best local objective should become the default for label-skewed configs: only if it helps there by more
 * than the seed spread and costs nothing measurable on IID. Only objectives are candidates: a strategy is the user's
 * choice, and shared data is a deployment decision.
 */
function defaultAdvice(skew: readonly Row[], fedavg: Row | undefined, iid: readonly Row[], base: SeedSummary): string {
  const candidates = skew
    .filter((row) => row.complete && row.summary && row.config.local.objective && row.config.strategy.name === 'fedavg' && !usesSharedData(row.config))
    .sort((a, b) => b.summary!.mean - a.summary!.mean);
  const best = candidates[0];
  if (!best || !fedavg?.summary) return '';
  const objective = JSON.stringify(best.config.local.objective);
  const iidCheck = iid.find((row) => JSON.stringify(row.config.local.objective) === objective && row.config.strategy.name === 'fedavg');
  if (!iidCheck) return `**Default?** Whether \`local.objective\` ${objective} could be the default for label-skewed configs needs its IID check, which has not run.`;
  const gain = (best.summary!.mean - fedavg.summary.mean) * 100;
  const gap = (base.mean - fedavg.summary.mean) * 100;
  const iidChange = (iidCheck.summary!.mean - base.mean) * 100;
  const iidSpread = Math.max(iidCheck.summary!.sd, base.sd) * 100;
  const skewSpread = Math.max(best.summary!.sd, fedavg.summary.sd) * 100;
  const harmless = iidChange >= -iidSpread;
  const facts = `\`local.objective\` ${objective} (${best.label}) gains ${points(gain)} points over plain FedAvg on label skew${gap > 0 ? `, ${((gain / gap) * 100).toFixed(0)} % of FedAvg's gap to IID` : ''}, and changes IID FedAvg by ${points(iidChange)} points (${harmless ? 'within' : 'beyond'} the seed spread, ${iidSpread.toFixed(2)} points).`;
  if (harmless && gain > skewSpread) {
    return `**Default?** ${facts} We recommend it for label-skewed configs (\`${best.source.file}\`), but the schema's default stays plain cross-entropy: a default that changes the loss would silently change every existing config's results, the original study's label-skew example stays plain FedAvg so that it reproduces the study${gap - gain > GOAL_MEAN_POINTS ? `, and on its own it leaves ${(gap - gain).toFixed(2)} points of the gap` : ''}.`;
  }
  const closesMost = gap > 0 && gain / gap > 0.5;
  const worstGain = (finalOf(best.summary!.worst) - finalOf(fedavg.summary.worst)) * 100;
  const reason = !harmless
    ? 'it costs accuracy on IID data'
    : `${closesMost ? '' : 'it closes less than half the gap, and '}its gain is smaller than the larger seed standard deviation on label skew (${skewSpread.toFixed(2)} points), so 3 seeds do not establish it`;
  const steadier = worstGain > 0 ? ` It does make label-skew runs steadier: standard deviation ${(best.summary!.sd * 100).toFixed(2)} against ${(fedavg.summary.sd * 100).toFixed(2)} points, worst seed ${points(worstGain)} points; a user with label-skewed clients can opt in (\`${best.source.file}\`).` : '';
  return `**Default?** ${facts} So it should not be a default: ${reason}.${steadier}`;
}

/** "5 %": the configured share of the training set that sharedData makes public. */
function percentOfTrainingSet(config: ExperimentConfig): string {
  return config.sharedData ? `${+(config.sharedData.fraction * 100).toPrecision(3)} %` : '0 %';
}

function seedCells(row: Row, target: number): { perSeed: string; reached: string } {
  const bySeed = new Map(row.summary?.seeds.map((seed) => [seed.seed, seed]) ?? []);
  const cells = row.planned.map((item) => bySeed.get(item.seed));
  return {
    perSeed: cells.map((seed) => (seed ? (finalOf(seed) * 100).toFixed(2) : '…')).join(' / '),
    reached: cells.map((seed) => (seed ? String(firstRoundReaching(seed.accuracy, target) ?? '—') : '…')).join(' / '),
  };
}

function resultSection(baseline: Row, skew: readonly Row[], withChart: boolean): string {
  const base = baseline.summary;
  const seeds = baseline.planned.map((item) => item.seed).join(' / ');
  const target = `${Math.round(TARGET_ACCURACY * 100)} %`;
  const line = (row: Row) => {
    const config = `[\`${row.source.file}\`](../${row.source.file})`;
    const counts = `${row.completed.length} of ${row.planned.length} seeds${row.failed.length > 0 ? `, ${row.failed.length} failed` : ''}`;
    const status = row.complete ? '' : ` (pending: ${counts})`;
    const { perSeed, reached } = seedCells(row, TARGET_ACCURACY);
    if (!row.summary) return `| ${row.label} | ${config} | ${configValues(row.config)} | **pending** (${counts}) | | ${perSeed} | | | ${reached} | |`;
    const s = row.summary;
    const gap = base && row !== baseline ? points((s.mean - base.mean) * 100) : row === baseline ? 'baseline' : '—';
    const worstGap = base && row !== baseline ? points((finalOf(s.worst) - base.mean) * 100) : '';
    const wall = formatDuration(s.seeds.reduce((sum, seed) => sum + seed.wallMs, 0) / s.seeds.length);
    return `| ${row.label} | ${config} | ${configValues(row.config)} | ${meanSd(s.mean, s.sd)}${status} | ${percent(finalOf(s.worst))} (seed ${s.worst.seed}) | ${perSeed} | ${gap} | ${worstGap} | ${reached} | ${wall} |`;
  };
  const rows = [baseline, ...skew];
  const roundCount = Math.max(0, ...rows.map((row) => row.summary?.perRound.length ?? 0));
  const withRounds = rows.filter((row) => row.summary);
  const roundTable = withRounds.length === 0
    ? ''
    : [
        `| round | ${withRounds.map((row) => row.label).join(' | ')} |`,
        `|---|${withRounds.map(() => '---').join('|')}|`,
        ...Array.from({ length: roundCount }, (_, r) => `| ${r + 1} | ${withRounds.map((row) => {
          const round = row.summary!.perRound[r];
          return round ? `${(round.mean * 100).toFixed(2)} (${(round.min * 100).toFixed(1)}–${(round.max * 100).toFixed(1)})` : '—';
        }).join(' | ')} |`),
      ].join('\n');
  return `## Results on label skew

Mean ± sample standard deviation of the final test accuracy over the seeds; the worst seed; each seed's final accuracy
(seeds ${seeds}); the gaps of the mean and of the worst seed to IID FedAvg's mean (the goal: ≥ −${GOAL_MEAN_POINTS} and ≥ −${GOAL_WORST_POINTS});
the first round at or above ${target} per seed (— : not within ${baseline.config.rounds} rounds); mean wall time per run.

| configuration | config | values | mean ± sd | worst seed | per seed | gap of mean (points) | gap of worst seed (points) | round ≥ ${target} | wall time |
|---|---|---|---|---|---|---|---|---|---|
${rows.map(line).join('\n')}
${withChart ? '\n![Final accuracy per seed, one row per configuration](img/noniid-spread.svg)\n\n![Mean test accuracy per round](img/noniid-accuracy.svg)\n' : ''}
### Round by round

Mean test accuracy of the global model over the seeds after each round, in percent, with the lowest and highest seed.

${roundTable}`;
}

function iidSection(baseline: Row, iidChecks: readonly Row[]): string {
  if (iidChecks.length === 0) return '';
  const base = baseline.summary;
  const rows = [baseline, ...iidChecks].map((row) => {
    const config = `[\`${row.source.file}\`](../${row.source.file})`;
    const { perSeed } = seedCells(row, TARGET_ACCURACY);
    if (!row.summary) return `| ${row.label} | ${config} | ${configValues(row.config)} | **pending** | | ${perSeed} | |`;
    const change = base && row !== baseline ? points((row.summary.mean - base.mean) * 100) : 'baseline';
    return `| ${row.label} | ${config} | ${configValues(row.config)} | ${meanSd(row.summary.mean, row.summary.sd)}${row.complete ? '' : ` (pending: ${row.completed.length} of ${row.planned.length} seeds)`} | ${percent(finalOf(row.summary.worst))} | ${perSeed} | ${change} |`;
  });
  return `## On IID data

A local objective must not cost anything where there is no skew: the same objectives on the IID partition, against IID FedAvg.

| configuration | config | values | mean ± sd | worst seed | per seed | change of mean (points) |
|---|---|---|---|---|---|---|
${rows.join('\n')}`;
}

/** How far apart the seeds of one configuration ended on the original label skew: why one Dirichlet seed ranks nothing. */
function seedRangeText(input: PageInput): string {
  const ranges = input.sources.filter(isLabelSkew).flatMap((source) => {
    const seeds = rowFor(source, { kind: 'main' }, input.planning.main, input.outcomes.main).summary?.seeds ?? [];
    if (seeds.length < 2) return [];
    const finals = seeds.map(finalOf);
    return [(Math.max(...finals) - Math.min(...finals)) * 100];
  });
  return ranges.length > 0 ? `; on the original label skew the seeds of one configuration ended up to ${Math.max(...ranges).toFixed(2)} points apart` : '';
}

function dirichletSection(input: PageInput, baseline: Row): string {
  const skewed = input.sources.filter(isLabelSkew);
  const cells = skewed.map((source) => DIRICHLET_ALPHAS.map((alpha) => rowFor(source, { kind: 'dirichlet', alpha }, input.planning.dirichlet, input.outcomes.dirichlet)));
  const base = baseline.summary;
  const anyData = cells.some((row) => row.some((cell) => cell.summary));
  const seeds = [...new Set(input.planning.dirichlet.map((item) => item.seed))].sort((a, b) => a - b);
  const single = seeds.length === 1;
  const lines = cells.map((row) => {
    const label = configLabel(row[0]!.source.config, false);
    return `| ${label} | ${row
      .map((cell) => {
        if (!cell.summary) return `pending (0 of ${cell.planned.length} seed${cell.planned.length === 1 ? '' : 's'}) | `;
        const gap = base ? points((cell.summary.mean - base.mean) * 100) : '—';
        if (single) return `${percent(cell.summary.mean)} | ${gap}`;
        const status = cell.complete ? '' : ` (${cell.completed.length} of ${cell.planned.length} seeds)`;
        return `${meanSd(cell.summary.mean, cell.summary.sd)}${status}, worst ${percent(finalOf(cell.summary.worst))} | ${gap}`;
      })
      .join(' | ')} |`;
  });
  const seedText = single
    ? `at seed ${seeds[0]} only (\`--dirichlet-seeds\`, default 1): a check that the picture carries over to NIID-Bench's partitions, not a ranking of its own${seedRangeText(input)}`
    : `at seeds ${seeds.join(', ')}`;
  return `## Dirichlet label skew (NIID-Bench)

The label-skew configs again, each with its partition replaced by a Dirichlet one (each label split across the clients
in Dirichlet(α) proportions, as in NIID-Bench, Li et al., ICDE 2022): α = ${DIRICHLET_ALPHAS.join(' (severe) and α = ')} (moderate), ${seedText}.
Gaps are to IID FedAvg's mean.${anyData ? '' : ' **Not measured yet** (`--parts dirichlet`): every cell is pending.'}

| configuration | ${DIRICHLET_ALPHAS.map((alpha) => `α = ${alpha}: ${single ? `final accuracy (seed ${seeds[0]})` : 'mean ± sd'} | gap (points)`).join(' | ')} |
|---|${DIRICHLET_ALPHAS.map(() => '---|---').join('|')}|
${lines.join('\n')}`;
}


