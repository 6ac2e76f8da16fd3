/**
 * `npm run bench:datasets`: the original study — 5 clients × 5 rounds, IID and label skew — on Fashion-MNIST, with
 * FedAvg and with SCAFFOLD (the best remedy in docs/noniid.md), each through the same `flambda dataset import` and
 * `flambda run` a user types, next to the PyTorch reference (bench/reference/fedavg_torch.py) running FedAvg on exactly
 * flambda's shards on the same machine, interleaved. Then docs/datasets.md (bench/datasets-page.ts).
 *
 * CIFAR-10 cannot be downloaded on our machines: `--cifar10 <cifar-10-binary.tar.gz>` adds the same study on it.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseExperimentConfig } from '../shared/config/parse.js';
import type { ExperimentConfig } from '../shared/config/schema.js';
import { datasetRecordSchema, type DatasetRecord } from '../shared/data/catalog.js';
import { encodeIdx } from '../shared/data/idx.js';
import { decodeShard } from '../shared/data/shard-codec.js';
import type { Dataset } from '../shared/data/types.js';
import { partitionIndices } from '../shared/partition/index.js';
import { keys } from '../shared/protocol/keys.js';
import { renderDatasetsPage, type StudyResult, type StudyRun } from './datasets-page.js';
import { runFlambda } from './flambda-cli.js';
import { runConfigFile } from './grid-run.js';
import { describeMachine, finishMachineInfo, startCpuMeter } from './machine.js';
import { ensureTorch, torchExperiment, torchExperimentSchema, type TorchExperiment } from './torch.js';

const HELP = `Usage: tsx bench/datasets.ts [options]

Imports Fashion-MNIST, runs examples/fashion-mnist/{iid,label-skew,label-skew-scaffold}.json with \`flambda run\` and
the PyTorch reference's FedAvg on the same shards, interleaved, and writes datasets.md and img/datasets-*.svg.

  --fashion-mnist DIR  the four Fashion-MNIST idx files (default /usr/share/datasets/fashion-mnist, Debian's
                       dataset-fashion-mnist)
  --cifar10 FILE       also run the study on CIFAR-10 (examples/cifar10/) from cifar-10-binary.tar.gz
  --threads N          PyTorch threads (default 1: steady when other work competes for the cores)
  --skew-seeds a,b     label skew with FedAvg again with these seeds, in both engines, for the spread (default 1,2;
                       none with --quick; "" for none)
  --quick              smoke run: samplesPerClient 300, testSamples 1000 (never the published page unless --docs)
  --no-torch           flambda only
  --resume             reuse completed runs in --out that ran exactly the same config (and their PyTorch results)
  --out DIR            results folder (default results/datasets)
  --docs DIR           where datasets.md and img/ go (default: docs for a full run, else the --out folder)
  -h, --help           this text`;

const OPTIONS = {
  'fashion-mnist': { type: 'string', default: '/usr/share/datasets/fashion-mnist' },
  cifar10: { type: 'string' },
  threads: { type: 'string', default: '1' },
  'skew-seeds': { type: 'string' },
  quick: { type: 'boolean', default: false },
  'no-torch': { type: 'boolean', default: false },
  resume: { type: 'boolean', default: false },
  out: { type: 'string', default: 'results/datasets' },
  docs: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

class BenchError extends Error {}

const RUNS = [
  { key: 'iid', label: 'IID, FedAvg', torch: true },
  { key: 'label-skew', label: 'label skew, FedAvg', torch: true },
  { key: 'label-skew-scaffold', label: 'label skew, SCAFFOLD', torch: false },
] as const;
const QUICK_CAP = { samplesPerClient: 300, testSamples: 1000 };

function parseOptions() {
  try {
    return parseArgs({ options: OPTIONS }).values;
  } catch (error) {
    console.error(`bench:datasets: ${error instanceof Error ? error.message : String(error)}\n\n${HELP}`);
    process.exit(2);
  }
}

const values = parseOptions();
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const out = path.resolve(values.out!);
const threads = Number(values.threads);
const docs = values.docs ?? (values.quick ? out : 'docs');
const skewSeeds = (values['skew-seeds'] ?? (values.quick ? '' : '1,2'))
  .split(',')
  .map((seed) => seed.trim())
  .filter(Boolean)
  .map(Number);

async function main(): Promise<number> {
  if (!Number.isInteger(threads) || threads < 1) throw new BenchError(`--threads must be a positive integer (got ${values.threads})`);
  if (!skewSeeds.every((seed) => Number.isInteger(seed) && seed >= 0)) throw new BenchError(`--skew-seeds must be seeds separated by commas (got ${values['skew-seeds']})`);
  const library = path.join(out, 'library');
  // `flambda dataset import` and `flambda run` (children of this process) share this dataset library.
  process.env.FLAMBDA_DATA_DIR = library;
  const torchVersion = values['no-torch'] ? undefined : await ensureTorch();
  const machine = await describeMachine();
  const meter = startCpuMeter();
  const started = Date.now();

  const studies: { dataset: 'fashion-mnist' | 'cifar10'; source: string }[] = [
    { dataset: 'fashion-mnist', source: values['fashion-mnist']! },
    ...(values.cifar10 ? [{ dataset: 'cifar10' as const, source: values.cifar10 }] : []),
  ];
  const results: StudyResult[] = [];
  for (const study of studies) results.push(await runStudy(study.dataset, study.source, library, torchVersion !== undefined));

  const page = renderDatasetsPage({
    results,
    machine: finishMachineInfo(machine, meter.stop()),
    ...(torchVersion ? { torch: { version: torchVersion, threads } } : {}),
    quick: values.quick!,
    totalMs: Date.now() - started,
  });
  await mkdir(path.join(docs, 'img'), { recursive: true });
  for (const [name, svg] of Object.entries(page.charts)) await writeFile(path.join(docs, 'img', name), svg);
  await writeFile(path.join(docs, 'datasets.md'), page.markdown);
  console.log(`\nbench:datasets: wrote ${path.join(docs, 'datasets.md')}`);
  const failed = results.flatMap((result) => result.runs.filter((run) => run.failure));
  for (const run of failed) console.error(`bench:datasets: ${run.id}: ${run.failure}`);
  return failed.length === 0 ? 0 : 1;
}

async function runStudy(dataset: 'fashion-mnist' | 'cifar10', source: string, library: string, withTorch: boolean): Promise<StudyResult> {
  console.log(`\n▶ importing ${dataset} from ${source}`);
  const imported = await runFlambda(['dataset', 'import', dataset, source]);
  if (imported !== 0) throw new BenchError(`flambda dataset import ${dataset} ${source} exited with ${imported}`);
  const record = datasetRecordSchema.parse(JSON.parse(await readFile(path.join(library, keys.datasetInfo(dataset)), 'utf8')));
  const train = decodeShard(new Uint8Array(await readFile(path.join(library, keys.datasetSplit(dataset, 'train')))));
  // PyTorch reads idx files: Debian's Fashion-MNIST as they are; CIFAR-10 as our converted shards, in idx4.
  const torchDir = dataset === 'fashion-mnist' ? source : await exportIdx(library, dataset, record);

  const prefix = `${values.quick ? 'quick' : 'datasets'}-${dataset}`;
  const study = async (file: string, id: string, label: string, torch: boolean, changes: Record<string, unknown> = {}): Promise<StudyRun> => {
    const config = await derive(file, id, changes);
    const flambda = await runOne(config.id, config.file);
    const reference = withTorch && torch ? await runTorch(config.config, config.id, train, torchDir, record) : undefined;
    return { id: config.id, file, label, config: config.config, ...flambda, ...(reference ? { torch: reference } : {}) };
  };
  const runs: StudyRun[] = [];
  for (const run of RUNS) runs.push(await study(`examples/${dataset}/${run.key}.json`, `${prefix}-${run.key}`, run.label, run.torch));
  const seedRuns: StudyRun[] = [];
  for (const seed of skewSeeds) {
    seedRuns.push(await study(`examples/${dataset}/label-skew.json`, `${prefix}-label-skew-seed${seed}`, `label skew, FedAvg, seed ${seed}`, true, { seed }));
  }
  return { dataset, record, runs, seedRuns };
}

/** The example itself, or a copy with `changes` (and with --quick, capped) under <out>/configs/. */
async function derive(file: string, id: string, changes: Record<string, unknown>): Promise<{ id: string; file: string; config: ExperimentConfig }> {
  const text = await readFile(file, 'utf8');
  const raw = JSON.parse(text) as Record<string, unknown>;
  const { $schema: _editorOnly, ...rest } = raw;
  const changed = values.quick || Object.keys(changes).length > 0;
  const derived = changed ? `${JSON.stringify({ ...rest, name: id, ...changes, ...(values.quick ? QUICK_CAP : {}) }, null, 2)}\n` : text;
  const parsed = parseExperimentConfig(derived);
  if (!parsed.ok) throw new BenchError(`${file} is not a valid config:\n  - ${parsed.errors.join('\n  - ')}`);
  if (!changed) return { id, file, config: parsed.config };
  const copy = path.join(out, 'configs', `${id}.json`);
  await mkdir(path.dirname(copy), { recursive: true });
  await writeFile(copy, derived);
  return { id, file: copy, config: parsed.config };
}

/** Kept beside each result, so a page rendered from reused runs still says how busy the machine was when they ran. */

async function runOne(id: string, file: string): Promise<Pick<StudyRun, 'metrics' | 'failure' | 'load' | 'reused'>> {
  const { id: _ran, ...result } = await runConfigFile(out, id, file, values.resume ?? false);
  return result;
}

/** FedAvg in PyTorch on exactly the shards the start step deals for this config (same partition function and seed). */
async function runTorch(config: ExperimentConfig, id: string, train: Dataset, dataDir: string, record: DatasetRecord): Promise<StudyRun['torch']> {
  const partition = partitionIndices(train.labels, {
    clients: config.clients,
    partition: config.partition,
    seed: config.seed,
    samplesPerClient: config.samplesPerClient,
    classes: train.classes,
  });
  const sameShardsAs = (result: TorchExperiment) =>
    JSON.stringify(result.clients.map((client) => client.labelHistogram)) === JSON.stringify(partition.stats.clients.map((client) => client.labelHistogram));
  const resultFile = path.join(out, id, 'torch-result.json');
  if (values.resume) {
    const previous = await readFile(resultFile, 'utf8').then((text) => torchExperimentSchema.safeParse(JSON.parse(text)).data, () => undefined);
    if (previous && previous.threads === threads) {
      console.log(`↺ ${id}: reusing the PyTorch result in ${resultFile}`);
      return { result: previous, sameShards: sameShardsAs(previous) };
    }
  }
  const partitionFile = path.join(out, id, 'torch-partition.json');
  await mkdir(path.dirname(partitionFile), { recursive: true });
  await writeFile(partitionFile, JSON.stringify(partition.clientIndices.map((indices) => Array.from(indices))));
  console.log(`\n▶ PyTorch reference: ${id} (${threads} thread${threads === 1 ? '' : 's'})`);
  const result = await torchExperiment({
    model: config.model,
    threads,
    rounds: config.rounds,
    epochs: config.local.epochs,
    partitionFile,
    testSamples: config.testSamples,
    dataDir,
    classes: record.classes,
    ...(record.normalization ? { normalization: record.normalization } : {}),
    batchSize: config.local.batchSize,
    learningRate: config.local.learningRate,
    momentum: config.local.momentum,
    seed: config.seed,
  });
  await writeFile(resultFile, `${JSON.stringify(result, null, 1)}\n`);
  console.log(`  PyTorch final accuracy ${(result.finalAccuracy * 100).toFixed(2)} % in ${(result.roundsMs / 1000).toFixed(1)} s`);
  return { result, sameShards: sameShardsAs(result) };
}

/** An imported dataset's train and test sets as idx files named like MNIST's (idx4 for colour), for PyTorch. */
async function exportIdx(library: string, dataset: string, record: DatasetRecord): Promise<string> {
  const dir = path.join(out, `${dataset}-idx`);
  await mkdir(dir, { recursive: true });
  for (const [split, prefix] of [['train', 'train'], ['test', 't10k']] as const) {
    const set = decodeShard(new Uint8Array(await readFile(path.join(library, keys.datasetSplit(dataset, split)))));
    const [height, width, channels] = record.shape;
    const dims = channels === 1 ? [set.count, height, width] : [set.count, height, width, channels];
    await writeFile(path.join(dir, `${prefix}-images-idx${dims.length}-ubyte`), encodeIdx(dims, set.images));
    await writeFile(path.join(dir, `${prefix}-labels-idx1-ubyte`), encodeIdx([set.count], set.labels));
  }
  return dir;
}

try {
  process.exitCode = await main();
} catch (error) {
  if (!(error instanceof BenchError)) throw error;
  console.error(`bench:datasets: ${error.message}`);
  process.exitCode = 1;
}
