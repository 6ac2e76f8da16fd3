/**
 * Counting decorators for the pipeline's ports (shared/cloud/ports.ts): every S3 and SQS call a handler makes,
 * with the bytes it moved, counted without touching the pipeline. The benchmark puts them in front of each
 * handler's context; on AWS each counted call is one billed request.
 */
import type { BatchEntry, GetOptions, MessageQueue, ObjectStore, PipelineQueues, SendOptions, VisibilityEntry } from '../shared/cloud/ports.js';

export interface S3Counts {
  get: number;
  getBytes: number;
  put: number;
  putBytes: number;
  head: number;
  list: number;
  delete: number;
  /** GETs and HEADs started while another read of the same handler was in flight: their waits overlap */
  overlapped: number;
}

export interface SqsCounts {
  /** SendMessage calls */
  send: number;
  /** SendMessageBatch calls (up to 10 messages each) */
  sendBatch: number;
  /** messages sent in those batches */
  batched: number;
  sendBytes: number;
  changeVisibility: number;
  /** receive calls that returned messages, as Lambda's event-source mapping hands them to a handler (one batch each) */
  receive: number;
  /** messages in those batches */
  received: number;
  /** DeleteMessageBatch calls after a batch: one per batch with at least one success */
  delete: number;
}

export interface OperationCounts {
  readonly s3: S3Counts;
  readonly sqs: SqsCounts;
}

export function emptyCounts(): OperationCounts {
  return {
    s3: { get: 0, getBytes: 0, put: 0, putBytes: 0, head: 0, list: 0, delete: 0, overlapped: 0 },
    sqs: { send: 0, sendBatch: 0, batched: 0, sendBytes: 0, changeVisibility: 0, receive: 0, received: 0, delete: 0 },
  };
}

/** a + b, field by field */
export function addCounts(a: OperationCounts, b: OperationCounts): OperationCounts {
  const sum = emptyCounts();
  for (const key of Object.keys(sum.s3) as (keyof S3Counts)[]) sum.s3[key] = a.s3[key] + b.s3[key];
  for (const key of Object.keys(sum.sqs) as (keyof SqsCounts)[]) sum.sqs[key] = a.sqs[key] + b.sqs[key];
  return sum;
}

/** a − b, field by field: the operations made after snapshot b was taken */
export function subtractCounts(a: OperationCounts, b: OperationCounts): OperationCounts {
  const difference = emptyCounts();
  for (const key of Object.keys(difference.s3) as (keyof S3Counts)[]) difference.s3[key] = a.s3[key] - b.s3[key];
  for (const key of Object.keys(difference.sqs) as (keyof SqsCounts)[]) difference.sqs[key] = a.sqs[key] - b.sqs[key];
  return difference;
}

const byteLength = (body: Uint8Array | string) => (typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);

/**
 * `store` with each call counted in `counts.s3`. `exists` is a HEAD and `getText` a GET, as the S3 adapter makes
 * them; a GET of a missing key still counts (S3 bills it), with 0 bytes.
 */
export function countingStore(store: ObjectStore, counts: S3Counts): ObjectStore {
  let inFlight = 0;
  const read = async <T>(perform: () => Promise<T>): Promise<T> => {
    if (inFlight > 0) counts.overlapped++;
    inFlight++;
    try {
      return await perform();
    } finally {
      inFlight--;
    }
  };
  return {
    bucket: store.bucket,
    async put(key: string, body: Uint8Array | string, contentType?: string) {
      counts.put++;
      counts.putBytes += byteLength(body);
      await store.put(key, body, contentType);
    },
    async get(key: string, options?: GetOptions) {
      counts.get++;
      const body = await read(() => store.get(key, options));
      counts.getBytes += body?.byteLength ?? 0;
      return body;
    },
    async getText(key: string) {
      counts.get++;
      const text = await read(() => store.getText(key));
      counts.getBytes += text === undefined ? 0 : Buffer.byteLength(text);
      return text;
    },
    head(key: string) {
      counts.head++;
      return read(() => store.head(key));
    },
    async getAtMost(key: string, maxBytes: number) {
      counts.get++;
      const found = await read(() => store.getAtMost(key, maxBytes));
      counts.getBytes += found?.bytes?.byteLength ?? 0;
      return found;
    },
    exists(key: string) {
      counts.head++;
      return read(() => store.exists(key));
    },
    list(prefix: string) {
      // A ListObjectsV2 page holds up to 1,000 keys; the count is of pages, worked out from the answer.
      return store.list(prefix).then((found) => {
        counts.list += Math.max(1, Math.ceil(found.length / 1000));
        return found;
      });
    },
    delete(key: string) {
      counts.delete++;
      return store.delete(key);
    },
  };
}

export function countingQueue(queue: MessageQueue, counts: SqsCounts): MessageQueue {
  return {
    url: queue.url,
    async send(body: unknown, options?: SendOptions) {
      counts.send++;
      counts.sendBytes += Buffer.byteLength(JSON.stringify(body));
      await queue.send(body, options);
    },
    async sendBatch(entries: readonly BatchEntry[]) {
      // One billed call per 10 entries, as the SQS adapter groups them (a retry of refused entries is not counted).
      counts.sendBatch += Math.ceil(entries.length / 10);
      counts.batched += entries.length;
      for (const { body } of entries) counts.sendBytes += Buffer.byteLength(JSON.stringify(body));
      await queue.sendBatch(entries);
    },
    async changeVisibilityBatch(entries: readonly VisibilityEntry[]) {
      // Calls, as billed: one per 10 entries.
      counts.changeVisibility += Math.ceil(entries.length / 10);
      await queue.changeVisibilityBatch(entries);
    },
  };
}

export function countingQueues(queues: PipelineQueues, counts: SqsCounts): PipelineQueues {
  return { train: countingQueue(queues.train, counts), aggregate: countingQueue(queues.aggregate, counts), timer: countingQueue(queues.timer, counts) };
}

/**
 * `store` with every request waiting `latencyMs` first: S3 as the aggregator sees it on AWS (a request waits, the CPU
 * is free), so that reads made together can be told from reads made one after another on the local runtime.
 */
export function slowedStore(store: ObjectStore, latencyMs: number): ObjectStore {
  const wait = () => new Promise((resolve) => setTimeout(resolve, latencyMs));
  return {
    bucket: store.bucket,
    put: async (key, body, contentType) => (await wait(), store.put(key, body, contentType)),
    get: async (key, options) => (await wait(), store.get(key, options)),
    getText: async (key) => (await wait(), store.getText(key)),
    head: async (key) => (await wait(), store.head(key)),
    getAtMost: async (key, maxBytes) => (await wait(), store.getAtMost(key, maxBytes)),
    exists: async (key) => (await wait(), store.exists(key)),
    list: async (prefix) => (await wait(), store.list(prefix)),
    delete: async (key) => (await wait(), store.delete(key)),
  };
}
