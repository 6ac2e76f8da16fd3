import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrainHandler } from '../functions/train.js';
import type { LocalCloud } from '../local/cloud.js';
import type { ObjectStore } from '../shared/cloud/ports.js';
import type { ExperimentConfigInput } from '../shared/config/schema.js';
import type { ExperimentStatus } from '../shared/metrics/types.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { readStatus } from '../shared/pipeline/experiment.js';
import { readConfigForTraining, readGlobalModelBytes } from '../shared/pipeline/trainer-reads.js';
import { keys } from '../shared/protocol/keys.js';
import type { TrainMessage } from '../shared/protocol/messages.js';
import { startCloudWithScriptedClients, uploadConfig, waitFor, waitForStatus } from './helpers/pipeline.js';

/**
 * A warm trainer keeps the global model a round starts from and the resolved config between the clients it trains,
 * each for the version it was read as (shared/pipeline/trainer-reads.ts). Real training, real S3 and SQS calls to
 * the local cloud; every read the trainer makes is recorded.
 */

/** `store`, recording the key of every read. */
function recordingReads(store: ObjectStore, reads: string[]): ObjectStore {
  return {
    bucket: store.bucket,
    put: (key, body, contentType) => store.put(key, body, contentType),
    get: (key, options) => (reads.push(key), store.get(key, options)),
    getText: (key) => (reads.push(key), store.getText(key)),
    head: (key) => (reads.push(key), store.head(key)),
    getAtMost: (key, maxBytes) => (reads.push(key), store.getAtMost(key, maxBytes)),
    exists: (key) => (reads.push(key), store.exists(key)),
    list: (prefix) => store.list(prefix),
    delete: (key) => store.delete(key),
  };
}

const tiny = {
  clients: 4,
  rounds: 2,
  model: 'mlp',
  samplesPerClient: 40,
  testSamples: 100,
  local: { epochs: 1, batchSize: 20, learningRate: 0.05 },
  partition: { kind: 'iid' },
} as const satisfies ExperimentConfigInput;

let cloud: LocalCloud;
let trainMessages: TrainMessage[];

beforeAll(async () => {
  // The cloud's own trainer only collects the train messages: the test hands them to a real trainer of its own.
  ({ cloud, trainMessages } = await startCloudWithScriptedClients());
});
afterAll(async () => {
  await cloud?.stop();
});

const readsOf = (reads: readonly string[], key: string) => reads.filter((read) => read === key).length;

let sequence = 0;
function eventOf(messages: readonly TrainMessage[]): SQSEvent {
  return {
    Records: messages.map((message) => {
      const id = `train-${++sequence}`;
      return {
        messageId: id,
        receiptHandle: `receipt-${id}`,
        body: JSON.stringify(message),
        attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'test', ApproximateFirstReceiveTimestamp: String(Date.now()) },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:flambda-train',
        awsRegion: 'us-east-1',
      };
    }),
  };
}

describe('a warm trainer reads what every client of a round shares once', () => {
  it('reads each round\'s global model and the config once for all its clients, and each client\'s own records every time', async () => {
    const id = 'warm-trainer';
    const reads: string[] = [];
    const context: PipelineContext = { ...cloud.context, store: recordingReads(cloud.context.store, reads), warm: {} };
    const train = createTrainHandler(async () => context);
    await uploadConfig(cloud, id, tiny);
    for (const round of [1, 2]) {
      const status = await waitForStatus(cloud, id, (s) => s.round === round || s.state !== 'running');
      expect(status).toMatchObject({ state: 'running', round });
      // status.json names the version of the global model the round trains from
      expect(status.globalModelETag).toBe((await cloud.context.store.head(keys.globalModel(id, round - 1)))!.eTag);
      const messages = await waitFor('the round\'s train messages', async () => {
        const sent = trainMessages.filter((message) => message.experimentId === id && message.round === round);
        return sent.length === tiny.clients ? sent : undefined;
      });
      // two clients at once, then two one after the other: a read in flight is shared too
      const [first, second, ...rest] = messages;
      await Promise.all([train(eventOf([first!])), train(eventOf([second!]))]);
      for (const message of rest) expect((await train(eventOf([message])))?.batchItemFailures ?? []).toEqual([]);
    }
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 120_000);
    expect(status.errors ?? []).toEqual([]);
    expect(status.state).toBe('completed');

    expect(readsOf(reads, keys.globalModel(id, 0))).toBe(1);
    expect(readsOf(reads, keys.globalModel(id, 1))).toBe(1);
    expect(readsOf(reads, keys.resolvedConfig(id))).toBe(1);
    // What changes from client to client, or may change meanwhile, is still read for each of the 8 client-updates.
    expect(readsOf(reads, keys.status(id))).toBe(8);
    for (const message of trainMessages.filter((m) => m.experimentId === id)) {
      expect(readsOf(reads, keys.updateReport(id, message.round, message.clientId))).toBe(1);
    }
  });
});

describe('a copy is used only for the version status.json names', () => {
  function observed(): { context: PipelineContext; reads: string[] } {
    const reads: string[] = [];
    return { context: { ...cloud.context, store: recordingReads(cloud.context.store, reads), warm: {} }, reads };
  }
  const running = (round: number, globalModelETag?: string): ExperimentStatus => ({
    experimentId: 'restarted',
    state: 'running',
    round,
    rounds: 5,
    updatedAt: new Date().toISOString(),
    ...(globalModelETag ? { globalModelETag } : {}),
  });
  const round1 = { experimentId: 'restarted', round: 1 };

  it('reads the global model again for another version, and reads S3\'s when the named one is gone', async () => {
    const { context, reads } = observed();
    const key = keys.globalModel('restarted', 0);
    const first = new Uint8Array([1, 2, 3, 4]);
    const second = new Uint8Array([5, 6, 7, 8, 9]);
    await cloud.context.store.put(key, first);
    const firstETag = (await cloud.context.store.head(key))!.eTag;

    expect(await readGlobalModelBytes(context, round1, running(1, firstETag))).toEqual(first);
    expect(await readGlobalModelBytes(context, round1, running(1, firstETag))).toEqual(first);
    expect(readsOf(reads, key)).toBe(1);

    // The experiment restarted: new bytes under the same key, and a status naming them.
    await cloud.context.store.put(key, second);
    const secondETag = (await cloud.context.store.head(key))!.eTag;
    expect(secondETag).not.toBe(firstETag);
    expect(await readGlobalModelBytes(context, round1, running(1, secondETag))).toEqual(second);
    expect(await readGlobalModelBytes(context, round1, running(1, secondETag))).toEqual(second);
    expect(readsOf(reads, key)).toBe(2);

    // Another process that never held the first version, with a status read before the restart: it gets what S3
    // holds (the conditional read fails), and keeps no copy of a version nothing named.
    const { context: fresh, reads: freshReads } = observed();
    expect(await readGlobalModelBytes(fresh, round1, running(1, firstETag))).toEqual(second);
    expect(await readGlobalModelBytes(fresh, round1, running(1, firstETag))).toEqual(second);
    expect(readsOf(freshReads, key)).toBe(4);

    // No copy without a running status for the message's round: another round's status, none, or one without an ETag.
    const before = readsOf(reads, key);
    await readGlobalModelBytes(context, round1, running(2, secondETag));
    await readGlobalModelBytes(context, round1, { ...running(1, secondETag), state: 'completed' });
    await readGlobalModelBytes(context, round1, undefined);
    await readGlobalModelBytes(context, round1, running(1));
    expect(readsOf(reads, key) - before).toBe(4);
    await expect(readGlobalModelBytes(context, { experimentId: 'never-written', round: 1 }, running(1, firstETag))).rejects.toThrow(/does not exist/);
  });

  it('reads the config again when status.json names another uploaded config than the copy was resolved from', async () => {
    const id = 'warm-trainer';
    const { context, reads } = observed();
    const status = (await readStatus(cloud.context.store, id))!;
    expect(status.configETag).toBeTruthy();
    const config = await readConfigForTraining(context, id, status);
    expect(await readConfigForTraining(context, id, status)).toBe(config);
    expect(readsOf(reads, keys.resolvedConfig(id))).toBe(1);
    // The copy is shared between clients: changing it throws instead of reaching the next client.
    expect(() => {
      (config.local as { epochs: number }).epochs = 99;
    }).toThrow(TypeError);

    // Another upload (status names its ETag) while the resolved config still pins the old one: read, and not kept.
    const other = { ...status, configETag: '"another-upload"' };
    await readConfigForTraining(context, id, other);
    await readConfigForTraining(context, id, other);
    expect(readsOf(reads, keys.resolvedConfig(id))).toBe(3);
    // No configETag in the status: read every time.
    const { configETag: _, ...withoutETag } = status;
    await readConfigForTraining(context, id, withoutETag);
    expect(readsOf(reads, keys.resolvedConfig(id))).toBe(4);
  });
});
