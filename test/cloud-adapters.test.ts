import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCloudFormationClient, createS3Client, createSqsClient } from '../shared/cloud/clients.js';
import { StackOutputsError, readStackOutputs, requireStackOutput } from '../shared/cloud/cloudformation.js';
import { ObjectStoreError, S3ObjectStore, createBucketIfMissing } from '../shared/cloud/s3-store.js';
import { MessageQueueError, SqsMessageQueue, createQueue, queueUrlByName } from '../shared/cloud/sqs-queue.js';
import { startEmulator, type Emulator } from '../local/emulator.js';

const MIB = 1024 * 1024;
const BUCKET = 'adapters';

let emulator: Emulator;
let s3: S3Client;
let sqs: SQSClient;
let store: S3ObjectStore;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, host: '127.0.0.1', region: 'us-east-1', onObjectWritten: () => {} });
  s3 = createS3Client({ endpoint: emulator.endpoint });
  sqs = createSqsClient({ endpoint: emulator.endpoint });
  await createBucketIfMissing(s3, BUCKET);
  store = new S3ObjectStore(s3, BUCKET);
});

afterAll(async () => {
  s3?.destroy();
  sqs?.destroy();
  await emulator?.close();
});

describe('S3ObjectStore', () => {
  it('answers undefined / false for a missing key, and the content once it exists', async () => {
    expect(await store.get('missing/key.bin')).toBeUndefined();
    expect(await store.getText('missing/key.json')).toBeUndefined();
    expect(await store.exists('missing/key.bin')).toBe(false);
    expect(await store.head('missing/key.bin')).toBeUndefined();

    await store.put('present/hello.json', '{"hello":"wörld"}', 'application/json');
    expect(await store.getText('present/hello.json')).toBe('{"hello":"wörld"}');
    expect(await store.exists('present/hello.json')).toBe(true);
    expect((await store.head('present/hello.json'))?.size).toBe(new TextEncoder().encode('{"hello":"wörld"}').byteLength);

    await store.delete('present/hello.json');
    expect(await store.exists('present/hello.json')).toBe(false);
  });

  it('reads an object in one GET only when it is within the bound, with what a HEAD would say either way', async () => {
    expect(await store.getAtMost('missing/bounded.bin', 10)).toBeUndefined();
    const body = new Uint8Array(randomBytes(3 * MIB + 5));
    await store.put('bounded/three.bin', body);
    const head = await store.head('bounded/three.bin');

    const within = await store.getAtMost('bounded/three.bin', body.byteLength);
    expect(within?.info).toEqual(head);
    expect(Buffer.from(within!.bytes!).equals(Buffer.from(body))).toBe(true);
    // A buffer of its own from offset 0, so a decoder may view it as float32.
    expect(within!.bytes!.byteOffset).toBe(0);
    expect(within!.bytes!.buffer.byteLength).toBe(body.byteLength);

    const over = await store.getAtMost('bounded/three.bin', body.byteLength - 1);
    expect(over).toEqual({ info: head });
    // The abandoned body's connection is gone; the next requests of the same client still succeed.
    expect((await store.get('bounded/three.bin'))?.byteLength).toBe(body.byteLength);
    await store.put('bounded/empty.bin', new Uint8Array(0));
    expect((await store.getAtMost('bounded/empty.bin', 0))?.bytes?.byteLength).toBe(0);
    await expect(new S3ObjectStore(s3, 'no-such-bucket').getAtMost('a', 10)).rejects.toThrow(/s3:\/\/no-such-bucket\/a/);
  });

  it('reports a missing bucket as an error naming it, not as a missing key', async () => {
    const noBucket = new S3ObjectStore(s3, 'no-such-bucket');
    await expect(noBucket.get('a')).rejects.toThrow(ObjectStoreError);
    await expect(noBucket.get('a')).rejects.toThrow(/s3:\/\/no-such-bucket\/a/);
  });

  it('round-trips 7 MiB of binary in one PUT', async () => {
    const body = new Uint8Array(randomBytes(7 * MIB));
    await store.put('binary/seven.bin', body);
    const back = await store.get('binary/seven.bin');
    expect(back?.byteLength).toBe(body.byteLength);
    expect(Buffer.from(back!).equals(Buffer.from(body))).toBe(true);
  });

  it('uploads bodies above the threshold in parts, byte for byte', async () => {
    const parted = new S3ObjectStore(s3, BUCKET, { multipartThresholdBytes: 5 * MIB, partSizeBytes: 5 * MIB });
    const body = new Uint8Array(randomBytes(12 * MIB + 3));
    await parted.put('binary/twelve.bin', body);
    const back = await parted.get('binary/twelve.bin');
    expect(Buffer.from(back!).equals(Buffer.from(body))).toBe(true);
    // A multipart ETag is the MD5 of the part digests plus "-<parts>".
    expect((await parted.head('binary/twelve.bin'))?.eTag).toMatch(/-3"?$/);
  });

  it('lists every key under a prefix across pages', async () => {
    const keys = Array.from({ length: 23 }, (_, i) => `paged/${String(i).padStart(3, '0')}.json`);
    await Promise.all([...keys.map((key) => store.put(key, '{}')), store.put('pagedX/outside.json', '{}'), store.put('other/x.json', '{}')]);

    // The emulator really pages at MaxKeys, so a list that stopped after one page would miss keys.
    const firstPage = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'paged/', MaxKeys: 5 }));
    expect(firstPage.Contents).toHaveLength(5);
    expect(firstPage.IsTruncated).toBe(true);

    const smallPages = new S3ObjectStore(s3, BUCKET, { listPageSize: 5 });
    expect((await smallPages.list('paged/')).sort()).toEqual(keys);
    expect(await smallPages.list('nothing-here/')).toEqual([]);
  });

  it('creates a bucket once', async () => {
    expect(await createBucketIfMissing(s3, 'made-once')).toBe(true);
    expect(await createBucketIfMissing(s3, 'made-once')).toBe(false);
  });
});

describe('SqsMessageQueue', () => {
  it('sends JSON and receives it with Lambda-relevant system attributes', async () => {
    const { url } = await createQueue(sqs, { name: 'adapters-standard' });
    const queue = new SqsMessageQueue(sqs, url);
    await queue.send({ type: 'train', experimentId: 'e', round: 1, clientId: 'client-000' });
    const [message] = await queue.receive({ maxMessages: 10, waitTimeSeconds: 1 });
    expect(JSON.parse(message!.body)).toEqual({ type: 'train', experimentId: 'e', round: 1, clientId: 'client-000' });
    expect(message!.attributes.ApproximateReceiveCount).toBe('1');
    expect(Number(message!.attributes.SentTimestamp)).toBeGreaterThan(0);
    await queue.deleteMessages([message!.receiptHandle]);
    expect(await queue.counts()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('delays a message on a standard queue', async () => {
    const queue = new SqsMessageQueue(sqs, (await createQueue(sqs, { name: 'adapters-delay' })).url);
    await queue.send({ due: 'later' }, { delaySeconds: 600 });
    expect(await queue.counts()).toEqual({ visible: 0, inFlight: 0, delayed: 1 });
    await expect(queue.send({}, { delaySeconds: 901 })).rejects.toThrow(RangeError);
  });

  it('passes FIFO group and deduplication ids, and refuses what a FIFO queue cannot take', async () => {
    const queue = new SqsMessageQueue(sqs, (await createQueue(sqs, { name: 'adapters.fifo' })).url);
    expect(queue.fifo).toBe(true);
    await queue.send({ n: 1 }, { groupId: 'experiment-a', deduplicationId: 'a:1' });
    await queue.send({ n: 1 }, { groupId: 'experiment-a', deduplicationId: 'a:1' });
    expect((await queue.counts()).visible).toBe(1);

    const [message] = await queue.receive({ maxMessages: 10, waitTimeSeconds: 1 });
    expect(message!.attributes.MessageGroupId).toBe('experiment-a');
    expect(message!.attributes.MessageDeduplicationId).toBe('a:1');

    await expect(queue.send({ n: 2 })).rejects.toThrow(MessageQueueError);
    await expect(queue.send({ n: 2 }, { groupId: 'g', deduplicationId: 'd', delaySeconds: 5 })).rejects.toThrow(/FIFO/);
  });

  it('creates a queue with a redrive policy and finds it by name', async () => {
    const deadLetter = await createQueue(sqs, { name: 'adapters-dlq' });
    const main = await createQueue(sqs, {
      name: 'adapters-redriven',
      visibilityTimeoutSeconds: 7,
      deadLetter: { targetArn: deadLetter.arn, maxReceiveCount: 3 },
    });
    const attributes = await new SqsMessageQueue(sqs, main.url).attributes();
    expect(JSON.parse(attributes.RedrivePolicy!)).toEqual({ deadLetterTargetArn: deadLetter.arn, maxReceiveCount: '3' });
    expect(attributes.VisibilityTimeout).toBe('7');
    expect(main.arn).toMatch(/^arn:aws:sqs:us-east-1:\d{12}:adapters-redriven$/);
    expect(await queueUrlByName(sqs, 'adapters-redriven')).toBe(main.url);
    await expect(queueUrlByName(sqs, 'no-such-queue')).rejects.toThrow(/no-such-queue/);
  });
});

describe('clients', () => {
  it('read AWS_ENDPOINT_URL when no endpoint is passed, and then need no credentials or region in the environment', async () => {
    const env = { AWS_ENDPOINT_URL: emulator.endpoint };
    const fromEnv = new S3ObjectStore(createS3Client({}, env), BUCKET);
    await fromEnv.put('from-env.txt', 'reached through AWS_ENDPOINT_URL');
    expect(await store.getText('from-env.txt')).toBe('reached through AWS_ENDPOINT_URL');

    const sqsFromEnv = createSqsClient({}, env);
    const url = await queueUrlByName(sqsFromEnv, 'adapters-standard');
    expect(url).toBe(`${emulator.endpoint}/000000000000/adapters-standard`);
    // A queue URL whose host does not resolve (fauxqs's own form): this only works if the endpoint is used.
    await new SqsMessageQueue(sqsFromEnv, url.replace('127.0.0.1', 'sqs.us-east-1.localhost')).send({ via: 'env' });
    sqsFromEnv.destroy();
  });

  it('keep one middleware stack per command, so a request does not rebuild it', () => {
    const s3Client = createS3Client({ endpoint: emulator.endpoint });
    const sqsClient = createSqsClient({ endpoint: emulator.endpoint });
    expect([s3Client.config.cacheMiddleware, sqsClient.config.cacheMiddleware]).toEqual([true, true]);
    s3Client.destroy();
    sqsClient.destroy();
  });
});

describe('readStackOutputs', () => {
  let server: Server;
  let endpoint: string;
  const stacks: Record<string, string> = {
    Flambda: `<member><StackName>Flambda</StackName><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/Flambda/1</StackId>
      <CreationTime>2026-01-01T00:00:00Z</CreationTime><StackStatus>UPDATE_COMPLETE</StackStatus>
      <Outputs><member><OutputKey>BucketName</OutputKey><OutputValue>flambda-bucket-1a2b</OutputValue></member>
      <member><OutputKey>TrainQueueUrl</OutputKey><OutputValue>https://sqs.us-east-1.amazonaws.com/123456789012/flambda-train</OutputValue></member></Outputs></member>`,
    Broken: `<member><StackName>Broken</StackName><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/Broken/1</StackId>
      <CreationTime>2026-01-01T00:00:00Z</CreationTime><StackStatus>ROLLBACK_COMPLETE</StackStatus>
      <StackStatusReason>The following resource(s) failed to create: [Bucket].</StackStatusReason></member>`,
  };

  beforeAll(async () => {
    // CloudFormation speaks the AWS query protocol; a few lines of HTTP stand in for it.
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        const name = new URLSearchParams(body).get('StackName') ?? '';
        const stack = stacks[name];
        response.setHeader('content-type', 'text/xml');
        if (!stack) {
          response.statusCode = 400;
          response.end(`<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>
            <Code>ValidationError</Code><Message>Stack with id ${name} does not exist</Message></Error><RequestId>r</RequestId></ErrorResponse>`);
          return;
        }
        response.end(`<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult>
          <Stacks>${stack}</Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeStacksResponse>`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  it('returns the outputs of a deployed stack', async () => {
    const client = createCloudFormationClient({ endpoint });
    const stack = await readStackOutputs(client, 'Flambda');
    expect(stack.status).toBe('UPDATE_COMPLETE');
    expect(requireStackOutput(stack, 'BucketName')).toBe('flambda-bucket-1a2b');
    expect(() => requireStackOutput(stack, 'AggregateQueueUrl')).toThrow(/has no output AggregateQueueUrl \(it has: BucketName, TrainQueueUrl\)/);
    client.destroy();
  });

  it('says when a stack does not exist or never deployed', async () => {
    const client = createCloudFormationClient({ endpoint });
    await expect(readStackOutputs(client, 'Nope')).rejects.toThrow(StackOutputsError);
    await expect(readStackOutputs(client, 'Nope')).rejects.toThrow(/stack Nope does not exist in us-east-1/);
    await expect(readStackOutputs(client, 'Broken')).rejects.toThrow(/ROLLBACK_COMPLETE \(The following resource\(s\) failed/);
    client.destroy();
  });
});
