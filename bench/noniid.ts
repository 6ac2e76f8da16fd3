/**
 * `npm run bench:noniid`: the label-skew experiment (MNIST, 5 clients × 5 rounds, 2 shards per client) once per
 * config in examples/noniid/ and per seed — every strategy, local objective and combination is a config file there —
 * against IID FedAvg (examples/mnist-iid.json), each through the same `flambda run` a user types. Then docs/noniid.md
 * with mean ± standard deviation over the seeds, the worst seed, rounds to 95 %, and docs/img/noniid-*.svg.
 *
 * Every part of the page is planned on every invocation; `--parts` says which parts run now, and the rest is read
 * from earlier results in --out when their config is unchanged (otherwise shown as pending). So a long measurement
 * can be done in pieces on a busy machine and the page always says what is still missing.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describeMachine, withEndLoad } from './machine.js';
import {
  BASELINE_FILE,
  BASELINE_KEY,
  BenchError,
  DIRICHLET_ALPHAS,
  derive,
  isLabelSkew,
  readConfigSources,
  readSource,
  seedsFrom,
  selectSources,
  type ConfigPatch,
  type DataCap,
  type Planned,
  type SourceConfig,
} from './noniid/plan.js';
import { renderPage, type PageInput } from './noniid/page.js';
import { execute, previousOutcome, type Outcome } from './noniid/run.js';
import { mirrorable, runTorchReference, type TorchRun } from './noniid/torch-reference.js';

const PARTS = ['main', 'tune', 'dirichlet', 'torch'] as const;
type Part = (typeof PARTS)[number];
const QUICK_CAP: DataCap = { samplesPerClient: 300, testSamples: 1000 };
/**
 * The reference is here for its accuracies, not its speed: one thread, because OpenMP's spinning workers slow a
 * 2-thread torch down several-fold on a machine busy with other work (a 300-sample smoke run took 6 minutes).
 */
const TORCH_THREADS = 1;

/**
 * Full-scale candidates per config (file name), run at the first seed only: a candidate costs about a minute on a
 * quiet 2-core machine, so the grid stays small: the documented default (or the paper's value) and a step either side,
 * a factor of about 3 for FedLC's τ, whose shift τ·n^(−1/4) separates absent from present classes by only ~0.9·τ
 * logits on 12,000-image shards. The chosen values live in the configs; a candidate equal to its config shares that
 * config's run.
 */
const TUNING_GRID: Readonly<Record<string, readonly ConfigPatch[]>> = {
  fedlc: [0.3, 1, 3].map((tau) => ({ local: { objective: { tau } } })),
  fedrs: [0.1, 0.5, 0.9].map((alpha) => ({ local: { objective: { alpha } } })),
  fedprox: [0.01, 0.1].map((mu) => ({ strategy: { mu } })),
  fedavgm: [0.9, 0.5].map((momentum) => ({ strategy: { serverLearningRate: 1, momentum } })),
  fedadam: [0.01, 0.03, 0.1].map((serverLearningRate) => ({ strategy: { serverLearningRate } })),
  fedyogi: [0.01, 0.03, 0.1].map((serverLearningRate) => ({ strategy: { serverLearningRate } })),
  fedadagrad: [0.1, 0.3, 1].map((serverLearningRate) => ({ strategy: { serverLearningRate } })),
  // Acar et al.'s grid for α.
  feddyn: [0.001, 0.01, 0.1].map((alpha) => ({ strategy: { alpha } })),
};

const HELP = `Usage: tsx bench/noniid.ts [options]

Runs every config of examples/noniid/ and IID FedAvg (examples/mnist-iid.json) at each seed, one run after the other,
through \`flambda run\`, and writes noniid.md and img/noniid-*.svg. Parts not run now are read from earlier results in
--out (same config only) or listed as pending.

  --parts a,b       what to run now: main (the configs as written, default), tune (TUNING_GRID at the first seed),
                    dirichlet (the label-skew configs on Dirichlet α ${DIRICHLET_ALPHAS.join(' and ')} partitions),
                    torch (the PyTorch reference on the same partitions, for the FedAvg configs); none: render only
  --only a,b        only these configs of examples/noniid (file names without .json); IID FedAvg always runs with main
  --seeds N         seeds per config: its own seed and the next N − 1 (default 3)
  --dirichlet-seeds N  seeds per config on the Dirichlet partitions (default 1: 26 more runs per extra seed)
  --quick           smoke run: every run capped at samplesPerClient ${QUICK_CAP.samplesPerClient}, testSamples ${QUICK_CAP.testSamples}
  --resume          reuse a completed result in --out when it ran exactly the same config
  --out DIR         results folder (default results/noniid)
  --docs DIR        where noniid.md and img/ go (default: docs, or the --out folder with --only or --quick)
  -h, --help        this text`;

const OPTIONS = {
  parts: { type: 'string', default: 'main' },
  only: { type: 'string' },
  seeds: { type: 'string', default: '3' },
  'dirichlet-seeds': { type: 'string', default: '1' },
  quick: { type: 'boolean', default: false },
  resume: { type: 'boolean', default: false },
  out: { type: 'string', default: 'results/noniid' },
  docs: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parseOptions() {
  try {
    const { values } = parseArgs({ options: OPTIONS });
    if (values.help) {
      console.log(HELP);
      process.exit(0);
    }
    const seeds = seedCount('--seeds', values.seeds);
    const dirichletSeeds = seedCount('--dirichlet-seeds', values['dirichlet-seeds']);
    const parts = values.parts === 'none' ? [] : values.parts.split(',').map((part) => part.trim());
    const unknown = parts.filter((part) => !(PARTS as readonly string[]).includes(part));
    if (unknown.length > 0) throw new Error(`--parts: unknown ${unknown.join(', ')}; choose from ${PARTS.join(', ')} or none`);
    const quick = values.quick;
    const out = values.out;
    const docs = values.docs ?? (quick || values.only !== undefined ? out : 'docs');
    return { parts: new Set(parts as Part[]), only: values.only, seeds, dirichletSeeds, quick, resume: values.resume, out, docs };
  } catch (error) {
    console.error(`bench:noniid: ${error instanceof Error ? error.message : String(error)}\n\n${HELP}`);
    process.exit(2);
  }
}

function seedCount(flag: string, given: string): number {
  const count = Number(given);
  if (!Number.isInteger(count) || count < 1 || count > 20) throw new Error(`${flag} must be a whole number from 1 to 20 (got ${given})`);
  return count;
}

const options = parseOptions();

interface Planning {
  readonly main: Planned[];
  readonly tuning: Planned[];
  readonly dirichlet: Planned[];
}

async function plan(baseline: SourceConfig, sources: readonly SourceConfig[]): Promise<Planning> {
  const cap = options.quick ? QUICK_CAP : undefined;
  const prefix = options.quick ? 'quick' : 'noniid';
  const seedsOf = (source: SourceConfig) => seedsFrom(source.config, options.seeds);
  const at = (source: SourceConfig, scenario: Parameters<typeof derive>[1]['scenario'], seed: number) =>
    derive(source, { out: options.out, prefix, scenario, seed, cap });
  // Seed-major: an interrupted invocation leaves every config with the same number of seeds.
  const main = await Promise.all(
    seedsOf(baseline).flatMap((_, i) => [baseline, ...sources].map((source) => at(source, { kind: 'main' }, seedsOf(source)[i]!))),
  );
  const skewed = sources.filter(isLabelSkew);
  const tuning = await Promise.all(
    skewed.flatMap((source) => (TUNING_GRID[source.key] ?? []).map((patch) => at(source, { kind: 'tuning', patch }, source.config.seed))),
  );
  const dirichletSeedsOf = (source: SourceConfig) => seedsFrom(source.config, options.dirichletSeeds);
  const dirichlet = await Promise.all(
    dirichletSeedsOf(baseline).flatMap((_, i) =>
      DIRICHLET_ALPHAS.flatMap((alpha) => skewed.map((source) => at(source, { kind: 'dirichlet', alpha }, dirichletSeedsOf(source)[i]!))),
    ),
  );
  return { main, tuning, dirichlet };
}

/** Runs the planned runs of the parts asked for; the others (and reusable ones with --resume) come from `out`. */
async function collect(planned: readonly Planned[], run: (planned: Planned) => boolean): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const done = new Map<string, Outcome>();
  for (const item of planned) {
    const known = done.get(item.id);
    if (known) {
      outcomes.push(known);
      continue;
    }
    const previous = !run(item) || options.resume ? await previousOutcome(item, options.out) : undefined;
    let outcome: Outcome | undefined = previous;
    if (!outcome && run(item)) {
      console.log(`\n▶ ${item.id} (${item.file})`);
      outcome = await execute(item, options.out);
      if (outcome.failure) console.error(`bench:noniid: ${item.id}: ${outcome.failure}`);
    } else if (previous && run(item)) {
      console.log(`↺ ${item.id}: reusing the completed result in ${path.join(options.out, item.id)} (same config)`);
    }
    if (outcome) {
      done.set(item.id, outcome);
      outcomes.push(outcome);
    }
  }
  return outcomes;
}

async function main(): Promise<number> {
  const baseline = await readSource(BASELINE_KEY, BASELINE_FILE);
  const sources = await readConfigSources();
  const selected = new Set(selectSources(sources, options.only).map((source) => source.key));
  // Every config is derived and validated before the first run, so a typo fails in a second rather than an hour in.
  const planning = await plan(baseline, sources);
  const machine = await describeMachine();
  const started = Date.now();

  const wanted = (part: Part) => (item: Planned) => options.parts.has(part) && (selected.has(item.source.key) || (part === 'main' && item.source.key === BASELINE_KEY));
  const main = await collect(planning.main, wanted('main'));
  const tuning = await collect([...planning.tuning], wanted('tune'));
  const dirichlet = await collect(planning.dirichlet, wanted('dirichlet'));
  const torchCases = sources.filter((source) => isLabelSkew(source) && mirrorable(source.config));
  const torch: TorchRun[] = await runTorchReference(
    torchCases.map((source) => ({ key: source.key, config: options.quick ? { ...source.config, ...QUICK_CAP } : source.config })),
    seedsFrom(baseline.config, options.seeds),
    {
      folder: path.join(options.out, options.quick ? 'torch-quick' : 'torch'),
      threads: TORCH_THREADS,
      mode: (key) => (options.parts.has('torch') && selected.has(key) ? (options.resume ? 'resume' : 'run') : 'load'),
      log: (line) => console.log(line),
    },
  );

  const input: PageInput = {
    baseline,
    sources,
    planning,
    outcomes: { main, tuning, dirichlet },
    torch,
    tuningGrid: TUNING_GRID,
    seeds: options.seeds,
    quick: options.quick,
    host: withEndLoad(machine),
    totalMs: Date.now() - started,
    command: `npm run bench:noniid${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  };
  const page = renderPage(input);
  await mkdir(path.join(options.docs, 'img'), { recursive: true });
  for (const [name, svg] of Object.entries(page.images)) await writeFile(path.join(options.docs, 'img', name), svg);
  await writeFile(path.join(options.docs, 'noniid.md'), page.markdown);
  console.log(`\nbench:noniid: wrote ${path.join(options.docs, 'noniid.md')} and ${Object.keys(page.images).map((name) => path.join(options.docs, 'img', name)).join(', ')}`);

  const failed = [...main, ...tuning, ...dirichlet].filter((outcome) => outcome.failure && !outcome.reused).length + torch.filter((run) => run.failure).length;
  return failed === 0 ? 0 : 1;
}

try {
  process.exitCode = await main();
} catch (error) {
  if (!(error instanceof BenchError)) throw error;
  console.error(`bench:noniid: ${error.message}`);
  process.exitCode = 1;
}
