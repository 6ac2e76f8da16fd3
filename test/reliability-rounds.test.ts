import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../local/cloud.js';
import type { RoundMetrics } from '../shared/metrics/types.js';
import { keys } from '../shared/protocol/keys.js';
import type { TrainMessage } from '../shared/protocol/messages.js';
import { encodeModelWeights } from '../shared/weights/codec.js';
import { faultyStore } from './helpers/faults.js';
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

/**
 * Findings of issue 11 about rounds, each reproduced through the real start, aggregate and timer handlers on the local
 * cloud (real S3 and SQS calls); the test plays the clients. Faults are injected by a wrapper around the aggregator's
 * store, keyed to one experiment each, so the experiments share one cloud.
 */

const small = { clients: 3, rounds: 1, model: 'mlp', samplesPerClient: 20, testSamples: 50 } as const;
const inExperiment = (id: string, rest: string) => new RegExp(`^experiments/${id}/${rest}`);

const faults = faultyStore;
let cloud: LocalCloud;
let trainMessages: TrainMessage[];
let logs: LogEntry[];
let aggregatorStore: ReturnType<typeof faultyStore>;

beforeAll(async () => {
  ({ cloud, trainMessages, logs } = await startCloudWithScriptedClients({
    wrapContext: (role, context) => {
      if (role !== 'aggregate') return context;
      aggregatorStore ??= faults(context.store, [
        // F2: the state write that records the last client's verdict succeeds, then the aggregator crashes.
        { operation: 'put', key: inExperiment('last-verdict-crash', 'rounds/0001/state\\.json'), body: /"client-002": \{|"answered": 3\b/, bodyNot: /"closed"/, when: 'after' },
        // F3: a failed close's state write succeeds, then the aggregator crashes.
        { operation: 'put', key: inExperiment('failed-close-crash', 'rounds/0001/state\\.json'), body: /"closed"/, when: 'after' },
        // Batches: the first round-state write that counts several answers at once fails (a batch's deferred write).
        { operation: 'put', key: inExperiment('batch-crash', 'rounds/0001/state\\.json'), body: /"answered": [2-6]\b/, bodyNot: /"closed"/, when: 'before' },
        // F4: one S3 error reading client-001's report.
        { operation: ['get', 'getText', 'getAtMost'], key: inExperiment('transient-read', 'rounds/0001/updates/client-001\\.json'), when: 'before' },
      ]);
      return { ...context, store: aggregatorStore.store };
    },
  }));
});
afterAll(async () => {
  await cloud?.stop();
});

const messagesFor = (experimentId: string, round: number) =>
  trainMessages.filter((message) => message.experimentId === experimentId && message.round === round);

function roundOne(experimentId: string, clients = 3) {
  return waitFor(`${clients} train messages of ${experimentId}`, async () =>
    messagesFor(experimentId, 1).length >= clients ? messagesFor(experimentId, 1).slice(0, clients) : undefined,
  );
}

async function roundMetrics(experimentId: string, round = 1): Promise<RoundMetrics> {
  const text = await cloud.context.store.getText(keys.roundMetrics(experimentId, round));
  if (!text) throw new Error(`no metrics for round ${round} of ${experimentId}`);
  return JSON.parse(text) as RoundMetrics;
}

async function reportAll(experimentId: string, messages: readonly TrainMessage[], announce = messages) {
  const global0 = await readGlobal(cloud, experimentId, 0);
  for (const [index, message] of messages.entries()) await writeUpdate(cloud, message, shifted(global0, index + 1), 10);
  for (const message of announce) await announceUpdate(cloud, message);
}

describe('issue 11: rounds survive crashes, lost messages and bad reports', () => {
  it('F1: counts at the deadline the reports of clients whose "update ready" never arrived', async () => {
    const id = 'lost-announcement';
    await uploadConfig(cloud, id, { ...small, round: { deadlineSeconds: 10 } });
    const round1 = await roundOne(id);
    // All three trained and wrote their reports; client-002's message was lost after its report was written.
    await reportAll(id, round1, round1.slice(0, 2));
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 60_000);
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed' });
    expect((await roundMetrics(id)).clients.map((client) => client.clientId)).toEqual(['client-000', 'client-001', 'client-002']);
  });

  it('F2: a redelivered update closes the round when the crash came after the last verdict was recorded', async () => {
    const id = 'last-verdict-crash';
    // The deadline is far away: only the redelivery itself can close the round in time.
    await uploadConfig(cloud, id, { ...small, round: { deadlineSeconds: 600 } });
    await reportAll(id, await roundOne(id));
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 60_000);
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed' });
    expect(aggregatorStore.fired.some((fired) => fired.key.includes(id))).toBe(true);
    expect(count(logs, 'round.closed', { experimentId: id, round: 1 })).toBe(1);
  });

  it('F2: a close that cannot succeed (an accepted update overwritten with garbage) fails the experiment, naming why', async () => {
    const id = 'close-cannot-succeed';
    await uploadConfig(cloud, id, { ...small, rounds: 2, round: { deadlineSeconds: 10 } });
    const round1 = await roundOne(id);
    const global0 = await readGlobal(cloud, id, 0);
    for (const [index, message] of round1.entries()) await writeUpdate(cloud, message, shifted(global0, index + 1), 10);
    await announceUpdate(cloud, round1[0]!);
    await announceUpdate(cloud, round1[1]!);
    await waitFor('two accepted updates', async () => (count(logs, 'aggregate.update-accepted', { experimentId: id }) >= 2 ? true : undefined));
    await cloud.context.store.put(keys.update(id, 1, 'client-000'), Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));
    await announceUpdate(cloud, round1[2]!);
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 60_000);
    expect(status.state).toBe('failed');
    expect(status.errors?.join('\n')).toMatch(/client-000/);
  });

  it('a batch of updates whose round-state write fails is redelivered and counts every update exactly once', async () => {
    const id = 'batch-crash';
    await uploadConfig(cloud, id, { ...small, clients: 6, round: { deadlineSeconds: 600 } });
    const round1 = await roundOne(id, 6);
    await reportAll(id, round1);
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 60_000);
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed' });
    expect(aggregatorStore.fired.some((fired) => fired.key.includes(id))).toBe(true);
    expect((await roundMetrics(id)).clients.map((client) => client.clientId)).toEqual(round1.map((message) => message.clientId).sort());
    // each verdict recorded once; the redelivered messages found theirs
    expect(count(logs, 'aggregate.update-accepted', { experimentId: id })).toBe(6);
    expect(count(logs, 'round.closed', { experimentId: id, round: 1 })).toBe(1);
  });

  it('F3: a failed close that crashes after writing the round state still marks the experiment failed', async () => {
    const id = 'failed-close-crash';
    await uploadConfig(cloud, id, { ...small, round: { deadlineSeconds: 6 } });
    const round1 = await roundOne(id);
    await reportAll(id, round1.slice(0, 1));
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 60_000);
    expect(status.state).toBe('failed');
    expect(status.errors?.join('\n')).toContain('missing clients: client-001, client-002');
  });

  it('F4: an S3 error while reading a report is retried, never turned into a rejection', async () => {
    const id = 'transient-read';
    await uploadConfig(cloud, id, small);
    await reportAll(id, await roundOne(id));
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 60_000);
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed' });
    const metrics = await roundMetrics(id);
    expect(metrics.rejectedClients).toEqual([]);
    expect(metrics.clients).toHaveLength(3);
  });

  it('F6: rejects a report that does not match its message or breaks the metrics bounds', async () => {
    const id = 'report-checks';
    await uploadConfig(cloud, id, { ...small, round: { minClients: 1 } });
    const [good, impostor, negative] = await roundOne(id);
    const global0 = await readGlobal(cloud, id, 0);
    await writeUpdate(cloud, good!, shifted(global0, 1), 10);
    await writeUpdate(cloud, impostor!, shifted(global0, 2), 10);
    await writeUpdate(cloud, negative!, shifted(global0, 3), 10);
    const rewrite = async (message: TrainMessage, change: Record<string, unknown>) => {
      const key = keys.updateReport(id, 1, message.clientId);
      const report = JSON.parse((await cloud.context.store.getText(key))!) as Record<string, unknown>;
      await cloud.context.store.put(key, JSON.stringify({ ...report, ...change }));
    };
    await rewrite(impostor!, { clientId: good!.clientId });
    await rewrite(negative!, { trainMs: -1 });
    for (const message of [good!, impostor!, negative!]) await announceUpdate(cloud, message);
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 60_000);
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed' });
    const metrics = await roundMetrics(id);
    expect(metrics.clients.map((client) => client.clientId)).toEqual([good!.clientId]);
    const reasons = Object.fromEntries(metrics.rejectedClients.map((r) => [r.clientId, r.reason]));
    expect(reasons[impostor!.clientId]).toMatch(/clientId/);
    expect(reasons[negative!.clientId]).toMatch(/trainMs/);
  });

  it('F8: a deadline that fires early is re-armed and still closes the round (no reused deduplication id)', async () => {
    const id = 'early-deadline';
    await uploadConfig(cloud, id, { ...small, round: { deadlineSeconds: 8, minClients: 2 } });
    const round1 = await roundOne(id);
    // Clock skew: a deadline forwarded before it is due.
    await cloud.context.queues.timer.send({ type: 'deadline', experimentId: id, round: 1, dueAt: new Date().toISOString() });
    await reportAll(id, round1.slice(0, 2));
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 60_000);
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed' });
    expect((await roundMetrics(id)).missingClients).toEqual(['client-002']);
  });

  it('F9: messages naming clients that were never sampled, or ids no key can hold, leave no trace in the round state', async () => {
    const id = 'bogus-ids';
    await uploadConfig(cloud, id, small);
    const round1 = await roundOne(id);
    for (let index = 0; index < 12; index++) {
      await announceUpdate(cloud, { experimentId: id, round: 1, clientId: `client-${500 + index}` });
    }
    // Ids no S3 key may hold go under their own group, so their retries do not hold up the experiment's.
    for (const clientId of ['../../escape', 'x'.repeat(300)]) {
      await cloud.context.queues.aggregate.send({ type: 'update', experimentId: id, round: 1, clientId }, { groupId: 'bogus', deduplicationId: clientId.slice(0, 100) });
    }
    await reportAll(id, round1);
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 60_000);
    expect(status.state).toBe('completed');
    const state = (await cloud.context.store.getText(keys.roundState(id, 1)))!;
    expect(state).not.toMatch(/client-5\d\d/);
    expect(state).not.toContain('escape');
    expect(await cloud.context.store.list(`experiments/${id}/rounds/0001/`)).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/client-5\d\d|escape|xxxx/)]),
    );
  });

  it('F16: prints the bytes of a corrupt update in hex in the rejection reason', async () => {
    const id = 'hex-reason';
    await uploadConfig(cloud, id, { ...small, round: { minClients: 2 } });
    const [a, b, corrupt] = await roundOne(id);
    const global0 = await readGlobal(cloud, id, 0);
    await writeUpdate(cloud, a!, global0, 10);
    await writeUpdate(cloud, b!, global0, 10);
    // The size of a real update, so that only the content is wrong.
    const garbage = encodeModelWeights(global0);
    garbage.set([0x03, 0xff, 0x7a, 0xfe], 0);
    await writeUpdate(cloud, corrupt!, garbage, 10);
    for (const message of [a!, b!, corrupt!]) await announceUpdate(cloud, message);
    await waitForStatus(cloud, id, (s) => s.state === 'completed', 60_000);
    const reason = (await roundMetrics(id)).rejectedClients[0]?.reason ?? '';
    expect(reason).toMatch(/03 ff 7a fe/);
    // eslint-disable-next-line no-control-regex
    expect(reason).not.toMatch(/[\u0000-\u001f\ufffd]/);
  });
});
