import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Command, Option } from 'commander';
import type { ObjectStore } from '../../shared/cloud/ports.js';
import { datasetRecordSchema, describeBuiltin, type DatasetRecord } from '../../shared/data/catalog.js';
import { DatasetImportError, planImport, type InputFile } from '../../shared/data/import.js';
import { BUILTIN_DATASET_NAMES, BUILTIN_DATASETS } from '../../shared/data/registry.js';
import { formatShape } from '../../shared/data/types.js';
import { MODEL_NAMES } from '../../shared/config/schema.js';
import { datasetsFitting, modelInputProblem } from '../../shared/models/index.js';
import { PipelineRecordError, readRecord } from '../../shared/pipeline/context.js';
import { keys } from '../../shared/protocol/keys.js';
import { defaultDataDir, DirectoryObjectStore } from '../../local/directory-store.js';
import { UserError } from '../errors.js';
import { addTargetOptions, openTarget, parseTargetName, type TargetName } from '../targets.js';

interface WhereOptions {
  target: TargetName;
  stack: string;
  bucket?: string;
  endpoint?: string;
  dataDir?: string;
}

interface ImportOptions extends WhereOptions {
  client?: string;
  test?: boolean;
  classes?: string;
  classNames?: string;
  normalize?: 'per-channel' | 'none';
}

/** Where datasets go: the local library (default), a running `flambda dev`, or a stack's bucket. */
interface Destination {
  readonly store: ObjectStore;
  readonly description: string;
  close(): Promise<void>;
}

export function datasetCommand(): Command {
  const command = new Command('dataset').description(
    'Import datasets and list them. Locally they go to the dataset library (--data-dir, default $FLAMBDA_DATA_DIR or ~/.flambda), ' +
      'which `flambda run` copies into its local cloud; with --target aws|localstack (or --endpoint) into the bucket\'s datasets/ prefix.',
  );
  command.addCommand(importCommand());
  command.addCommand(listCommand());
  return command;
}

function withWhere(command: Command, verb: string): Command {
  return addTargetOptions(command, verb).option('--data-dir <dir>', 'local dataset library (local target without --endpoint)');
}

function importCommand(): Command {
  const command = new Command('import')
    .description(
      'Verify dataset files (magic numbers, sizes, counts, labels; the published checksums of fashion-mnist and cifar10), convert them once ' +
        'to flambda\'s shard layout and store them under datasets/<name>/. A folder stands for the idx files and archives in it.',
    )
    .argument('<name>', `dataset name: ${BUILTIN_DATASET_NAMES.filter((n) => n !== 'mnist').join(', ')}, or your own (lowercase letters, digits, . _ -)`)
    .argument('<paths...>', 'fashion-mnist: its 4 idx files (.gz or not) or their folder; cifar10: cifar-10-binary.tar.gz; your own: train and test images and labels as idx files')
    .option('--client <id>', 'natural partition: the files are this client\'s training data (one images and one labels file)')
    .option('--test', 'natural partition: the files are the dataset\'s test set')
    .option('--classes <n>', 'number of classes (default: the largest label + 1; required for the first client of a natural dataset)')
    .option('--class-names <names>', 'class names in label order: comma-separated, or @file with one name per line')
    .addOption(new Option('--normalize <how>', 'standardise each channel with the training set\'s mean and deviation (cifar10 does by default)').choices(['per-channel', 'none']));
  return withWhere(command, 'where to store it')
    .addHelpText(
      'after',
      '\nExamples:\n  flambda dataset import fashion-mnist /usr/share/datasets/fashion-mnist\n  flambda dataset import cifar10 cifar-10-binary.tar.gz\n' +
        '  flambda dataset import letters train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz\n' +
        '  flambda dataset import clinics --client north --classes 10 north-images.idx north-labels.idx\n  flambda dataset import clinics --test test-images.idx test-labels.idx\n' +
        '  flambda dataset import fashion-mnist /usr/share/datasets/fashion-mnist --target aws --stack Flambda',
    )
    .action(async (name: string, paths: string[], options: ImportOptions) => {
      const files = await readInputFiles(paths);
      const destination = await openDestination(options);
      try {
        const existing = await readExisting(destination.store, name);
        const plan = await planImport({
          name,
          files,
          ...(options.client !== undefined ? { client: options.client } : {}),
          ...(options.test ? { test: true } : {}),
          ...(options.classes !== undefined ? { classes: parseClasses(options.classes) } : {}),
          ...(options.classNames !== undefined ? { classNames: await parseClassNames(options.classNames) } : {}),
          ...(options.normalize ? { normalize: options.normalize } : {}),
          ...(existing ? { existing } : {}),
        }).catch((error: unknown) => {
          if (error instanceof DatasetImportError) throw new UserError(`cannot import ${name}: ${error.message}`);
          throw error;
        });
        for (const object of plan.objects) await destination.store.put(object.key, object.body, object.contentType);
        const fits = MODEL_NAMES.filter((model) => !modelInputProblem(model, { shape: plan.record.shape, classes: plan.record.classes }));
        console.log(`flambda: imported ${plan.summary}\n  into ${destination.description}${keyFolder(name)}\n  models that take it: ${fits.join(', ')}`);
        if (plan.record.layout === 'natural') {
          const clients = plan.record.clients;
          console.log(
            `  natural dataset: ${clients.length} client${clients.length === 1 ? '' : 's'} (${clients.join(', ')})` +
              (plan.record.test ? '' : `; no test set yet: flambda dataset import ${name} --test <images> <labels>`),
          );
        }
      } finally {
        await destination.close();
      }
    });
}

function listCommand(): Command {
  const command = new Command('list').description('List the datasets in the local library or the bucket: shape, classes, samples, clients.');
  return withWhere(command, 'where to look').action(async (options: WhereOptions) => {
    const destination = await openDestination(options);
    try {
      const rows = await listDatasets(destination.store);
      console.log(`Datasets in ${destination.description}:\n`);
      console.log(formatTable(rows));
    } finally {
      await destination.close();
    }
  });
}

async function openDestination(options: WhereOptions): Promise<Destination> {
  const target = parseTargetName(options.target);
  if (target === 'local' && !options.endpoint) {
    const root = path.resolve(options.dataDir ?? defaultDataDir());
    return { store: new DirectoryObjectStore(root), description: `the local dataset library ${root}`, close: async () => {} };
  }
  const opened = await openTarget({ ...options, target });
  return { store: opened.store, description: opened.description, close: () => opened.close() };
}

function keyFolder(name: string): string {
  return ` (${path.posix.dirname(keys.datasetInfo(name))}/)`;
}

async function readExisting(store: ObjectStore, name: string): Promise<DatasetRecord | undefined> {
  try {
    return await readRecord(store, keys.datasetInfo(name), datasetRecordSchema);
  } catch (error) {
    if (error instanceof PipelineRecordError) throw new UserError(`${error.message}: remove datasets/${name}/ or import under another name`);
    throw error;
  }
}

/** Files as given; a folder stands for the dataset files directly inside it (idx files and archives, gzipped or not). */
async function readInputFiles(paths: readonly string[]): Promise<InputFile[]> {
  const files: InputFile[] = [];
  for (const given of paths) {
    const info = await stat(given).catch(() => {
      throw new UserError(`cannot read ${given}: no such file or folder`);
    });
    const members = info.isDirectory()
      ? (await readdir(given)).filter((entry) => /idx\d|ubyte|\.tar\.gz$|\.tgz$/i.test(entry)).sort().map((entry) => path.join(given, entry))
      : [given];
    if (info.isDirectory() && members.length === 0) throw new UserError(`${given} holds no idx files (…idx3-ubyte, …idx1-ubyte) or .tar.gz archives`);
    for (const file of members) files.push({ path: file, bytes: new Uint8Array(await readFile(file)) });
  }
  return files;
}

function parseClasses(value: string): number {
  const classes = Number(value);
  if (!Number.isInteger(classes) || classes < 2 || classes > 256) throw new UserError(`--classes must be an integer from 2 to 256 (got "${value}")`);
  return classes;
}

async function parseClassNames(value: string): Promise<string[]> {
  const text = value.startsWith('@')
    ? await readFile(value.slice(1), 'utf8').catch(() => {
        throw new UserError(`--class-names: cannot read ${value.slice(1)}`);
      })
    : value;
  const names = (value.startsWith('@') ? text.split('\n') : text.split(',')).map((name) => name.trim()).filter((name) => name.length > 0);
  if (names.length < 2) throw new UserError(`--class-names must name at least 2 classes (got ${names.length})`);
  return names;
}

interface ListRow {
  readonly name: string;
  readonly images: string;
  readonly classes: string;
  readonly train: string;
  readonly test: string;
  readonly source: string;
}

/** MNIST (when the bucket has it, or always in a library: the local cloud brings it) and every imported dataset. */
export async function listDatasets(store: ObjectStore): Promise<ListRow[]> {
  const rows: ListRow[] = [];
  const library = store instanceof DirectoryObjectStore;
  if (library || (await store.exists(keys.mnist('test-labels')))) {
    const mnist = describeBuiltin('mnist');
    rows.push({
      name: 'mnist',
      images: formatShape(mnist.shape),
      classes: previewClasses(mnist.classNames),
      train: (mnist.trainSamples ?? 0).toLocaleString('en-US'),
      test: (mnist.testSamples ?? 0).toLocaleString('en-US'),
      source: library ? 'built in (the local cloud brings it)' : 'built in (deployed with the stack)',
    });
  }
  const infoKeys = (await store.list('datasets/')).filter((key) => /^datasets\/[^/]+\/dataset\.json$/.test(key));
  for (const key of infoKeys) {
    const record = await readRecord(store, key, datasetRecordSchema).catch((error: Error) => {
      rows.push({ name: key.split('/')[1]!, images: '?', classes: '?', train: '?', test: '?', source: `unreadable: ${error.message}` });
      return undefined;
    });
    if (!record) continue;
    const fits = BUILTIN_DATASETS[record.name as keyof typeof BUILTIN_DATASETS] ? datasetsNote(record.name) : '';
    rows.push({
      name: record.name,
      images: formatShape(record.shape),
      classes: previewClasses(record.classNames),
      train: record.layout === 'natural' ? `${record.clients.length} clients` : (record.train?.samples ?? 0).toLocaleString('en-US'),
      test: record.test ? record.test.samples.toLocaleString('en-US') : 'none yet',
      source: `${record.layout === 'natural' ? `natural (${record.clients.join(', ')}); ` : ''}${record.verified === 'md5' ? 'MD5 verified' : 'checked'} ${record.importedAt.slice(0, 10)}${fits}`,
    });
  }
  return rows;
}

function datasetsNote(name: string): string {
  const models = MODEL_NAMES.filter((model) => (datasetsFitting(model) as string[]).includes(name));
  return models.length > 0 ? `; models: ${models.join(', ')}` : '';
}

function previewClasses(names: readonly string[]): string {
  const shown = names.slice(0, 4).join(', ');
  return `${names.length} (${shown}${names.length > 4 ? ', …' : ''})`;
}

function formatTable(rows: readonly ListRow[]): string {
  if (rows.length === 0) return '  (none: flambda dataset import <name> <files…>)';
  const header: ListRow = { name: 'name', images: 'images', classes: 'classes', train: 'train', test: 'test', source: 'source' };
  const columns = Object.keys(header) as (keyof ListRow)[];
  const widths = columns.map((column) => Math.max(...[header, ...rows].map((row) => row[column].length)));
  const line = (row: ListRow) => columns.map((column, i) => row[column].padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
