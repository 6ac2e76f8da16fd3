import { z } from 'zod';
import { BUILTIN_DATASETS, type BuiltinDatasetName } from './registry.js';
import { MAX_CLASSES, type Dataset, type Normalization, type SampleShape } from './types.js';

/**
 * What the bucket says about an imported dataset. datasets/<name>/dataset.json describes the whole dataset (written
 * last by an import, so it only exists once the data it names does); a natural partition's clients each have a
 * datasets/<name>/clients/<id>/meta.json with their sample count and label histogram. The start step reads only
 * these: never a client's data.
 */

const count = z.int().min(0);

export const splitSummarySchema = z.object({
  samples: count,
  labelHistogram: z.array(count),
});
export type SplitSummary = z.infer<typeof splitSummarySchema>;

export const sourceFileSchema = z.object({
  name: z.string(),
  bytes: count,
  md5: z.string(),
});

export const datasetRecordSchema = z.object({
  format: z.literal(1),
  name: z.string(),
  title: z.string(),
  shape: z.tuple([z.int().min(1), z.int().min(1), z.int().min(1)]),
  classes: z.int().min(2).max(MAX_CLASSES),
  classNames: z.array(z.string()),
  /** central: one train set the start step partitions; natural: each client's data imported on its own */
  layout: z.enum(['central', 'natural']),
  normalization: z.object({ mean: z.array(z.number()), std: z.array(z.number().positive()) }).nullable(),
  /** central only */
  train: splitSummarySchema.nullable(),
  /** null until a natural dataset's test set is imported (`--test`) */
  test: splitSummarySchema.nullable(),
  /** natural only: the imported client ids, sorted */
  clients: z.array(z.string()),
  /** how the files were checked: "md5" against the published checksums, "structure" (headers, sizes, labels) otherwise */
  verified: z.enum(['md5', 'structure']),
  files: z.array(sourceFileSchema),
  importedAt: z.string(),
});
export type DatasetRecord = z.infer<typeof datasetRecordSchema>;

export const clientRecordSchema = z.object({
  format: z.literal(1),
  dataset: z.string(),
  clientId: z.string(),
  samples: z.int().min(1),
  labelHistogram: z.array(count),
  files: z.array(sourceFileSchema),
  importedAt: z.string(),
});
export type ClientRecord = z.infer<typeof clientRecordSchema>;

/** What the rest of flambda needs to know about a dataset, whichever kind it is. */
export interface DatasetDescription {
  readonly name: string;
  readonly title: string;
  readonly shape: SampleShape;
  readonly classes: number;
  readonly classNames: readonly string[];
  readonly layout: 'central' | 'natural';
  readonly trainSamples?: number;
  readonly testSamples?: number;
  readonly clients: readonly string[];
}

export function describeBuiltin(name: BuiltinDatasetName): DatasetDescription {
  const builtin = BUILTIN_DATASETS[name];
  return {
    name,
    title: builtin.title,
    shape: builtin.shape,
    classes: builtin.classNames.length,
    classNames: builtin.classNames,
    layout: 'central',
    trainSamples: builtin.trainSamples,
    testSamples: builtin.testSamples,
    clients: [],
  };
}

export function describeRecord(record: DatasetRecord): DatasetDescription {
  return {
    name: record.name,
    title: record.title,
    shape: record.shape,
    classes: record.classes,
    classNames: record.classNames,
    layout: record.layout,
    ...(record.train ? { trainSamples: record.train.samples } : {}),
    ...(record.test ? { testSamples: record.test.samples } : {}),
    clients: record.clients,
  };
}

export function labelHistogram(labels: Uint8Array, classes: number): number[] {
  const histogram = new Array<number>(classes).fill(0);
  for (const label of labels) histogram[label]!++;
  return histogram;
}

export function summarizeSplit(dataset: Dataset): SplitSummary {
  return { samples: dataset.count, labelHistogram: labelHistogram(dataset.labels, dataset.classes) };
}

/**
 * Each channel's mean and (population) standard deviation over every pixel of the set, on the [0, 1] scale: the
 * standard per-channel normalisation, computed from the training set only so no test information leaks into it.
 */
export function channelStatistics(dataset: Dataset): Normalization {
  const { channels, images } = dataset;
  const perChannel = images.length / channels;
  const mean: number[] = [];
  const std: number[] = [];
  for (let channel = 0; channel < channels; channel++) {
    // Integer sums are exact (at most 255² × 2^32 < 2^53) and much faster than float ones.
    let sum = 0;
    let squares = 0;
    for (let i = channel; i < images.length; i += channels) {
      const value = images[i]!;
      sum += value;
      squares += value * value;
    }
    const m = sum / perChannel;
    mean.push(m / 255);
    std.push(Math.sqrt(Math.max(squares / perChannel - m * m, 0)) / 255);
  }
  // A constant channel would divide by zero; leaving it unscaled changes nothing a model could learn from it.
  return { mean, std: std.map((s) => (s > 1e-6 ? s : 1)) };
}
