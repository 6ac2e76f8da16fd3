import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCloud, type LocalCloud } from '../local/cloud.js';
import { defaultHandlers } from '../local/default-handlers.js';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import { readStatus } from '../shared/pipeline/experiment.js';
import { keys } from '../shared/protocol/keys.js';
import { updateReportSchema } from '../shared/protocol/records.js';
import { decodeModelWeights } from '../shared/weights/codec.js';
import { uploadConfig, waitForStatus, type LogEntry } from './helpers/pipeline.js';

const run = promisify(execFile);

// The smoke size: 3 clients × 2 rounds × 300 samples, real tfjs training in worker threads.
const smoke = {
  name: 'e2e smoke',
  clients: 3,
  rounds: 2,
  model: 'cnn-small',
  samplesPerClient: 300,
  testSamples: 1000,
  partition: { kind: 'iid' },
} as const;

describe('the whole pipeline on the embedded local cloud', () => {
  let cloud: LocalCloud;
  const logs: LogEntry[] = [];

  beforeAll(async () => {
    cloud = await startLocalCloud({ handlers: defaultHandlers(), log: (event, fields = {}) => logs.push({ event, fields }) });
  });
  afterAll(async () => {
    await cloud?.stop();
  });

  async function runExperiment(experimentId: string): Promise<ExperimentMetrics> {
    await uploadConfig(cloud, experimentId, smoke);
    const status = await waitForStatus(cloud, experimentId, (s) => s.state !== 'running', 240_000);
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed', round: 2, rounds: 2 });
    return JSON.parse((await cloud.context.store.getText(keys.metrics(experimentId)))!) as ExperimentMetrics;
  }

  it('trains real clients through S3 and SQS to a model well above chance, recording everything', async () => {
    const metrics = await runExperiment('smoke-a');
    expect(metrics.rounds.map((round) => round.round)).toEqual([1, 2]);
    for (const round of metrics.rounds) {
      expect(round.clients.map((client) => client.samples)).toEqual([300, 300, 300]);
      expect(round.clients.every((client) => Number.isFinite(client.trainLoss) && client.trainMs > 0)).toBe(true);
      expect(round.confusion.flat().reduce((a, b) => a + b, 0)).toBe(1000);
      expect(round.bytes.up).toBeGreaterThan(0);
      expect(round.bytes.down).toBeGreaterThan(0);
      expect(round.missingClients).toEqual([]);
    }
    // Chance is 10 %: two short rounds on 900 images must clear three times that.
    expect(metrics.rounds[1]!.accuracy).toBeGreaterThan(0.3);
    expect(metrics.summary?.finalAccuracy).toBe(metrics.rounds[1]!.accuracy);
    expect(metrics.partition.clients.map((client) => client.samples)).toEqual([300, 300, 300]);
    expect(['tensorflow', 'wasm']).toContain(metrics.backend.backend);
    expect(await cloud.context.store.exists(keys.finalModel('smoke-a'))).toBe(true);
    expect(logs.filter((entry) => entry.event === 'train.done' && entry.fields.experimentId === 'smoke-a')).toHaveLength(6);

    // The pipeline's own time between rounds: latest update announced → next round opened (or completion), minus the
    // close's aggregation and evaluation; within the round's wall time (its start to the next round's, or completion).
    const completedAt = (await readStatus(cloud.context.store, 'smoke-a'))!.updatedAt;
    for (const [index, round] of metrics.rounds.entries()) {
      const { startedAt, closedAt, aggregateMs, lastUpdateAt, computeMs, orchestrationMs } = round.timing;
      const endedAt = metrics.rounds[index + 1]?.timing.startedAt ?? completedAt;
      expect(Date.parse(lastUpdateAt!)).toBeGreaterThanOrEqual(Date.parse(startedAt));
      expect(Date.parse(lastUpdateAt!)).toBeLessThanOrEqual(Date.parse(closedAt));
      expect(computeMs).toBeGreaterThan(0);
      expect(computeMs).toBeLessThanOrEqual(aggregateMs + 2);
      expect(orchestrationMs).toBeGreaterThanOrEqual(0);
      expect(orchestrationMs).toBeLessThanOrEqual(Date.parse(endedAt) - Date.parse(startedAt));
    }
  });

  it('gives identical metrics and final model for the same config and seed on the same backend', async () => {
    const second = await runExperiment('smoke-b');
    const first = JSON.parse((await cloud.context.store.getText(keys.metrics('smoke-a')))!) as ExperimentMetrics;
    const comparable = (metrics: ExperimentMetrics) =>
      metrics.rounds.map((round) => ({
        accuracy: round.accuracy,
        loss: round.loss,
        perClassAccuracy: round.perClassAccuracy,
        confusion: round.confusion,
        clients: round.clients.map(({ clientId, samples, trainLoss, trainAccuracy }) => ({ clientId, samples, trainLoss, trainAccuracy })),
      }));
    expect(comparable(second)).toEqual(comparable(first));
    const [modelA, modelB] = await Promise.all([
      cloud.context.store.get(keys.finalModel('smoke-a')),
      cloud.context.store.get(keys.finalModel('smoke-b')),
    ]);
    expect(Buffer.compare(Buffer.from(modelA!), Buffer.from(modelB!))).toBe(0);
  });

  it('runs SCAFFOLD with real training: clients apply the correction and keep their control variates between rounds', async () => {
    const id = 'scaffold-real';
    await uploadConfig(cloud, id, { ...smoke, name: 'scaffold', model: 'mlp', samplesPerClient: 100, strategy: { name: 'scaffold' } });
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 240_000);
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed' });
    const controls = await Promise.all(['client-000', 'client-001', 'client-002'].map((clientId) => cloud.context.store.get(keys.clientControl(id, clientId))));
    expect(controls.every((bytes) => bytes !== undefined && bytes.byteLength > 0)).toBe(true);
    // Round 2's proposal started from round 1's adopted control: the two differ, so state really carried over.
    const [round1, round2] = await Promise.all([1, 2].map((round) => cloud.context.store.get(keys.controlProposal(id, round, 'client-000'))));
    expect(Buffer.compare(Buffer.from(round1!), Buffer.from(round2!))).not.toBe(0);
    expect(Buffer.compare(Buffer.from(round2!), Buffer.from(controls[0]!))).toBe(0);
  });

  it('runs FedDyn with real training: each client keeps g_k as adopted state, and round 2 starts from it', async () => {
    const id = 'feddyn-real';
    await uploadConfig(cloud, id, { ...smoke, name: 'feddyn', model: 'mlp', samplesPerClient: 100, strategy: { name: 'feddyn', alpha: 0.1 } });
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 240_000);
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed' });
    const store = cloud.context.store;
    const adopted = await store.get(keys.adoptedState(id, 'client-000', 'gradient'));
    const [round1, round2] = await Promise.all([1, 2].map((round) => store.get(keys.clientUpload(id, round, 'client-000', 'gradient'))));
    expect(Buffer.compare(Buffer.from(round2!), Buffer.from(adopted!))).toBe(0);
    expect(Buffer.compare(Buffer.from(round1!), Buffer.from(round2!))).not.toBe(0);
    // g_k after round 1 is −α·(θ_k − θ⁰) (it starts at 0): check it against the global model and the server state h.
    const g1 = decodeModelWeights(round1!);
    const global0 = decodeModelWeights((await store.get(keys.globalModel(id, 0)))!);
    expect(g1.map((tensor) => tensor.name)).toEqual(global0.map((tensor) => tensor.name));
    expect(await store.exists(keys.serverState(id, 2))).toBe(true);
  });

  it('runs FedNova with real training on unequal shards: the next global model is θ + τ_eff·Σ pᵢ·Δᵢ/τᵢ', async () => {
    const id = 'fednova-real';
    await uploadConfig(cloud, id, {
      ...smoke, name: 'fednova', model: 'mlp', rounds: 1, samplesPerClient: null, partition: { kind: 'dirichlet', alpha: 0.5 },
      local: { optimizer: 'sgd', momentum: 0, batchSize: 100 }, strategy: { name: 'fednova' },
    });
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 240_000);
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed' });
    const store = cloud.context.store;
    const global0 = decodeModelWeights((await store.get(keys.globalModel(id, 0)))!);
    const global1 = decodeModelWeights((await store.get(keys.globalModel(id, 1)))!);
    const clients = ['client-000', 'client-001', 'client-002'];
    const reports = await Promise.all(clients.map(async (clientId) => updateReportSchema.parse(JSON.parse((await store.getText(keys.updateReport(id, 1, clientId)))!))));
    const samples = reports.map((report) => report.samples);
    expect(new Set(samples).size).toBeGreaterThan(1);
    // Plain SGD: τᵢ is the step count ⌈nᵢ / 100⌉. Worked out here from the stored uploads (the clients' trained
    // weights) and reports, independently of the strategy's code.
    const steps = samples.map((n) => Math.ceil(n / 100));
    const total = samples.reduce((a, b) => a + b, 0);
    const effective = samples.reduce((sum, n, i) => sum + (n / total) * steps[i]!, 0);
    const trained = await Promise.all(clients.map(async (clientId) => decodeModelWeights((await store.get(keys.update(id, 1, clientId)))!)));
    global0.forEach((tensor, t) => {
      for (const i of [0, 1, tensor.values.length - 1]) {
        const x = tensor.values[i]!;
        const normalised = trained.reduce((sum, update, c) => sum + (samples[c]! / total) * ((update[t]!.values[i]! - x) / steps[c]!), 0);
        expect(global1[t]!.values[i]!).toBeCloseTo(x + effective * normalised, 5);
      }
    });
  });
});

describe('flambda run (the CLI, as a user runs it)', () => {
  it('runs a config locally, prints the round table, writes results and exits 0', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'flambda-cli-'));
    const { stdout } = await run(process.execPath, ['bin/flambda.js', 'run', 'examples/quick.json', '--out', out, '--id', 'cli-quick'], {
      env: { ...process.env, CI: 'true' },
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(stdout).toMatch(/round\s+accuracy\s+loss/);
    expect(stdout).toMatch(/✔ cli-quick completed/);
    const files = await readdir(path.join(out, 'cli-quick'));
    expect(files).toEqual(expect.arrayContaining(['config.json', 'metrics.json', 'partition.json', 'status.json', 'summary.json', 'model']));
    const metrics = JSON.parse(await readFile(path.join(out, 'cli-quick', 'metrics.json'), 'utf8')) as ExperimentMetrics;
    expect(metrics.summary?.state).toBe('completed');

    const status = await run(process.execPath, ['bin/flambda.js', 'status', 'cli-quick', '--out', out]);
    expect(status.stdout).toContain(`cli-quick: completed, round 2/2, accuracy ${(metrics.summary!.finalAccuracy * 100).toFixed(2)} %`);
  });

  it('rejects an invalid config before uploading, naming the field, with exit code 2 and no stack trace', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'flambda-bad-'));
    const config = path.join(dir, 'bad.json');
    await import('node:fs/promises').then((fs) => fs.writeFile(config, JSON.stringify({ clients: 0 })));
    const failure = await run(process.execPath, ['bin/flambda.js', 'run', config]).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toMatch(/clients/);
    expect(failure?.stderr).not.toMatch(/\n\s+at /);
  });
});
