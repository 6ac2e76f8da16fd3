import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../local/cloud.js';
import { partitionStatsSchema } from '../shared/metrics/schema.js';
import type { RoundMetrics } from '../shared/metrics/types.js';
import { readExperimentMetrics, readStatus } from '../shared/pipeline/experiment.js';
import { keys } from '../shared/protocol/keys.js';
import type { TrainMessage } from '../shared/protocol/messages.js';
import { faultyStore, type StoreCall } from './helpers/faults.js';
import {
  announceUpdate,
  readGlobal,
  shifted,
  startCloudWithScriptedClients,
  uploadConfig,
  waitFor,
  waitForStatus,
  writeUpdate,
} from './helpers/pipeline.js';

/**
 * Findings of issue 11 about starting experiments, reading objects and writing metrics, on the local cloud with the
 * real handlers; every S3 call any handler makes is recorded (through a wrapper around the real store).
 */

const small = { clients: 3, rounds: 1, model: 'mlp', samplesPerClient: 20, testSamples: 50 } as const;

let cloud: LocalCloud;
let trainMessages: TrainMessage[];
const calls: StoreCall[] = [];

beforeAll(async () => {
  ({ cloud, trainMessages } = await startCloudWithScriptedClients({
    experimentRetentionDays: 1,
    // A slow S3 for one experiment's shards: a start that is not serialised with the next one is then sure to overlap it.
    wrapContext: (_role, context) => ({
      ...context,
      store: faultyStore(context.store, [{ operation: 'put', key: /^experiments\/double-upload\/shards\//, when: 'before', times: 1000, delayMs: 60 }], calls).store,
    }),
  }));
});
afterAll(async () => {
  await cloud?.stop();
});

const messagesFor = (experimentId: string, round: number) =>
  trainMessages.filter((message) => message.experimentId === experimentId && message.round === round);

async function playRound(experimentId: string, round: number, clients: readonly string[]) {
  const global = await readGlobal(cloud, experimentId, round - 1);
  for (const [index, clientId] of clients.entries()) {
    const message = { experimentId, round, clientId };
    await writeUpdate(cloud, message, shifted(global, index + 1), 10);
    await announceUpdate(cloud, message);
  }
}

async function expectedClients(experimentId: string, round: number): Promise<string[]> {
  return waitFor(`round ${round} of ${experimentId} open`, async () => {
    const status = await readStatus(cloud.context.store, experimentId);
    if (!status || status.round < round || status.state !== 'running') return undefined;
    // The fan-out's messages reach the scripted clients one by one: wait for all the clients the experiment runs with.
    const resolved = await cloud.context.store.getText(keys.resolvedConfig(experimentId));
    if (!resolved) return undefined;
    const { clients } = JSON.parse(resolved) as { clients: number };
    const sampled = [...new Set(messagesFor(experimentId, round).map((message) => message.clientId))].sort();
    return sampled.length === clients ? sampled : undefined;
  });
}

describe('issue 11: starting, reading and recording', () => {
  it('F5: refuses an oversized update from its size alone, never reading it', async () => {
    const id = 'huge-update';
    await uploadConfig(cloud, id, { ...small, round: { minClients: 2 } });
    await expectedClients(id, 1);
    const global0 = await readGlobal(cloud, id, 0);
    await writeUpdate(cloud, { experimentId: id, round: 1, clientId: 'client-000' }, shifted(global0, 1), 10);
    await writeUpdate(cloud, { experimentId: id, round: 1, clientId: 'client-001' }, shifted(global0, 2), 10);
    await writeUpdate(cloud, { experimentId: id, round: 1, clientId: 'client-002' }, new Uint8Array(48 * 1024 * 1024), 10);
    for (const clientId of ['client-000', 'client-001', 'client-002']) await announceUpdate(cloud, { experimentId: id, round: 1, clientId });
    await waitForStatus(cloud, id, (s) => s.state !== 'running', 60_000);
    const metrics = JSON.parse((await cloud.context.store.getText(keys.roundMetrics(id, 1)))!) as RoundMetrics;
    expect(metrics.rejectedClients.map((r) => r.clientId)).toEqual(['client-002']);
    expect(metrics.rejectedClients[0]!.reason).toMatch(/bytes/);
    const hugeKey = keys.update(id, 1, 'client-002');
    expect(calls.filter((call) => call.key === hugeKey && (call.operation === 'get' || call.operation === 'getText'))).toEqual([]);
    // Looked at with bounded GETs, whose bodies were left unread.
    const bounded = calls.filter((call) => call.key === hugeKey && call.operation === 'getAtMost');
    expect(bounded.length).toBeGreaterThan(0);
    expect(bounded.filter((call) => call.bytes !== undefined)).toEqual([]);
  });

  it('F5: refuses a config over 64 KiB without reading it', async () => {
    const id = 'huge-config';
    await uploadConfig(cloud, id, `{"name": "padded"${' '.repeat(200 * 1024)}}`);
    const status = await waitForStatus(cloud, id, () => true);
    expect(status.state).toBe('failed');
    expect(status.errors?.join('\n')).toMatch(/64 KiB|65536/);
    expect(calls.filter((call) => call.key === keys.config(id) && (call.operation === 'get' || call.operation === 'getText'))).toEqual([]);
  });

  it('F7: two uploads 40 ms apart run one coherent experiment, and the upload that did not run is visible in status.json', async () => {
    const id = 'double-upload';
    await uploadConfig(cloud, id, { ...small, name: 'first' });
    await new Promise((resolve) => setTimeout(resolve, 40));
    await uploadConfig(cloud, id, { ...small, name: 'second', clients: 5 });
    const clients = await expectedClients(id, 1);
    const partition = partitionStatsSchema.parse(JSON.parse((await cloud.context.store.getText(keys.partition(id)))!));
    const resolved = JSON.parse((await cloud.context.store.getText(keys.resolvedConfig(id)))!) as { name: string; clients: number };
    expect(partition.clients).toHaveLength(resolved.clients);
    expect(clients).toHaveLength(resolved.clients);
    expect((await cloud.context.store.list(`experiments/${id}/shards/`)).length).toBe(resolved.clients);
    await playRound(id, 1, clients);
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 60_000);
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed' });
    if (resolved.name === 'first') expect((status as { notices?: string[] }).notices?.join('\n')).toMatch(/uploaded again/);
  });

  it('F7: a re-upload while the experiment runs is refused visibly, and the experiment goes on with its own config', async () => {
    const id = 'reupload-mid-run';
    await uploadConfig(cloud, id, { ...small, name: 'original' });
    const clients = await expectedClients(id, 1);
    await uploadConfig(cloud, id, { ...small, name: 'changed', clients: 4 });
    const noticed = await waitForStatus(cloud, id, (s) => ((s as { notices?: string[] }).notices ?? []).length > 0, 60_000);
    expect((noticed as { notices?: string[] }).notices?.join('\n')).toMatch(/uploaded again.*still runs/s);
    await playRound(id, 1, clients);
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 60_000);
    expect(status.state).toBe('completed');
    expect(JSON.parse((await cloud.context.store.getText(keys.resolvedConfig(id)))!)).toMatchObject({ name: 'original', clients: 3 });
  });

  it('F11: writes metrics.json once, when the experiment ends, with every round from the per-round files', async () => {
    const id = 'metrics-once';
    await uploadConfig(cloud, id, { ...small, rounds: 3 });
    for (const round of [1, 2, 3]) await playRound(id, round, await expectedClients(id, round));
    await waitForStatus(cloud, id, (s) => s.state === 'completed', 60_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const metricsKey = keys.metrics(id);
    expect(calls.filter((call) => call.key === metricsKey && call.operation === 'put')).toHaveLength(1);
    expect(calls.filter((call) => call.key === metricsKey && call.operation !== 'put')).toEqual([]);
    const metrics = await readExperimentMetrics(cloud.context.store, id);
    expect(metrics?.rounds.map((round) => round.round)).toEqual([1, 2, 3]);
  });

  it('F12: refuses at start an experiment that could outlive the bucket\'s retention of its objects', async () => {
    const id = 'outlives-retention';
    await uploadConfig(cloud, id, { ...small, rounds: 50, round: { deadlineSeconds: 3600 } });
    const status = await waitForStatus(cloud, id, () => true, 60_000);
    expect(status.state).toBe('failed');
    expect(status.errors?.join('\n')).toMatch(/retention|expire/i);
    expect(messagesFor(id, 1)).toHaveLength(0);
  });
});
