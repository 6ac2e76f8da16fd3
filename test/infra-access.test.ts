import type { SQSBatchResponse } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAggregateHandler } from '../functions/aggregate.js';
import { createStartHandler } from '../functions/start.js';
import { createTimerHandler } from '../functions/timer.js';
import { createTrainHandler } from '../functions/train.js';
import { BUCKET_ACCESS, keyMatches, type FunctionName } from '../infra/lib/bucket-access.js';
import type { MessageQueue, ObjectStore, PipelineQueues, SendOptions } from '../shared/cloud/ports.js';
import type { QueueRole } from '../shared/cloud/resources.js';
import { STRATEGY_NAMES } from '../shared/config/schema.js';
import { planImport } from '../shared/data/import.js';
import { MNIST_FILES, readMnistFile, type MnistFile } from '../shared/data/mnist.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { keys } from '../shared/protocol/keys.js';
import { s3EventFor, sqsEventFor } from '../local/events.js';
import type { ReceivedMessage } from '../shared/cloud/sqs-queue.js';
import { idxFiles, syntheticImages } from './helpers/datasets.js';

/**
 * Least privilege, checked against behaviour: the real handlers run a small two-round experiment per strategy (one
 * straggler, so round 2 closes at its deadline through the timer) over an in-memory bucket that records which function touched
 * which key. Every access must be allowed by infra/lib/bucket-access.ts, which is what the stack grants (pinned by
 * test/infra-stack.test.ts); and every grant must be used, or it is more than the function needs.
 */

type Operation = 'read' | 'write' | 'list' | 'delete';
interface Access {
  readonly fn: FunctionName;
  readonly operation: Operation;
  readonly key: string;
}
interface Sent {
  readonly from: FunctionName;
  readonly to: QueueRole;
  readonly body: unknown;
  readonly options: SendOptions;
}

type StrategyName = (typeof STRATEGY_NAMES)[number];
const STRATEGIES = STRATEGY_NAMES;
const BUCKET = 'flambda-access-test';

const objects = new Map<string, Uint8Array>();
const accesses: Access[] = [];
const sent: Sent[] = [];
let clock = new Date('2026-11-26T12:00:00Z');
let sequence = 0;

function recordingStore(fn: FunctionName): ObjectStore {
  const read = (key: string) => {
    accesses.push({ fn, operation: 'read', key });
    return objects.get(key);
  };
  return {
    bucket: BUCKET,
    put: async (key, body) => {
      accesses.push({ fn, operation: 'write', key });
      objects.set(key, typeof body === 'string' ? new TextEncoder().encode(body) : body);
    },
    get: async (key) => read(key),
    getText: async (key) => {
      const body = read(key);
      return body === undefined ? undefined : new TextDecoder().decode(body);
    },
    head: async (key) => {
      const body = read(key);
      return body === undefined ? undefined : { size: body.byteLength, eTag: '"e"' };
    },
    getAtMost: async (key, maxBytes) => {
      const body = read(key);
      if (body === undefined) return undefined;
      const info = { size: body.byteLength, eTag: '"e"' };
      return body.byteLength > maxBytes ? { info } : { info, bytes: body };
    },
    exists: async (key) => read(key) !== undefined,
    list: async (prefix) => {
      accesses.push({ fn, operation: 'list', key: prefix });
      return [...objects.keys()].filter((key) => key.startsWith(prefix));
    },
    delete: async (key) => {
      accesses.push({ fn, operation: 'delete', key });
      objects.delete(key);
    },
  };
}

function recordingQueues(from: FunctionName): PipelineQueues {
  const queue = (to: QueueRole): MessageQueue => ({
    url: `https://sqs.test/${to}`,
    send: async (body, options = {}) => {
      sent.push({ from, to, body, options });
    },
    sendBatch: async (entries) => {
      for (const { body, options = {} } of entries) sent.push({ from, to, body, options });
    },
    // Visibility is the trigger queue's business (granted with the event source), not an object or send grant.
    changeVisibilityBatch: async () => {},
  });
  return { train: queue('train'), aggregate: queue('aggregate'), timer: queue('timer') };
}

const contextFor = (fn: FunctionName) => async (): Promise<PipelineContext> => ({
  store: recordingStore(fn),
  queues: recordingQueues(fn),
  now: () => clock,
  log: () => {},
});

const handlers = {
  start: createStartHandler(contextFor('start')),
  train: createTrainHandler(contextFor('train')),
  aggregate: createAggregateHandler(contextFor('aggregate')),
  timer: createTimerHandler(contextFor('timer')),
};

function asReceived(message: Sent): ReceivedMessage {
  sequence += 1;
  return {
    messageId: `m-${sequence}`,
    receiptHandle: `r-${sequence}`,
    body: JSON.stringify(message.body),
    md5OfBody: '',
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(clock.getTime()),
      ...(message.options.groupId ? { MessageGroupId: message.options.groupId, MessageDeduplicationId: message.options.deduplicationId ?? '', SequenceNumber: String(sequence) } : {}),
    },
    messageAttributes: {},
  };
}

/** Delivers every undelivered message sent to `role` that `keep` accepts, one per invocation (batch size 1). */
async function deliver(role: QueueRole, keep: (message: Sent) => boolean = () => true): Promise<void> {
  const pending = sent.filter((message) => message.to === role && !delivered.has(message));
  for (const message of pending) {
    delivered.add(message);
    if (!keep(message)) continue;
    const response: SQSBatchResponse = await handlers[role](sqsEventFor([asReceived(message)], `arn:aws:sqs:us-east-1:000000000000:${role}`, 'us-east-1'));
    expect(response.batchItemFailures, `${role} ${JSON.stringify(message.body)}`).toEqual([]);
  }
}
const delivered = new Set<Sent>();
const experimentFor = (strategy: StrategyName) => `access-${strategy}`;
const of = (experimentId: string) => (message: Sent) => (message.body as { experimentId: string }).experimentId === experimentId;

/**
 * Two rounds of two clients: round 1 with a duplicate train delivery and an early deadline that the timer re-delays;
 * round 2 with a straggler, closed by its deadline through timer → aggregate.
 */
async function runExperiment(strategy: StrategyName): Promise<void> {
  const experimentId = experimentFor(strategy);
  const mine = of(experimentId);
  const config = {
    name: experimentId, clients: 2, rounds: 2, seed: 3, model: 'mlp', samplesPerClient: 32, testSamples: 50,
    strategy: { name: strategy }, round: { deadlineSeconds: 60, minClients: 1 },
    // stratified sampling reads the partition's label histograms whenever a round opens, including from start
    ...(strategy === 'fedavg' ? { sampling: { perRound: 2, method: 'stratified' } } : {}),
    // FedPer keeps client-private layers under clients/*/personal/
    ...(strategy === 'fedprox' ? { personalization: { localLayers: ['logits'] } } : {}),
  };
  const configKey = keys.config(experimentId);
  objects.set(configKey, new TextEncoder().encode(JSON.stringify(config)));
  const created = { eventName: 'ObjectCreated:Put' as const, bucket: BUCKET, key: configKey, size: 1, eTag: 'e', sourceIp: '127.0.0.1', requestId: 'r', time: clock, sequence: 1 };
  await handlers.start(s3EventFor(created, 'us-east-1', 'start'));
  // The start function forwards the upload to the experiment's FIFO group; the aggregator starts it.
  await deliver('aggregate', mine);

  const firstTrain = sent.find((message) => message.to === 'train' && mine(message))!;
  await deliver('train', mine);
  delivered.delete(firstTrain);
  await deliver('train', (message) => message === firstTrain);
  await deliver('aggregate', mine);
  await deliver('timer', mine);
  await deliver('train', (message) => mine(message) && (message.body as { clientId: string }).clientId === 'client-000');
  await deliver('aggregate', mine);
  clock = new Date(clock.getTime() + 61_000);
  await deliver('timer', mine);
  await deliver('aggregate', mine);
}

/** Imports datasets the way `flambda dataset import` does: an imported central one, and a natural one of two clients. */
async function importDatasets(): Promise<void> {
  const pair = (count: number, seed: number, name: string) => {
    const files = idxFiles(syntheticImages(count, [8, 8, 1], 3, seed), [8, 8, 1]);
    return [{ path: `${name}-images-idx3-ubyte`, bytes: files.images }, { path: `${name}-labels-idx1-ubyte`, bytes: files.labels }];
  };
  const store = (plan: Awaited<ReturnType<typeof planImport>>) => {
    for (const object of plan.objects) objects.set(object.key, typeof object.body === 'string' ? new TextEncoder().encode(object.body) : object.body);
    return plan.record;
  };
  store(await planImport({ name: 'tiny', classes: 3, files: [...pair(40, 1, 'train'), ...pair(20, 2, 't10k')] }));
  let record = store(await planImport({ name: 'silos', client: 'north', classes: 3, files: pair(20, 3, 'north') }));
  record = store(await planImport({ name: 'silos', client: 'south', files: pair(24, 4, 'south'), existing: record }));
  store(await planImport({ name: 'silos', test: true, files: pair(20, 5, 'test'), existing: record }));
}

/** Start, then every message as it comes, until the experiment's summary exists. */
async function runToSummary(experimentId: string, config: Record<string, unknown>): Promise<void> {
  const mine = of(experimentId);
  const configKey = keys.config(experimentId);
  objects.set(configKey, new TextEncoder().encode(JSON.stringify({ name: experimentId, ...config })));
  const created = { eventName: 'ObjectCreated:Put' as const, bucket: BUCKET, key: configKey, size: 1, eTag: 'e', sourceIp: '127.0.0.1', requestId: 'r', time: clock, sequence: 1 };
  await handlers.start(s3EventFor(created, 'us-east-1', 'start'));
  // A secure-aggregation round takes four train → aggregate steps (its stages), a plain round one.
  for (let step = 0; step < 12 && !objects.has(keys.summary(experimentId)); step++) {
    await deliver('train', mine);
    await deliver('aggregate', mine);
  }
  expect(objects.has(keys.summary(experimentId)), experimentId).toBe(true);
}

beforeAll(async () => {
  for (const file of Object.keys(MNIST_FILES) as MnistFile[]) objects.set(keys.mnist(file), await readMnistFile(file));
  await importDatasets();
  for (const strategy of STRATEGIES) await runExperiment(strategy);
  // sharedData: the start writes the public subset once, and every trainer reads it for its share.
  await runToSummary('access-imported', { dataset: 'tiny', clients: 2, rounds: 2, model: 'mlp', sharedData: { fraction: 0.25, perClient: 0.5 } });
  await runToSummary('access-natural', { dataset: 'silos', clients: 2, rounds: 2, model: 'mlp', partition: { kind: 'natural' } });
  // A robust aggregator with a centre between rounds, colluding attackers that read who was sampled, and compression
  // with error feedback (each client's residual is its own, under clients/<id>/residual/).
  await runToSummary('access-robust', {
    clients: 3, rounds: 2, model: 'mlp', samplesPerClient: 32, testSamples: 50,
    aggregator: { kind: 'centered-clipping', tau: 1 }, adversaries: { kind: 'alie', fraction: 0.67 }, compression: { kind: 'topk', ratio: 0.1 },
  });
  // A tree of sums (round.groups): each group's state and partial sum, written and read by the aggregator only, which
  // also sends to its own queue ("group closed", the deadline passed on to a group).
  await runToSummary('access-groups', { clients: 3, rounds: 2, model: 'mlp', samplesPerClient: 32, testSamples: 50, round: { groups: 2 } });
  // Secure aggregation: client secrets under clients/<id>/secagg/, read by the trainer only; with FedPer's local layers
  // left out of the masked vector and a server optimizer stepping on the unmasked mean.
  await runToSummary('access-secagg', {
    clients: 3, rounds: 2, model: 'mlp', samplesPerClient: 32, testSamples: 50, strategy: { name: 'fedadam' },
    personalization: { localLayers: ['logits'] }, secureAggregation: { threshold: 2, clippingRange: 1, quantizationBits: 16 },
  });
}, 180_000);

describe('what the functions touch at run time', () => {
  it.each(STRATEGIES)('completes the %s experiment, its second round at the deadline (so every step ran)', (strategy) => {
    const read = (key: string) => JSON.parse(new TextDecoder().decode(objects.get(key))) as unknown;
    expect(read(keys.summary(experimentFor(strategy)))).toMatchObject({ state: 'completed', rounds: 2 });
    expect(read(keys.roundState(experimentFor(strategy), 2))).toMatchObject({ closed: { reason: 'deadline' } });
  });

  it('reads and writes only keys the stack grants to that function, and never lists or deletes', () => {
    const denied = accesses.filter(({ fn, operation, key }) => {
      if (operation === 'list' || operation === 'delete') return true;
      return !BUCKET_ACCESS[fn][operation].some((pattern) => keyMatches(pattern, key));
    });
    expect(denied).toEqual([]);
  });

  it('uses every object grant it has, so none is broader than needed', () => {
    const used = new Set<string>();
    for (const { fn, operation, key } of accesses) {
      if (operation !== 'read' && operation !== 'write') continue;
      for (const pattern of BUCKET_ACCESS[fn][operation]) if (keyMatches(pattern, key)) used.add(`${fn} ${operation} ${pattern}`);
    }
    const unused = (Object.keys(BUCKET_ACCESS) as FunctionName[]).flatMap((fn) =>
      (['read', 'write'] as const).flatMap((operation) =>
        BUCKET_ACCESS[fn][operation].map((pattern) => `${fn} ${operation} ${pattern}`).filter((grant) => !used.has(grant)),
      ),
    );
    expect(unused).toEqual([]);
  });

  it('lets only the trainer read a natural partition\'s client data, which it did, and the aggregator (which starts experiments) only the clients\' metadata', () => {
    const clientData = keys.datasetClientData('silos', 'north');
    const readers = (Object.keys(BUCKET_ACCESS) as FunctionName[]).filter((fn) => BUCKET_ACCESS[fn].read.some((pattern) => keyMatches(pattern, clientData)));
    expect(readers).toEqual(['train']);
    const dataReads = accesses.filter(({ operation, key }) => operation === 'read' && /^datasets\/silos\/clients\/[^/]+\/data\.bin$/.test(key));
    expect(dataReads.map(({ fn }) => fn)).toEqual(expect.arrayContaining(['train']));
    expect(new Set(dataReads.map(({ fn }) => fn))).toEqual(new Set(['train']));
    const aggregatorReads = accesses.filter(({ fn, operation, key }) => fn === 'aggregate' && operation === 'read' && key.startsWith('datasets/silos/'));
    expect(new Set(aggregatorReads.map(({ key }) => key))).toEqual(
      new Set([keys.datasetInfo('silos'), keys.datasetClientInfo('silos', 'north'), keys.datasetClientInfo('silos', 'south'), keys.datasetSplit('silos', 'test')]),
    );
  });

  it("keeps secure aggregation's client secrets from the aggregator: only the trainer may read them, and only it did", () => {
    const secret = keys.secaggSecret('access-secagg', 'client-000', 1);
    const readers = (Object.keys(BUCKET_ACCESS) as FunctionName[]).filter((fn) => BUCKET_ACCESS[fn].read.some((pattern) => keyMatches(pattern, secret)));
    expect(readers).toEqual(['train']);
    const secretReads = accesses.filter(({ operation, key }) => operation === 'read' && /\/clients\/[^/]+\/secagg\//.test(key));
    expect(secretReads.length).toBeGreaterThan(0);
    expect(new Set(secretReads.map(({ fn }) => fn))).toEqual(new Set(['train']));
    // No individual update exists to read: the aggregator read masked inputs only.
    const aggregatorReads = accesses.filter(({ fn, operation, key }) => fn === 'aggregate' && operation === 'read' && key.startsWith('experiments/access-secagg/'));
    expect(aggregatorReads.some(({ key }) => key.endsWith('/secagg/masked/client-000.bin'))).toBe(true);
    expect(aggregatorReads.filter(({ key }) => /\/updates\/[^/]+\.bin$/.test(key))).toEqual([]);
  });

  it('sends only to the queues the stack lets each function send to, and uses each of those', () => {
    for (const fn of Object.keys(BUCKET_ACCESS) as FunctionName[]) {
      const targets = new Set(sent.filter((message) => message.from === fn).map((message) => message.to));
      expect([...targets].sort(), fn).toEqual([...BUCKET_ACCESS[fn].sendsTo].sort());
    }
  });
});
