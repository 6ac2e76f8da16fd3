import { CopyObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { S3Event, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createS3Client, createSqsClient } from '../shared/cloud/clients.js';
import { MAX_RECEIVE_COUNTS } from '../shared/cloud/resources.js';
import { S3ObjectStore } from '../shared/cloud/s3-store.js';
import { SqsMessageQueue } from '../shared/cloud/sqs-queue.js';
import { startLocalCloud, type LocalCloud, type SQSHandlerFn } from '../local/cloud.js';

/** One cloud for the file; each test plugs in its own fake handlers. */
const current: { start: (event: S3Event) => Promise<void>; aggregate: SQSHandlerFn; timer: SQSHandlerFn; train: SQSHandlerFn } = {
  start: async () => {},
  aggregate: async () => {},
  timer: async () => {},
  train: async () => {},
};
const logged: { event: string; fields?: Readonly<Record<string, unknown>> }[] = [];

let cloud: LocalCloud;
let s3: S3Client;
let sqs: SQSClient;

beforeAll(async () => {
  cloud = await startLocalCloud({
    uploadMnist: false,
    // Short, so retries happen within a test; the FIFO test's barrier must not outlive the aggregate one.
    visibilityTimeoutSeconds: { train: 1, timer: 1, aggregate: 30 },
    concurrency: { aggregate: 4, timer: 2, train: 2 },
    pollIntervalMs: 20,
    startRetryDelaysMs: [50, 50],
    handlers: {
      start: (event) => current.start(event),
      aggregate: (event) => current.aggregate(event),
      timer: (event) => current.timer(event),
      train: (event) => current.train(event),
    },
    log: (event, fields) => logged.push({ event, ...(fields ? { fields } : {}) }),
  });
  s3 = createS3Client({ endpoint: cloud.endpoint });
  sqs = createSqsClient({ endpoint: cloud.endpoint });
});

afterAll(async () => {
  s3?.destroy();
  sqs?.destroy();
  await cloud?.stop();
});

beforeEach(() => {
  logged.length = 0;
});

async function drain(url: string): Promise<{ body: string; receiveCount: string | undefined }[]> {
  const queue = new SqsMessageQueue(sqs, url);
  const drained = [];
  for (;;) {
    const messages = await queue.receive({ maxMessages: 10, waitTimeSeconds: 0 });
    if (messages.length === 0) return drained;
    drained.push(...messages.map((message) => ({ body: message.body, receiveCount: message.attributes.ApproximateReceiveCount })));
    await queue.deleteMessages(messages.map((message) => message.receiptHandle));
  }
}

describe('SQS event sources', () => {
  it('hand over a real-shaped SQSEvent and delete the messages a handler succeeded on', async () => {
    const seen: SQSRecord[] = [];
    current.train = async (event) => {
      seen.push(...event.Records);
      return { batchItemFailures: [] };
    };
    await cloud.context.queues.train.send({ n: 1 });
    await cloud.context.queues.train.send({ n: 2 });
    await cloud.idle();

    expect(seen.map((record) => JSON.parse(record.body) as unknown).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([{ n: 1 }, { n: 2 }]);
    const [record] = seen;
    expect(record).toMatchObject({
      eventSource: 'aws:sqs',
      eventSourceARN: expect.stringMatching(/^arn:aws:sqs:us-east-1:\d{12}:flambda-train$/),
      awsRegion: 'us-east-1',
      attributes: { ApproximateReceiveCount: '1', SenderId: expect.any(String) },
      messageAttributes: {},
    });
    expect(record!.md5OfBody).toMatch(/^[0-9a-f]{32}$/);
    expect(Number(record!.attributes.SentTimestamp)).toBeGreaterThan(0);
    expect(Number(record!.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThan(0);
    expect(await cloud.deadLetterCounts()).toEqual({ train: 0, aggregate: 0, timer: 0 });
  });

  it('retry only the records in batchItemFailures, then dead-letter them with their body intact', async () => {
    const receiveCounts = new Map<string, string[]>();
    current.timer = async (event): Promise<SQSBatchResponse> => {
      const batchItemFailures = [];
      for (const record of event.Records) {
        const { id } = JSON.parse(record.body) as { id: string };
        receiveCounts.set(id, [...(receiveCounts.get(id) ?? []), record.attributes.ApproximateReceiveCount]);
        if (id === 'poison') batchItemFailures.push({ itemIdentifier: record.messageId });
      }
      return { batchItemFailures };
    };
    const poison = { id: 'poison', payload: 'ünïcode and "quotes" survive' };
    await cloud.context.queues.timer.send({ id: 'fine-1' });
    await cloud.context.queues.timer.send(poison);
    await cloud.context.queues.timer.send({ id: 'fine-2' });
    await cloud.idle();

    // As on AWS: the stack's receive count for the timer queue, then the dead-letter queue.
    expect(receiveCounts.get('poison')).toEqual(Array.from({ length: MAX_RECEIVE_COUNTS.timer }, (_, index) => String(index + 1)));
    expect(receiveCounts.get('fine-1')).toEqual(['1']);
    expect(receiveCounts.get('fine-2')).toEqual(['1']);
    expect(await cloud.deadLetterCounts()).toEqual({ train: 0, aggregate: 0, timer: 1 });
    const deadLetters = await drain(cloud.queueUrls.timerDeadLetter);
    expect(deadLetters.map((message) => JSON.parse(message.body) as unknown)).toEqual([poison]);
    expect(logged.filter((entry) => entry.event === 'local.sqs.dead-letter')).toHaveLength(1);
  });

  it('retry the whole batch when the handler throws', async () => {
    let thrownBatch: string[] | undefined;
    const deliveries = new Map<string, string[]>();
    current.timer = async (event) => {
      for (const record of event.Records) deliveries.set(record.body, [...(deliveries.get(record.body) ?? []), record.attributes.ApproximateReceiveCount]);
      if (!thrownBatch) {
        thrownBatch = event.Records.map((record) => record.body);
        throw new Error('the first batch fails');
      }
    };
    for (let i = 0; i < 5; i++) await cloud.context.queues.timer.send({ i });
    await cloud.idle();

    expect(thrownBatch!.length).toBeGreaterThan(0);
    for (const [body, counts] of deliveries) {
      expect(counts).toEqual(thrownBatch!.includes(body) ? ['1', '2'] : ['1']);
    }
    expect(deliveries.size).toBe(5);
    expect(await cloud.deadLetterCounts()).toEqual({ train: 0, aggregate: 0, timer: 0 });
    expect(logged.find((entry) => entry.event === 'local.sqs.handler-failed')?.fields?.error).toMatch(/the first batch fails/);
  });

  it('treat a batch response naming an unknown message as a failure of the whole batch, as Lambda does', async () => {
    const deliveries: string[] = [];
    current.train = async (event) => {
      deliveries.push(event.Records[0]!.attributes.ApproximateReceiveCount);
      return deliveries.length === 1 ? { batchItemFailures: [{ itemIdentifier: 'not-in-this-batch' }] } : undefined;
    };
    await cloud.context.queues.train.send({ bad: 'response' });
    await cloud.idle();
    expect(deliveries).toEqual(['1', '2']);
  });

  it('never run two batches of one FIFO message group at once, and run different groups in parallel', async () => {
    const groups = ['exp-a', 'exp-b', 'exp-c'];
    const perGroup = 4;
    const active = new Map<string, number>();
    const maxActive = new Map<string, number>();
    const order = new Map<string, number[]>();
    const started = new Set<string>();
    let groupsRunningTogether = 0;
    let barrierTimedOut = false;

    current.aggregate = async (event: SQSEvent) => {
      for (const record of event.Records) {
        const group = record.attributes.MessageGroupId!;
        const { n } = JSON.parse(record.body) as { n: number };
        active.set(group, (active.get(group) ?? 0) + 1);
        maxActive.set(group, Math.max(maxActive.get(group) ?? 0, active.get(group)!));
        order.set(group, [...(order.get(group) ?? []), n]);
        const running = () => [...active.values()].filter((count) => count > 0).length;
        groupsRunningTogether = Math.max(groupsRunningTogether, running());
        // Each group's first message waits until every group has started: only possible if groups run in parallel.
        started.add(group);
        if (n === 0) {
          for (let waited = 0; started.size < groups.length; waited += 10) {
            if (waited > 15_000) {
              barrierTimedOut = true;
              break;
            }
            await sleep(10);
          }
        } else {
          await sleep(5);
        }
        active.set(group, active.get(group)! - 1);
      }
      return { batchItemFailures: [] };
    };
    for (let n = 0; n < perGroup; n++) {
      for (const group of groups) await cloud.context.queues.aggregate.send({ n }, { groupId: group, deduplicationId: `${group}:${n}` });
    }
    await cloud.idle();

    expect(barrierTimedOut).toBe(false);
    expect(groupsRunningTogether).toBe(groups.length);
    for (const group of groups) {
      expect(maxActive.get(group)).toBe(1);
      expect(order.get(group)).toEqual([0, 1, 2, 3]);
    }
  });
});

describe('S3 → start notifications', () => {
  it('invoke the start handler once per config.json written by any S3 client, and for no other key', async () => {
    const events: S3Event[] = [];
    current.start = async (event) => {
      events.push(event);
    };
    const put = (Key: string, Body: string) => s3.send(new PutObjectCommand({ Bucket: cloud.bucket, Key, Body }));
    await put('experiments/x/status.json', '{}');
    await put('experiments/x/config.json.bak', '{}');
    await put('datasets/config.json', '{}');
    await put('experiments/x/config.json', '{"rounds":2}');
    await cloud.idle();

    expect(events).toHaveLength(1);
    const [record] = events[0]!.Records;
    expect(record).toMatchObject({
      eventSource: 'aws:s3',
      eventName: 'ObjectCreated:Put',
      awsRegion: 'us-east-1',
      s3: {
        bucket: { name: 'flambda', arn: 'arn:aws:s3:::flambda' },
        object: { key: 'experiments/x/config.json', size: '{"rounds":2}'.length },
      },
    });
    expect(record!.s3.object.eTag).toMatch(/^[0-9a-f]{32}$/);
    expect(Date.parse(record!.eventTime)).not.toBeNaN();
  });

  it('report multipart uploads, as the AWS CLI makes for files over 8 MB', async () => {
    const events: S3Event[] = [];
    current.start = async (event) => {
      events.push(event);
    };
    const parted = new S3ObjectStore(s3, cloud.bucket, { multipartThresholdBytes: 5 * 1024 * 1024, partSizeBytes: 5 * 1024 * 1024 });
    await parted.put('experiments/large/config.json', new Uint8Array(5 * 1024 * 1024 + 1));
    await cloud.idle();
    expect(events.map((event) => event.Records[0]!.eventName)).toEqual(['ObjectCreated:CompleteMultipartUpload']);
    expect(events[0]!.Records[0]!.s3.object.size).toBe(5 * 1024 * 1024 + 1);
  });

  it('URL-encode the key as S3 does, and report copies', async () => {
    const events: S3Event[] = [];
    current.start = async (event) => {
      events.push(event);
    };
    await s3.send(new PutObjectCommand({ Bucket: cloud.bucket, Key: 'experiments/my run+1/config.json', Body: '{}' }));
    await cloud.idle();
    await s3.send(new CopyObjectCommand({ Bucket: cloud.bucket, CopySource: `${cloud.bucket}/experiments/x/config.json`, Key: 'experiments/y/config.json' }));
    await cloud.idle();

    expect(events.map((event) => [event.Records[0]!.eventName, event.Records[0]!.s3.object.key])).toEqual([
      ['ObjectCreated:Put', 'experiments/my+run%2B1/config.json'],
      ['ObjectCreated:Copy', 'experiments/y/config.json'],
    ]);
  });

  it('retry a start handler that throws, like an asynchronous Lambda invocation', async () => {
    let attempts = 0;
    current.start = async () => {
      attempts++;
      if (attempts === 1) throw new Error('transient');
    };
    await cloud.context.store.put('experiments/retried/config.json', '{}');
    await cloud.idle();
    expect(attempts).toBe(2);
    expect(logged.find((entry) => entry.event === 'local.start.failed')?.fields).toMatchObject({ attempt: 1, willRetry: true });
  });
});
