import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3Event } from 'aws-lambda';
import { createStartHandler } from '../functions/start.js';
import type { LocalCloud } from '../local/cloud.js';
import { createSqsClient } from '../shared/cloud/clients.js';
import { SqsMessageQueue } from '../shared/cloud/sqs-queue.js';
import type { RoundMetrics } from '../shared/metrics/types.js';
import { readRoundState } from '../shared/pipeline/experiment.js';
import { keys } from '../shared/protocol/keys.js';
import type { TrainMessage } from '../shared/protocol/messages.js';
import { scaffoldServerControl } from '../shared/strategies/scaffold.js';
import { filledLike } from '../shared/strategies/tensor-math.js';
import { decodeModelWeights, encodeModelWeights } from '../shared/weights/codec.js';
import {
  announceUpdate,
  count,
  readGlobal,
  shifted,
  startCloudWithScriptedClients,
  uploadConfig,
  waitFor,
  waitForStatus,
  writeUpdate,
  type LogEntry,
} from './helpers/pipeline.js';

const small = { clients: 3, rounds: 2, model: 'mlp', samplesPerClient: 20, testSamples: 100 } as const;

let cloud: LocalCloud;
let trainMessages: TrainMessage[];
let logs: LogEntry[];

beforeAll(async () => {
  ({ cloud, trainMessages, logs } = await startCloudWithScriptedClients());
});
afterAll(async () => {
  await cloud?.stop();
});

const messagesFor = (experimentId: string, round: number) =>
  trainMessages.filter((message) => message.experimentId === experimentId && message.round === round);

function waitForTrainMessages(experimentId: string, round: number, clients: number) {
  return waitFor(`${clients} train messages for round ${round}`, async () =>
    messagesFor(experimentId, round).length >= clients ? messagesFor(experimentId, round) : undefined,
  );
}

async function readRoundMetrics(experimentId: string, round: number): Promise<RoundMetrics> {
  const text = await cloud.context.store.getText(keys.roundMetrics(experimentId, round));
  if (!text) throw new Error(`no metrics for round ${round}`);
  return JSON.parse(text) as RoundMetrics;
}

describe('rounds under real queue semantics', () => {
  it('aggregates each round exactly once and fans out once, however often and concurrently updates are announced', async () => {
    const id = 'dup-1';
    await uploadConfig(cloud, id, { ...small, name: 'duplicates' });
    const round1 = await waitForTrainMessages(id, 1, 3);
    const global0 = await readGlobal(cloud, id, 0);

    // Every client reports, and every announcement arrives three times at once.
    await Promise.all(round1.map((message, index) => writeUpdate(cloud, message, shifted(global0, index + 1), 5 * (index + 1))));
    await Promise.all(round1.flatMap((message) => [0, 1, 2].map((copy) => announceUpdate(cloud, message, copy))));
    await waitForTrainMessages(id, 2, 3);
    await cloud.idle({ includeDelayed: false });

    expect(count(logs, 'round.closed', { experimentId: id, round: 1 })).toBe(1);
    expect(messagesFor(id, 2)).toHaveLength(3);
    // At least the six extra copies; more when a slow close outlives the 1 s test visibility timeout and is redelivered.
    expect(count(logs, 'aggregate.outcome', { experimentId: id, round: 1, outcome: 'duplicate' })).toBeGreaterThanOrEqual(6);

    // FedAvg weighted by samples 5/10/15 of shifts +1/+2/+3: (5·1 + 10·2 + 15·3) / 30 = 70/30.
    const global1 = await readGlobal(cloud, id, 1);
    const expectedShift = 70 / 30;
    for (const [t, tensor] of global1.entries()) {
      expect(tensor.values[0]).toBeCloseTo(global0[t]!.values[0]! + expectedShift, 4);
    }

    // Round 2 completes the experiment; a duplicate after completion changes nothing.
    const round2 = messagesFor(id, 2);
    await Promise.all(round2.map((message) => writeUpdate(cloud, message, global1, 5)));
    await Promise.all(round2.map((message) => announceUpdate(cloud, message)));
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running');
    expect(status.state).toBe('completed');
    await announceUpdate(cloud, round2[0]!, 7);
    await cloud.idle({ includeDelayed: false });
    expect(count(logs, 'round.closed', { experimentId: id, round: 2 })).toBe(1);
    expect(count(logs, 'experiment.completed', { experimentId: id })).toBe(1);
    expect(messagesFor(id, 3)).toHaveLength(0);
    expect(await cloud.context.store.exists(keys.finalModel(id))).toBe(true);
  });

  it('closes a round at the deadline with the clients that arrived when the quorum holds', async () => {
    const id = 'deadline-quorum';
    await uploadConfig(cloud, id, { ...small, rounds: 1, name: 'quorum', round: { deadlineSeconds: 6, minClients: 2 } });
    const [first, second] = await waitForTrainMessages(id, 1, 3);
    const global0 = await readGlobal(cloud, id, 0);
    for (const message of [first!, second!]) {
      await writeUpdate(cloud, message, shifted(global0, 1), 10);
      await announceUpdate(cloud, message);
    }
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 30_000);
    expect(status.state).toBe('completed');
    const metrics = await readRoundMetrics(id, 1);
    expect(metrics.clients.map((client) => client.clientId)).toEqual([first!.clientId, second!.clientId]);
    expect(metrics.missingClients).toEqual(['client-002']);
    const state = await readRoundState(cloud.context.store, id, 1);
    expect(state?.closed?.reason).toBe('deadline');
  });

  it('fails the experiment at the deadline without a quorum, naming the missing clients', async () => {
    const id = 'deadline-no-quorum';
    await uploadConfig(cloud, id, { ...small, name: 'no quorum', round: { deadlineSeconds: 6 } });
    const [first] = await waitForTrainMessages(id, 1, 3);
    await writeUpdate(cloud, first!, shifted(await readGlobal(cloud, id, 0), 1), 10);
    await announceUpdate(cloud, first!);
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 30_000);
    expect(status.state).toBe('failed');
    expect(status.errors?.join('\n')).toContain('missing clients: client-001, client-002');
    expect(status.errors?.join('\n')).toMatch(/1 usable update\(s\) of 3; round\.minClients requires 3/);
    expect(messagesFor(id, 2)).toHaveLength(0);
  });

  it('rejects corrupt, non-finite and wrong-shape updates, records why, and averages only the good ones', async () => {
    const id = 'corrupt';
    await uploadConfig(cloud, id, { ...small, rounds: 1, name: 'corrupt', round: { minClients: 1 } });
    const [good, garbage, poisoned] = await waitForTrainMessages(id, 1, 3);
    const global0 = await readGlobal(cloud, id, 0);
    const nan = shifted(global0, 0);
    nan[0]!.values[3] = Number.NaN;

    await writeUpdate(cloud, good!, shifted(global0, 2), 10);
    await writeUpdate(cloud, garbage!, new TextEncoder().encode('not weights at all'), 10);
    await writeUpdate(cloud, poisoned!, encodeModelWeights(nan), 10);
    for (const message of [good!, garbage!, poisoned!]) await announceUpdate(cloud, message);

    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running');
    expect(status.state).toBe('completed');
    const metrics = await readRoundMetrics(id, 1);
    expect(metrics.clients.map((client) => client.clientId)).toEqual([good!.clientId]);
    expect(metrics.rejectedClients.map((r) => r.clientId).sort()).toEqual([garbage!.clientId, poisoned!.clientId].sort());
    expect(metrics.rejectedClients.find((r) => r.clientId === poisoned!.clientId)?.reason).toMatch(/NaN|finite/i);
    const global1 = await readGlobal(cloud, id, 1);
    expect(global1[0]!.values[3]).toBeCloseTo(global0[0]!.values[3]! + 2, 4);
  });

  it('rejects an update whose shapes differ from the global model', async () => {
    const id = 'wrong-shape';
    await uploadConfig(cloud, id, { ...small, rounds: 1, name: 'shape', round: { minClients: 2 } });
    const [a, b, c] = await waitForTrainMessages(id, 1, 3);
    const global0 = await readGlobal(cloud, id, 0);
    const truncated = global0.map((tensor, index) =>
      index === 0 ? { ...tensor, shape: [tensor.values.length - 1], values: tensor.values.slice(1) } : tensor,
    );
    await writeUpdate(cloud, a!, global0, 10);
    await writeUpdate(cloud, b!, global0, 10);
    await writeUpdate(cloud, c!, truncated, 10);
    for (const message of [a!, b!, c!]) await announceUpdate(cloud, message);
    await waitForStatus(cloud, id, (s) => s.state === 'completed');
    const metrics = await readRoundMetrics(id, 1);
    expect(metrics.rejectedClients).toHaveLength(1);
    expect(metrics.rejectedClients[0]!.clientId).toBe(c!.clientId);
    expect(metrics.rejectedClients[0]!.reason).toMatch(/shape/i);
  });

  it('trains only the sampled clients and closes the round when they have reported', async () => {
    const id = 'sampled';
    await uploadConfig(cloud, id, { ...small, clients: 4, name: 'sampling', sampling: { perRound: 2, method: 'uniform' } });
    const round1 = await waitForTrainMessages(id, 1, 2);
    await cloud.idle({ includeDelayed: false });
    expect(messagesFor(id, 1)).toHaveLength(2);
    const state = await readRoundState(cloud.context.store, id, 1);
    expect(state?.expected).toEqual(round1.map((message) => message.clientId));
    const global0 = await readGlobal(cloud, id, 0);
    for (const message of round1) {
      await writeUpdate(cloud, message, shifted(global0, 1), 10);
      await announceUpdate(cloud, message);
    }
    await waitForTrainMessages(id, 2, 2);
    const metrics = await readRoundMetrics(id, 1);
    expect(metrics.clients.map((client) => client.clientId)).toEqual(round1.map((message) => message.clientId));
    expect(metrics.missingClients).toEqual([]);
    expect((await readRoundState(cloud.context.store, id, 1))?.closed?.reason).toBe('all-reported');
  });

  it('SCAFFOLD: adopts the control variates of accepted clients only and moves the server control by |S|/N of their mean change', async () => {
    const id = 'scaffold-controls';
    await uploadConfig(cloud, id, { ...small, rounds: 1, name: 'scaffold', strategy: { name: 'scaffold' }, local: { optimizer: 'sgd' }, round: { minClients: 2 } });
    const [a, b, bad] = await waitForTrainMessages(id, 1, 3);
    const global0 = await readGlobal(cloud, id, 0);
    const store = cloud.context.store;
    const propose = async (message: TrainMessage, control: number, delta: number) => {
      await store.put(keys.controlProposal(id, 1, message.clientId), encodeModelWeights(shifted(filledLike(global0, 0), control)));
      await store.put(keys.controlDelta(id, 1, message.clientId), encodeModelWeights(shifted(filledLike(global0, 0), delta)));
    };
    await propose(a!, 1, 1);
    await propose(b!, 3, 3);
    // The third client's update is corrupt: its proposal must never become its control variate.
    await propose(bad!, 100, 100);
    await writeUpdate(cloud, a!, global0, 10);
    await writeUpdate(cloud, b!, global0, 10);
    await writeUpdate(cloud, bad!, new TextEncoder().encode('corrupt'), 10);
    for (const message of [a!, b!, bad!]) await announceUpdate(cloud, message);
    await waitForStatus(cloud, id, (s) => s.state === 'completed');

    const control = async (clientId: string) => {
      const bytes = await store.get(keys.clientControl(id, clientId));
      return bytes && decodeModelWeights(bytes)[0]!.values[0];
    };
    expect(await control(a!.clientId)).toBe(1);
    expect(await control(b!.clientId)).toBe(3);
    expect(await control(bad!.clientId)).toBeUndefined();
    // c = 0 + (|S|/N)·mean(Δc) = (2/3)·((1 + 3)/2) = 4/3
    const serverState = decodeModelWeights((await store.get(keys.serverState(id, 1)))!);
    expect(scaffoldServerControl(serverState, global0)[0]!.values[0]).toBeCloseTo(4 / 3, 5);
  });

  it('marks an invalid config as failed with messages that name the field', async () => {
    const id = 'bad-config';
    await uploadConfig(cloud, id, { clients: 0, model: 'cnn', rouns: 3 } as never);
    const status = await waitForStatus(cloud, id, () => true);
    expect(status.state).toBe('failed');
    const errors = status.errors!.join('\n');
    expect(errors).toMatch(/clients/);
    expect(errors).toMatch(/model: .*cnn-mcmahan/);
    expect(errors).toMatch(/rouns/);
    expect(messagesFor(id, 1)).toHaveLength(0);
  });

  it('refuses personalization layers the model does not have before anything trains', async () => {
    const id = 'bad-personal';
    await uploadConfig(cloud, id, { ...small, name: 'personal', personalization: { localLayers: ['head'] } });
    const status = await waitForStatus(cloud, id, () => true);
    expect(status.state).toBe('failed');
    expect(status.errors!.join('\n')).toMatch(/personalization\.localLayers\[0\]: "head" .*its layers: /);
    expect(messagesFor(id, 1)).toHaveLength(0);
  });

  it('sends a message that keeps failing to the dead-letter queue, body intact', async () => {
    const before = await cloud.deadLetterCounts();
    // An update for an experiment that was never started can never succeed.
    await announceUpdate(cloud, { experimentId: 'never-started', round: 1, clientId: 'client-000' });
    await waitFor('the message in the aggregate DLQ', async () => {
      const after = await cloud.deadLetterCounts();
      return after.aggregate > before.aggregate ? after : undefined;
    });
    expect(count(logs, 'round.closed', { experimentId: 'never-started' })).toBe(0);
    const deadLetters = new SqsMessageQueue(createSqsClient({ endpoint: cloud.endpoint }), cloud.queueUrls.aggregateDeadLetter);
    const received = await deadLetters.receive({ maxMessages: 10, waitTimeSeconds: 1 });
    expect(received.map((message) => JSON.parse(message.body))).toContainEqual({
      type: 'update', experimentId: 'never-started', round: 1, clientId: 'client-000',
    });
  });

  it('re-running the start handler with the same event changes nothing', async () => {
    const id = 'start-twice';
    await uploadConfig(cloud, id, { ...small, name: 'twice' });
    await waitForTrainMessages(id, 1, 3);
    await cloud.idle({ includeDelayed: false });
    const snapshot = async () => {
      const objects = new Map<string, string>();
      for (const key of await cloud.context.store.list(`experiments/${id}/`)) {
        objects.set(key, Buffer.from((await cloud.context.store.get(key))!).toString('base64'));
      }
      return objects;
    };
    const before = await snapshot();
    const event = {
      Records: [{ s3: { bucket: { name: cloud.bucket }, object: { key: keys.config(id) } } }],
    } as unknown as S3Event;
    await createStartHandler(async () => cloud.context)(event);
    await cloud.idle({ includeDelayed: false });
    expect(await snapshot()).toEqual(before);
    expect(messagesFor(id, 1)).toHaveLength(3);
  });
});
