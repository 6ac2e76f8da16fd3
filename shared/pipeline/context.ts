import type { z } from 'zod';
import type { ObjectStore, PipelineQueues } from '../cloud/ports.js';

export type Log = (event: string, fields?: Readonly<Record<string, unknown>>) => void;

/** Everything a pipeline step needs from the outside world; handlers build it, tests and the local runtime inject it. */
export interface PipelineContext {
  readonly store: ObjectStore;
  readonly queues: PipelineQueues;
  readonly now: () => Date;
  readonly log: Log;
}

/** One JSON line per event, as CloudWatch Logs Insights and the local runtime's log file both read easily. */
export const jsonLineLog: Log = (event, fields = {}) => {
  console.log(JSON.stringify({ time: new Date().toISOString(), event, ...fields }));
};

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
