/**
 * `npm run bench:robust`: Byzantine-robust aggregation against simulated attackers, each cell a real `flambda run`
 * (MNIST, 10 clients, IID, cnn-small, 5 rounds): attacker fractions × attacks × aggregators, final accuracy table and
 * chart into docs/robustness.md (section robust-results) and docs/img/robust-accuracy.svg.
 */
import { writeFile, mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ATTACK_KINDS, type AttackKind } from '../shared/config/adversaries.js';
import { lineChartSvgFile } from '../shared/report/index.js';
import { replaceDocSection } from './doc-section.js';
import { accuracyCell, GridConfigError, listFlag, loadRange, meanFinalAccuracy, NOT_RUN, percent, runGridCell, type GridResult } from './grid-run.js';
import { describeMachine, withEndLoad } from './machine.js';

const HELP = `Usage: npm run bench:robust -- [options]

  --fractions 0,0.1,0.2,0.3   attacker fractions (default all four)
  --attacks a,b               of ${ATTACK_KINDS.join(', ')} (default all)
  --aggregators a,b           of fedavg, median, trimmed-mean, multi-krum, centered-clipping (default all)
  --rounds N                  rounds per run (default 5)
  --seeds 1,2                 seeds per cell (default 42)
  --quick                     samplesPerClient 100, testSamples 1000 (default: every client's whole IID share)
  --tau T                     centered clipping's τ (default 0.3; set it from an attack-free run's update norms)
  --out DIR                   result folders (default results/bench-robust)
  --resume                    reuse completed runs in --out that ran exactly the same config
  --saved-only                run nothing: render the table from the runs saved in --out, the others shown as not run yet
  --no-write                  print the table only`;

const AGGREGATORS = ['fedavg', 'median', 'trimmed-mean', 'multi-krum', 'centered-clipping'] as const;
type AggregatorName = (typeof AGGREGATORS)[number];
const LABELS: Record<AggregatorName, string> = {
  fedavg: 'FedAvg (mean)',
  median: 'median',
  'trimmed-mean': 'trimmed mean β = 0.3',
  'multi-krum': 'Multi-Krum f = 3',
  'centered-clipping': 'centered clipping',
};
const ATTACK_PARAMS: Record<AttackKind, Record<string, unknown>> = {
  'label-flip': {},
  'sign-flip': { factor: 4 },
  scale: { factor: 10 },
  gaussian: { sigma: 1 },
  alie: {},
};
const CLIENTS = 10;

const { values } = parseArgs({
  options: {
    fractions: { type: 'string' },
    attacks: { type: 'string' },
    aggregators: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    seeds: { type: 'string', default: '42' },
    quick: { type: 'boolean', default: false },
    tau: { type: 'string', default: '0.3' },
    out: { type: 'string', default: 'results/bench-robust' },
    resume: { type: 'boolean', default: false },
    'saved-only': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

function aggregatorConfig(name: AggregatorName, tau: number): Record<string, unknown> {
  switch (name) {
    case 'fedavg':
      return {};
    case 'median':
      return { aggregator: { kind: 'median' } };
    case 'trimmed-mean':
      return { aggregator: { kind: 'trimmed-mean', beta: 0.3 } };
    case 'multi-krum':
      return { aggregator: { kind: 'multi-krum', f: 3 } };
    case 'centered-clipping':
      return { aggregator: { kind: 'centered-clipping', tau, iterations: 3 } };
  }
}

async function main(): Promise<number> {
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const fractions = listFlag('fractions', values.fractions, [0, 0.1, 0.2, 0.3], (item) => {
    const value = Number(item);
    return value >= 0 && value < 0.5 ? value : undefined;
  });
  const attacks = listFlag('attacks', values.attacks, ATTACK_KINDS, (item) => ATTACK_KINDS.find((kind) => kind === item));
  const aggregators = listFlag('aggregators', values.aggregators, AGGREGATORS, (item) => AGGREGATORS.find((name) => name === item));
  const seeds = listFlag('seeds', values.seeds, [42], (item) => (/^\d+$/.test(item) ? Number(item) : undefined));
  const rounds = Number(values.rounds);
  const tau = Number(values.tau);
  if (!Number.isInteger(rounds) || rounds < 1) throw new GridConfigError(`--rounds must be a positive integer (got ${values.rounds})`);
  if (!(tau > 0)) throw new GridConfigError(`--tau must be positive (got ${values.tau})`);

  const machine = await describeMachine();
  const base = {
    dataset: 'mnist', clients: CLIENTS, rounds, partition: { kind: 'iid' }, model: 'cnn-small', local: { epochs: 1, batchSize: 32 },
    ...(values.quick ? { samplesPerClient: 100, testSamples: 1000 } : {}),
  };
  const cells = new Map<string, GridResult[]>();
  const key = (fraction: number, attack: string, aggregator: string) => `${fraction}|${fraction === 0 ? 'none' : attack}|${aggregator}`;
  const tag = values.quick ? 'quick-' : '';
  for (const fraction of fractions) {
    for (const attack of fraction === 0 ? (['none'] as const) : attacks) {
      for (const aggregator of aggregators) {
        const results: GridResult[] = [];
        for (const seed of seeds) {
          const id = `robust-${tag}${Math.round(fraction * 100)}-${attack}-${aggregator}-r${rounds}-s${seed}`;
          const adversaries = attack === 'none' ? {} : { adversaries: { kind: attack, fraction, ...ATTACK_PARAMS[attack] } };
          console.log(`\n▶ ${id}`);
          results.push(await runGridCell(values.out!, id, { ...base, seed, ...adversaries, ...aggregatorConfig(aggregator, tau) }, values.resume!, values['saved-only']));
        }
        cells.set(key(fraction, attack, aggregator), results);
      }
    }
  }
  const finished = withEndLoad(machine);
  const all = [...cells.values()].flat();

  const header = ['attackers', 'attack', ...aggregators.map((name) => LABELS[name])];
  const rows: string[][] = [];
  for (const fraction of fractions) {
    for (const attack of fraction === 0 ? ['none'] : attacks) {
      rows.push([percent(fraction, 0), attack, ...aggregators.map((aggregator) => accuracyCell(cells.get(key(fraction, attack, aggregator)) ?? []))]);
    }
  }
  const table = [`| ${header.join(' | ')} |`, `| ${header.map((_, index) => (index < 2 ? '---' : '---:')).join(' | ')} |`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
  // A config refused at one seed is refused at every seed: one line per cell.
  const refusals = [...new Set(all.flatMap((result) => (result.failure && result.failure !== NOT_RUN ? [`- ${result.id.replace(/-s\d+$/, '')}: ${result.failure}`] : [])))];
  const notRun = all.filter((result) => result.failure === NOT_RUN).length;
  const scale = values.quick ? 'samplesPerClient 100, testSamples 1,000 (--quick)' : 'every client\'s whole IID share, all 10,000 test images';
  // What reproduces the table: --resume and --saved-only only choose what to reuse.
  const rerunArgs = process.argv.slice(2).filter((arg) => arg !== '--saved-only' && arg !== '--resume');
  const body = [
    `Measured by \`npm run bench:robust${rerunArgs.length ? ` -- ${rerunArgs.join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 10)}: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion},`,
    `load average ${machine.loadAverage.start} at the start and ${finished.loadAverage.end} at the end (per run: ${loadRange(all)}).`,
    `MNIST, ${CLIENTS} clients, IID, cnn-small, ${rounds} rounds, ${scale}; seeds ${seeds.join(', ')}; final test accuracy`,
    `(mean over seeds, range in brackets). Attacks: sign-flip k = 4, scale k = 10, gaussian σ = 1 (replace), ALIE z_max;`,
    `centered clipping τ = ${tau}, 3 iterations. "refused": the start step refuses the config (reason below).`,
    '',
    table,
    ...(refusals.length ? ['', 'Not run or failed:', '', ...refusals] : []),
    ...(notRun ? ['', `${notRun} run(s) marked "${NOT_RUN}" have not been measured yet (\`--resume\` runs them).`] : []),
    '',
    '![Test accuracy per round under the heaviest sign-flip attack measured](img/robust-accuracy.svg)',
  ].join('\n');
  console.log(`\n${body}`);

  const heaviest = Math.max(...fractions);
  const chartAttack = attacks.includes('sign-flip') ? 'sign-flip' : attacks[0];
  const series = aggregators.flatMap((aggregator, position) => {
    const result = (cells.get(key(heaviest, chartAttack ?? 'none', aggregator)) ?? []).find((cell) => cell.metrics);
    return result?.metrics ? [{ name: `${LABELS[aggregator]}, ${percent(heaviest, 0)} ${chartAttack}`, colourIndex: position, points: result.metrics.rounds.map((round) => ({ x: round.round, y: round.accuracy })) }] : [];
  });
  if (!values['no-write']) {
    await replaceDocSection('docs/robustness.md', 'robust-results', body);
    if (series.length) {
      await mkdir('docs/img', { recursive: true });
      await writeFile('docs/img/robust-accuracy.svg', lineChartSvgFile({
        id: 'robust-accuracy',
        title: `Test accuracy per round, ${percent(heaviest, 0)} ${chartAttack} attackers`,
        xLabel: 'Round',
        yLabel: 'Accuracy',
        series,
        formatY: (value) => percent(value),
        formatTick: (value) => `${Math.round(value * 100)} %`,
        yBounds: { min: 0, max: 1 },
      }));
    }
  }
  const best = meanFinalAccuracy(all);
  return best === undefined ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  if (!(error instanceof GridConfigError)) throw error;
  console.error(`bench:robust: ${error.message}`);
  process.exitCode = 1;
}
