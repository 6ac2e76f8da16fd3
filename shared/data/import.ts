import { keys } from '../protocol/keys.js';
import {
  channelStatistics,
  labelHistogram,
  summarizeSplit,
  type ClientRecord,
  type DatasetRecord,
} from './catalog.js';
import { readCifar10Archive } from './cifar.js';
import {
  baseName,
  classify,
  DatasetImportError,
  describeHistogram,
  md5Hex,
  naturalPair,
  previewNames,
  sourceFile,
  splitOf,
  stripGzip,
  type IdxPair,
  type InputFile,
} from './import-files.js';
import { assertClassCount, datasetFromIdx, decodeIdx, gunzipIfNeeded } from './idx.js';
import {
  BUILTIN_DATASETS,
  CLIENT_ID_PATTERN,
  CLIENT_ID_RULE,
  datasetNameProblem,
  IDX_ROLES,
  isBuiltinDataset,
  type ExpectedArchive,
  type ExpectedFile,
  type IdxRole,
} from './registry.js';
import { encodeShard } from './shard-codec.js';
import { DatasetFormatError, formatShape, sampleShape, type Dataset, type Normalization } from './types.js';

/**
 * `flambda dataset import` without the I/O: checks the files a user hands in (magic numbers, sizes, counts, labels,
 * and the published checksums of the datasets we know), converts them once to our shard-ready layout and says which
 * objects to write under datasets/<name>/. Every refusal says what is wrong with which file.
 */

/** Checksums to verify instead of the published ones: for tests, which cannot ship a 170 MB archive. */
export interface ExpectedChecksums {
  readonly archive?: ExpectedArchive;
  readonly files?: Readonly<Record<IdxRole, ExpectedFile>>;
}

export interface ImportRequest {
  readonly name: string;
  readonly files: readonly InputFile[];
  /** natural partition: these files are this client's training data */
  readonly client?: string;
  /** natural partition: these files are the dataset's test set */
  readonly test?: boolean;
  readonly classes?: number;
  readonly classNames?: readonly string[];
  /** default: the registry's choice for built-in datasets, none for the others */
  readonly normalize?: 'per-channel' | 'none';
  /** the dataset.json already at the destination, if any */
  readonly existing?: DatasetRecord;
  readonly now?: Date;
  readonly expected?: ExpectedChecksums;
}

export interface ImportedObject {
  readonly key: string;
  readonly body: Uint8Array | string;
  readonly contentType: string;
}

export interface ImportPlan {
  readonly record: DatasetRecord;
  readonly client?: ClientRecord;
  /** in write order: data first, dataset.json last, so a dataset is visible only once complete */
  readonly objects: readonly ImportedObject[];
  /** one line for a person: what was imported */
  readonly summary: string;
}

export { DatasetImportError, md5Hex, type InputFile } from './import-files.js';

const BINARY = 'application/octet-stream';
const JSON_TYPE = 'application/json';

export async function planImport(request: ImportRequest): Promise<ImportPlan> {
  try {
    return await plan(request);
  } catch (error) {
    if (error instanceof DatasetFormatError) throw new DatasetImportError(error.message);
    throw error;
  }
}

async function plan(request: ImportRequest): Promise<ImportPlan> {
  const { name, client, test, existing } = request;
  const nameProblem = datasetNameProblem(name);
  if (nameProblem) throw new DatasetImportError(nameProblem);
  if (name === 'mnist') throw new DatasetImportError('mnist is built in (shipped with flambda and deployed with the stack): there is nothing to import');
  if (request.files.length === 0) throw new DatasetImportError('no files given');
  if (client !== undefined && test) throw new DatasetImportError('--client and --test are exclusive: a client\'s data is training data');
  if (client !== undefined && !CLIENT_ID_PATTERN.test(client)) {
    throw new DatasetImportError(`client ids use ${CLIENT_ID_RULE} (got ${JSON.stringify(client)})`);
  }
  const natural = client !== undefined || test === true;
  if (natural && isBuiltinDataset(name)) {
    throw new DatasetImportError(`${name} is a built-in dataset with its published train/test split; import per-client data under a name of your own`);
  }
  if (natural && existing?.layout === 'central') {
    throw new DatasetImportError(`dataset ${name} was imported as one train/test set; per-client data needs a dataset name of its own`);
  }
  if (!natural && existing?.layout === 'natural') {
    throw new DatasetImportError(
      `dataset ${name} holds per-client data (${existing.clients.length} clients): add clients with --client <id>, its test set with --test, or choose another name`,
    );
  }
  if (natural) return planNatural(request);
  if (name === 'fashion-mnist') return planFashionMnist(request);
  if (name === 'cifar10') return planCifar10(request);
  return planCustomCentral(request);
}

// ── built-in datasets ────────────────────────────────────────────────────────────────────────────────────────────

async function planFashionMnist(request: ImportRequest): Promise<ImportPlan> {
  const builtin = BUILTIN_DATASETS['fashion-mnist'];
  if (builtin.source.kind !== 'idx') throw new Error('fashion-mnist is registered with idx files');
  rejectClassOptions(request, builtin.classNames.length);
  const expected = request.expected?.files ?? builtin.source.files;
  const byRole = new Map<IdxRole, { file: InputFile; content: Uint8Array }>();
  for (const file of request.files) {
    const base = stripGzip(baseName(file.path));
    const role = IDX_ROLES.find((candidate) => expected[candidate].name === base);
    if (!role) {
      throw new DatasetImportError(
        `${baseName(file.path)} is not one of Fashion-MNIST's files (${IDX_ROLES.map((r) => expected[r].name).join(', ')}, gzipped or not)`,
      );
    }
    if (byRole.has(role)) throw new DatasetImportError(`${expected[role].name} was given twice`);
    byRole.set(role, { file, content: gunzipIfNeeded(file.bytes, baseName(file.path)) });
  }
  const missing = IDX_ROLES.filter((role) => !byRole.has(role));
  if (missing.length > 0) {
    throw new DatasetImportError(`Fashion-MNIST needs ${missing.map((role) => expected[role].name).join(', ')} too (${builtin.source.hint})`);
  }
  for (const role of IDX_ROLES) {
    const { file, content } = byRole.get(role)!;
    const md5 = md5Hex(content);
    if (md5 !== expected[role].md5) {
      throw new DatasetImportError(
        `${baseName(file.path)}: the MD5 of its content is ${md5}, Fashion-MNIST's ${expected[role].name} has ${expected[role].md5}: the file is corrupt, truncated or not Fashion-MNIST's`,
      );
    }
  }
  const pair = (split: 'train' | 'test') =>
    datasetFromIdx(byRole.get(`${split}-images`)!.content, byRole.get(`${split}-labels`)!.content, { classes: 10, what: split });
  const train = pair('train');
  const test = pair('test');
  checkBuiltinShape('fashion-mnist', train, test);
  const files = IDX_ROLES.map((role) => sourceFile(byRole.get(role)!.file, byRole.get(role)!.content));
  return centralPlan(request, { title: builtin.title, train, test, classNames: builtin.classNames, normalize: builtin.normalization, verified: 'md5', files });
}

async function planCifar10(request: ImportRequest): Promise<ImportPlan> {
  const builtin = BUILTIN_DATASETS.cifar10;
  if (builtin.source.kind !== 'cifar10-binary') throw new Error('cifar10 is registered with its binary archive');
  rejectClassOptions(request, builtin.classNames.length);
  const expected = request.expected?.archive ?? builtin.source.archive;
  if (request.files.length !== 1) {
    throw new DatasetImportError(`cifar10 is imported from one file, ${expected.name} (got ${request.files.length}): ${builtin.source.hint}`);
  }
  const [file] = request.files as [InputFile];
  const label = baseName(file.path);
  if (file.bytes.byteLength !== expected.bytes) {
    throw new DatasetImportError(
      `${label}: ${file.bytes.byteLength.toLocaleString('en-US')} bytes, but ${expected.name} has ${expected.bytes.toLocaleString('en-US')}: ` +
        `${file.bytes.byteLength < expected.bytes ? 'a truncated download' : 'not the binary version'}? (${builtin.source.hint})`,
    );
  }
  const md5 = md5Hex(file.bytes);
  if (md5 !== expected.md5) {
    throw new DatasetImportError(`${label}: MD5 ${md5}, but ${expected.name} has ${expected.md5}: the download is corrupt or another file`);
  }
  const { train, test, classNames } = await readCifar10Archive(file.bytes, label);
  if (classNames.join('\n') !== builtin.classNames.join('\n')) {
    throw new DatasetImportError(`${label}: batches.meta.txt names ${classNames.join(', ')}; CIFAR-10's classes are ${builtin.classNames.join(', ')}`);
  }
  checkBuiltinShape('cifar10', train, test);
  return centralPlan(request, {
    title: builtin.title,
    train,
    test,
    classNames: builtin.classNames,
    normalize: builtin.normalization,
    verified: 'md5',
    files: [{ name: label, bytes: file.bytes.byteLength, md5 }],
  });
}

function checkBuiltinShape(name: 'fashion-mnist' | 'cifar10', train: Dataset, test: Dataset): void {
  const builtin = BUILTIN_DATASETS[name];
  for (const [split, dataset, samples] of [['train', train, builtin.trainSamples], ['test', test, builtin.testSamples]] as const) {
    if (dataset.count !== samples || formatShape(sampleShape(dataset)) !== formatShape(builtin.shape)) {
      throw new DatasetImportError(
        `${builtin.title} ${split}: ${dataset.count} images of ${formatShape(sampleShape(dataset))}, expected ${samples} of ${formatShape(builtin.shape)}`,
      );
    }
  }
}

function rejectClassOptions(request: ImportRequest, classes: number): void {
  if (request.classNames !== undefined || (request.classes !== undefined && request.classes !== classes)) {
    throw new DatasetImportError(`${request.name} has its own ${classes} classes and names: leave out --classes and --class-names`);
  }
}

// ── your own dataset ─────────────────────────────────────────────────────────────────────────────────────────────

async function planCustomCentral(request: ImportRequest): Promise<ImportPlan> {
  const bySplit = new Map<'train' | 'test', Partial<IdxPair>>();
  for (const file of request.files) {
    const label = baseName(file.path);
    const split = splitOf(label);
    if (!split) {
      throw new DatasetImportError(
        `${label}: cannot tell training from test data; name the files like MNIST's (train-images…, train-labels…, t10k-images… or test-images…, t10k-labels…)`,
      );
    }
    const { kind, content } = classify(file);
    const pair = bySplit.get(split) ?? {};
    if (pair[kind]) throw new DatasetImportError(`two ${split} ${kind} files: ${baseName(pair[kind].path)} and ${label}`);
    pair[kind] = { ...file, content };
    bySplit.set(split, pair);
  }
  const complete = (split: 'train' | 'test'): IdxPair => {
    const pair = bySplit.get(split) ?? {};
    const missing = (['images', 'labels'] as const).filter((kind) => !pair[kind]);
    if (missing.length > 0) throw new DatasetImportError(`the ${split} ${missing.join(' and ')} file${missing.length > 1 ? 's are' : ' is'} missing: an import takes train and test images and labels (4 idx files)`);
    return pair as IdxPair;
  };
  const trainFiles = complete('train');
  const testFiles = complete('test');
  const classes = resolveClasses(request, [trainFiles.labels, testFiles.labels]);
  const train = datasetFromIdx(trainFiles.images.content, trainFiles.labels.content, { classes, what: 'train' });
  const test = datasetFromIdx(testFiles.images.content, testFiles.labels.content, { classes, what: 'test' });
  if (formatShape(sampleShape(train)) !== formatShape(sampleShape(test))) {
    throw new DatasetImportError(`train images are ${formatShape(sampleShape(train))} but test images are ${formatShape(sampleShape(test))}`);
  }
  const files = [trainFiles.images, trainFiles.labels, testFiles.images, testFiles.labels].map((file) => sourceFile(file, file.content));
  return centralPlan(request, {
    title: request.name,
    train,
    test,
    classNames: classNamesFor(request, classes),
    normalize: request.normalize ?? 'none',
    verified: 'structure',
    files,
  });
}

interface CentralParts {
  readonly title: string;
  readonly train: Dataset;
  readonly test: Dataset;
  readonly classNames: readonly string[];
  readonly normalize: 'per-channel' | 'none';
  readonly verified: DatasetRecord['verified'];
  readonly files: DatasetRecord['files'];
}

function centralPlan(request: ImportRequest, parts: CentralParts): ImportPlan {
  const { name } = request;
  const normalize = request.normalize ?? parts.normalize;
  const normalization: Normalization | undefined = normalize === 'per-channel' ? channelStatistics(parts.train) : undefined;
  const withNormalization = (dataset: Dataset): Dataset => (normalization ? { ...dataset, normalization } : dataset);
  const record: DatasetRecord = {
    format: 1,
    name,
    title: parts.title,
    shape: [parts.train.rows, parts.train.cols, parts.train.channels],
    classes: parts.train.classes,
    classNames: [...parts.classNames],
    layout: 'central',
    normalization: normalization ? { mean: [...normalization.mean], std: [...normalization.std] } : null,
    train: summarizeSplit(parts.train),
    test: summarizeSplit(parts.test),
    clients: [],
    verified: parts.verified,
    files: [...parts.files],
    importedAt: (request.now ?? new Date()).toISOString(),
  };
  return {
    record,
    objects: [
      { key: keys.datasetSplit(name, 'train'), body: encodeShard(withNormalization(parts.train)), contentType: BINARY },
      { key: keys.datasetSplit(name, 'test'), body: encodeShard(withNormalization(parts.test)), contentType: BINARY },
      { key: keys.datasetInfo(name), body: JSON.stringify(record, null, 1), contentType: JSON_TYPE },
    ],
    summary:
      `${name}: ${parts.train.count.toLocaleString('en-US')} training and ${parts.test.count.toLocaleString('en-US')} test images of ` +
      `${formatShape(record.shape)}, ${record.classes} classes (${previewNames(record.classNames)})` +
      `${normalization ? ', normalised per channel' : ''}; ${parts.verified === 'md5' ? 'MD5 checksums verified' : 'headers, sizes and labels checked'}`,
  };
}

// ── natural partitions ───────────────────────────────────────────────────────────────────────────────────────────

async function planNatural(request: ImportRequest): Promise<ImportPlan> {
  const { name, existing, client } = request;
  const pair = naturalPair(request.files);
  if (existing === undefined && request.classes === undefined && request.classNames === undefined) {
    throw new DatasetImportError(
      `the first import into a natural dataset must say how many classes it has, since one client may not see them all: add --classes <n> or --class-names`,
    );
  }
  const classes = existing?.classes ?? resolveClasses(request, []);
  if (existing && request.classes !== undefined && request.classes !== classes) {
    throw new DatasetImportError(`--classes ${request.classes} does not match dataset ${name}, which has ${classes} classes`);
  }
  if (existing && request.classNames !== undefined && request.classNames.join('\n') !== existing.classNames.join('\n')) {
    throw new DatasetImportError(`--class-names does not match the class names dataset ${name} was created with (${previewNames(existing.classNames)})`);
  }
  const what = client !== undefined ? `client ${client}` : 'test set';
  const data = datasetFromIdx(pair.images.content, pair.labels.content, { classes, what });
  if (data.count === 0) throw new DatasetImportError(`${what}: the files hold no images`);
  if (existing && formatShape(sampleShape(data)) !== formatShape(existing.shape)) {
    throw new DatasetImportError(`${what}: images are ${formatShape(sampleShape(data))}, but dataset ${name} has ${formatShape(existing.shape)} images`);
  }
  const now = (request.now ?? new Date()).toISOString();
  const files = [sourceFile(pair.images, pair.images.content), sourceFile(pair.labels, pair.labels.content)];
  const base: DatasetRecord = existing ?? {
    format: 1,
    name,
    title: name,
    shape: [data.rows, data.cols, data.channels],
    classes,
    classNames: classNamesFor(request, classes),
    layout: 'natural',
    normalization: null,
    train: null,
    test: null,
    clients: [],
    verified: 'structure',
    files: [],
    importedAt: now,
  };
  const histogram = labelHistogram(data.labels, classes);
  const summary = `${data.count.toLocaleString('en-US')} images of ${formatShape(sampleShape(data))}, labels ${describeHistogram(histogram)}`;
  if (client === undefined) {
    const record: DatasetRecord = { ...base, test: { samples: data.count, labelHistogram: histogram }, files, importedAt: now };
    return {
      record,
      objects: [
        { key: keys.datasetSplit(name, 'test'), body: encodeShard(data), contentType: BINARY },
        { key: keys.datasetInfo(name), body: JSON.stringify(record, null, 1), contentType: JSON_TYPE },
      ],
      summary: `${name} test set: ${summary}`,
    };
  }
  const clientRecord: ClientRecord = { format: 1, dataset: name, clientId: client, samples: data.count, labelHistogram: histogram, files, importedAt: now };
  const record: DatasetRecord = { ...base, clients: [...new Set([...base.clients, client])].sort(), importedAt: now };
  return {
    record,
    client: clientRecord,
    objects: [
      { key: keys.datasetClientData(name, client), body: encodeShard(data), contentType: BINARY },
      { key: keys.datasetClientInfo(name, client), body: JSON.stringify(clientRecord, null, 1), contentType: JSON_TYPE },
      { key: keys.datasetInfo(name), body: JSON.stringify(record, null, 1), contentType: JSON_TYPE },
    ],
    summary: `${name} client ${client}${base.clients.includes(client) ? ' (replaced)' : ''}: ${summary}`,
  };
}

// ── helpers ──────────────────────────────────────────────────────────────────────────────────────────────────────

function resolveClasses(request: ImportRequest, labelFiles: readonly { content: Uint8Array; path: string }[]): number {
  const fromNames = request.classNames?.length;
  if (request.classes !== undefined && fromNames !== undefined && request.classes !== fromNames) {
    throw new DatasetImportError(`--classes ${request.classes} but --class-names lists ${fromNames} names`);
  }
  let classes = request.classes ?? fromNames;
  if (classes === undefined) {
    // Inferred from the labels seen: the largest label names the last class.
    let largest = 0;
    for (const file of labelFiles) {
      const { data } = decodeIdx(file.content, baseName(file.path));
      for (const value of data) if (value > largest) largest = value;
    }
    classes = largest + 1;
  }
  try {
    assertClassCount(classes);
  } catch (error) {
    throw new DatasetImportError(`${(error as Error).message}: pass --classes`);
  }
  return classes;
}

function classNamesFor(request: ImportRequest, classes: number): string[] {
  return request.classNames ? [...request.classNames] : Array.from({ length: classes }, (_, label) => String(label));
}
