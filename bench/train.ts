/**
 * `npm run bench:train`: client-training speed of flambda (TensorFlow.js) against a PyTorch reference on the
 * same models, samples and batch size, interleaved in one run; prints the table and writes docs/benchmarks.md.
 * See docs/benchmarks.md for what is measured and why.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { experimentConfigSchema, MODEL_NAMES, type ModelName } from '../shared/config/schema.js';
import { loadMnistFromPackage } from '../shared/data/mnist.js';
import { PARTITIONS, runEndToEndSuite, type PartitionName } from './e2e.js';
import { DEFAULT_PROFILE, runProfileSuite } from './profile-step.js';
import { renderBenchmarksDoc } from './report-doc.js';
import { formatEndToEndTable, formatProfileTables, formatThroughputTable } from './report.js';
import { updateDocBlocks } from './doc-blocks.js';
import { DEFAULT_RESULTS_FILE, mergeResults, readResults, writeAtomically, type MachineResults } from './results.js';
import { runThroughputSuite } from './throughput.js';
import { ensureTorch, pythonFromEnv } from './torch.js';

const DEFAULT_DOCS_FILE = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));

/**
 * Full run: ~5 minutes on 2 cores (throughput and step profile). --quick: a few minutes, a smoke test whose numbers are
 * not worth keeping.
 * Parallel clients default to one per core, the local runtime's own worker pool size.
 */
const FULL = { samples: 2048, repeats: 3, clients: os.availableParallelism() } as const;
const QUICK = { samples: 320, repeats: 1, clients: 2 } as const;
/** --quick --e2e: the original experiment's shape, shrunk to check the wiring, not to measure. */
const QUICK_EXPERIMENT = { rounds: 2, samplesPerClient: 300, testSamples: 1000 } as const;

interface CliOptions {
  quick: boolean;
  samples?: number;
  models: ModelName[];
  repeats?: number;
  clients?: number;
  warmupBatches: number;
  throughput: boolean;
  profile: boolean;
  xnnpack: boolean;
  e2e: boolean;
  partitions: PartitionName[];
  torchThreads: number[];
  write: boolean;
  renderOnly: boolean;
  docs: string;
  results: string;
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('expected a positive integer');
  return parsed;
}

function threadList(value: string): number[] {
  return [...new Set(value.split(',').map((item) => positiveInteger(item.trim())))];
}

function listOf<T extends string>(allowed: readonly T[]) {
  return (value: string): T[] => {
    const items = value.split(',').map((item) => item.trim()).filter(Boolean);
    const unknown = items.filter((item) => !(allowed as readonly string[]).includes(item));
    if (items.length === 0 || unknown.length > 0) {
      throw new InvalidArgumentError(`${unknown.length ? `unknown: ${unknown.join(', ')}; ` : ''}choose from ${allowed.join(', ')}`);
    }
    return [...new Set(items)] as T[];
  };
}

function program(): Command {
  return new Command('bench:train')
    .description('Client-training speed: flambda (TensorFlow.js) vs a PyTorch reference, interleaved; writes docs/benchmarks.md.')
    .option(
      '--quick',
      'a short smoke run (320 samples, 1 round, 2 parallel clients; with --e2e 2 rounds of 300 samples a client); writes nothing unless --docs/--results are given',
      false,
    )
    .option('--samples <n>', `training samples per measurement (default ${FULL.samples}; quick ${QUICK.samples})`, positiveInteger)
    .addOption(
      new Option('--models <list>', 'comma-separated models')
        .argParser(listOf(MODEL_NAMES))
        .default(['cnn-small', 'cnn-mcmahan'], 'cnn-small,cnn-mcmahan'),
    )
    .option('--repeats <n>', `interleaved rounds (default ${FULL.repeats}; quick ${QUICK.repeats})`, positiveInteger)
    .option('--clients <n>', `clients training in parallel worker threads (default one per core: ${FULL.clients}; quick ${QUICK.clients})`, positiveInteger)
    .option('--warmup-batches <n>', 'batches trained before each clock starts', positiveInteger, 10)
    .option('--no-throughput', 'skip the training-speed measurements (with --e2e)')
    .option('--no-profile', "skip the per-phase profile of a training step (npm run bench:profile)")
    .option('--no-xnnpack', 'skip the runs with XNNPACK doing the convolutions (FLAMBDA_WASM_FMA=off), the speed before our FMA kernels')
    .option('--e2e', 'also run the original experiment (5 clients × 5 rounds, all MNIST) end to end on both systems: ~12 min more', false)
    .addOption(
      new Option('--partitions <list>', 'partitions for --e2e')
        .argParser(listOf(Object.keys(PARTITIONS) as PartitionName[]))
        .default(['iid', 'label-skew'], 'iid,label-skew'),
    )
    .addOption(
      new Option('--torch-threads <list>', 'PyTorch thread counts for --e2e, one run each; the first is the reference')
        .argParser(threadList)
        .default([2, 1], '2,1'),
    )
    .option('--no-write', 'print only: leave docs/benchmarks.md and bench/benchmarks.json alone')
    .option('--render-only', 'measure nothing: rewrite the Markdown report from the stored results', false)
    .option('--docs <file>', 'the Markdown report to write', DEFAULT_DOCS_FILE)
    .option('--results <file>', 'the raw results (JSON) to update', DEFAULT_RESULTS_FILE)
    .addHelpText(
      'after',
      '\nPyTorch comes from Debian (python3-torch + libopenblas0-openmp), installed by bench/setup-python.sh if missing;\n' +
        'set FLAMBDA_BENCH_PYTHON to use another interpreter that has torch.',
    );
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function main(argv: readonly string[]): Promise<number> {
  const command = program();
  command.parse(argv);
  const options = command.opts<CliOptions>();
  if (options.renderOnly) {
    await writeAtomically(options.docs, renderBenchmarksDoc(await readResults(options.results)));
    log(`bench: wrote ${options.docs} from ${options.results}`);
    return 0;
  }
  if (!options.throughput && !options.profile && !options.e2e) throw new InvalidArgumentError('--no-throughput --no-profile without --e2e leaves nothing to run');
  const preset = options.quick ? QUICK : FULL;
  const explicitOutput = command.getOptionValueSource('docs') === 'cli' || command.getOptionValueSource('results') === 'cli';
  const write = options.write && (!options.quick || explicitOutput);

  const python = pythonFromEnv();
  const torchVersion = await ensureTorch(python);
  log(`bench: PyTorch ${torchVersion} (${python}); loading MNIST`);
  const mnist = await loadMnistFromPackage();
  const local = experimentConfigSchema.parse({}).local;
  // Each part is saved as soon as it finishes (for this kind of machine only), so an interrupted --e2e run keeps the
  // throughput numbers.
  const save = async (update: MachineResults) => {
    if (!write) return;
    const merged = await mergeResults(options.results, update);
    await writeAtomically(options.docs, renderBenchmarksDoc(merged));
    log(`bench: wrote ${options.docs} and ${options.results}`);
    // The figures README, docs/deploy.md, docs/results.md and the infra sizing quote from these results.
    if (options.results === DEFAULT_RESULTS_FILE) log(`bench: refreshed generated blocks in ${(await updateDocBlocks(merged)).join(', ') || 'no file'}`);
  };
  if (!write) log('bench: will write nothing (--quick or --no-write)');

  if (options.throughput) {
    const samples = options.samples ?? preset.samples;
    const repeats = options.repeats ?? preset.repeats;
    log(`bench: training speed, ${options.models.join(' + ')}, ${samples} samples, ${repeats} interleaved round(s)`);
    const throughput = await runThroughputSuite(
      {
        models: options.models,
        samples,
        warmupBatches: options.warmupBatches,
        repeats,
        parallelClients: options.clients ?? preset.clients,
        includeGlibcDefault: !options.quick,
        includeXnnpack: options.xnnpack,
        local,
        seed: 42,
        python,
      },
      mnist.train,
      (m) => log(`  [${m.repeat}/${repeats}] ${m.model.padEnd(11)} ${Math.round(m.samplesPerSecond).toString().padStart(6)} samples/s  ${m.label}`),
    );
    console.log(`\n${formatThroughputTable(throughput)}\n`);
    await save({ throughput });
  }

  if (options.profile) {
    log('bench: where a training step\'s time goes, per kind of convolution kernels');
    const profile = await runProfileSuite(
      { ...DEFAULT_PROFILE, models: options.models, ...(options.quick ? { steps: 5, rounds: 1 } : {}) },
      mnist.train,
      (line) => log(`  ${line}`),
    );
    console.log(`\n${formatProfileTables(profile)}\n`);
    await save({ profile });
  }

  if (options.e2e) {
    log(`bench: original experiment end to end (${options.partitions.join(', ')})`);
    const endToEnd = await runEndToEndSuite({
      partitions: options.partitions,
      torchThreads: options.torchThreads,
      python,
      train: mnist.train,
      includeXnnpack: options.xnnpack,
      ...(options.quick ? { overrides: QUICK_EXPERIMENT } : {}),
      onProgress: (line) => log(`  ${line}`),
    });
    console.log(`\n${formatEndToEndTable(endToEnd)}\n`);
    await save({ endToEnd });
  }
  return 0;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    log(`bench: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
