import type { z } from 'zod';
import type { ObjectStore, PipelineQueues } from '../cloud/ports.js';
import { decodeModelWeights, WeightsError, type TensorLayout } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';

export type Log = (event: string, fields?: Readonly<Record<string, unknown>>) => void;

/** Everything a pipeline step needs from the outside world; handlers build it, tests and the local runtime inject it. */
export interface PipelineContext {
  readonly store: ObjectStore;
  readonly queues: PipelineQueues;
  readonly now: () => Date;
  readonly log: Log;
  /** The bucket's lifecycle expiry of experiments/ objects, in days (undefined: never): longer experiments are refused. */
  readonly experimentRetentionDays?: number;
  /**
   * What a warm process (a Lambda container, the local runtime) keeps between invocations, as the identity its caches
   * are keyed by: the experiment's config and partition, what the aggregator remembers of a round. Default: the store.
   */
  readonly warm?: object;
}

/** One JSON line per event, as CloudWatch Logs Insights and the local runtime's log file both read easily. */
export const jsonLineLog: Log = (event, fields = {}) => {
  console.log(JSON.stringify({ time: new Date().toISOString(), event, ...fields }));
};

/** A record the pipeline needs is missing or malformed: retrying cannot fix it. */
export class PipelineRecordError extends Error {
  override name = 'PipelineRecordError';
}

export async function readRecord<T extends z.ZodType>(
  store: ObjectStore,
  key: string,
  schema: T,
): Promise<z.output<T> | undefined> {
  const text = await store.getText(key);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PipelineRecordError(`s3://${store.bucket}/${key} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new PipelineRecordError(`s3://${store.bucket}/${key} has an unexpected shape: ${parsed.error.message}`);
  }
  return parsed.data;
}

export async function requireRecord<T extends z.ZodType>(store: ObjectStore, key: string, schema: T): Promise<z.output<T>> {
  const record = await readRecord(store, key, schema);
  if (record === undefined) throw new PipelineRecordError(`s3://${store.bucket}/${key} does not exist`);
  return record;
}

export async function requireObject(store: ObjectStore, key: string): Promise<Uint8Array> {
  const body = await store.get(key);
  if (body === undefined) throw new PipelineRecordError(`s3://${store.bucket}/${key} does not exist`);
  return body;
}

export function writeRecord(store: ObjectStore, key: string, record: unknown): Promise<void> {
  return store.put(key, JSON.stringify(record, null, 1), 'application/json');
}

/** A client's weights object, decoded against `layout`; what is wrong with it names the client. */
export async function readClientWeights(store: ObjectStore, key: string, clientId: string, layout: readonly TensorLayout[]): Promise<ModelWeights> {
  const bytes = await requireObject(store, key);
  try {
    return decodeModelWeights(bytes, layout);
  } catch (error) {
    if (error instanceof WeightsError) throw new WeightsError(`${clientId}'s ${key}: ${error.message}`, { cause: error });
    throw error;
  }
}
