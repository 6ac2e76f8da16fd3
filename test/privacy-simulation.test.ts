import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatePrivateFedAvg } from '../bench/dp-simulation.js';
import type { LocalCloud } from '../local/cloud.js';
import type { ExperimentConfigInput } from '../shared/config/schema.js';
import { keys } from '../shared/protocol/keys.js';
import { decodeModelWeights } from '../shared/weights/codec.js';
import { startCloudWithScriptedClients, uploadConfig, waitForStatus } from './helpers/pipeline.js';

/**
 * bench:privacy-direct runs DP-FedAvg in one process to study 1,000 clients over 100 rounds. Its figures stand for
 * the pipeline's only if it computes what the pipeline computes: the same seeded run, through the real handlers on
 * the local cloud and through the simulation, must end with the same global model.
 */
let cloud: LocalCloud;
beforeAll(async () => {
  ({ cloud } = await startCloudWithScriptedClients({ realTrainer: true }));
}, 60_000);
afterAll(async () => {
  await cloud?.stop();
});

const config = (id: string, privacy: boolean): ExperimentConfigInput => ({
  name: id,
  clients: 12,
  rounds: 2,
  model: 'cnn-tiny',
  samplesPerClient: 40,
  testSamples: 200,
  seed: 11,
  local: { epochs: 1, batchSize: 10, learningRate: 0.05, optimizer: 'sgd', momentum: 0.9 },
  sampling: { method: 'poisson', fraction: 0.5 },
  ...(privacy
    ? { privacy: { clipping: { kind: 'adaptive', initialNorm: 0.5, targetQuantile: 0.5, countNoise: 2 }, noiseMultiplier: 1.1, delta: 1e-5, randomness: 'seeded' } }
    : {}),
});

describe('the in-process DP-FedAvg simulation', () => {
  it.each([
    ['dp-sim-private', true],
    ['dp-sim-plain', false],
  ] as const)('%s: ends with the global model the pipeline ends with, value for value', async (id, privacy) => {
    await uploadConfig(cloud, id, config(id, privacy));
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 240_000);
    expect(status.state, JSON.stringify(status.errors)).toBe('completed');
    const pipeline = decodeModelWeights((await cloud.context.store.get(keys.finalModel(id)))!);
    const simulated = await simulatePrivateFedAvg(config(id, privacy));
    expect(simulated.final.map((tensor) => tensor.name)).toEqual(pipeline.map((tensor) => tensor.name));
    let largest = 0;
    pipeline.forEach((tensor, t) => tensor.values.forEach((value, i) => (largest = Math.max(largest, Math.abs(value - simulated.final[t]!.values[i]!)))));
    expect(largest).toBeLessThan(1e-6);
    if (privacy) {
      const metrics = JSON.parse((await cloud.context.store.getText(keys.metrics(id)))!) as { rounds: { privacy: { epsilon: number; clipNorm: number } }[] };
      expect(simulated.rounds.map((round) => round.epsilon)).toEqual(metrics.rounds.map((round) => round.privacy.epsilon));
      expect(simulated.rounds.map((round) => round.clipNorm)).toEqual(metrics.rounds.map((round) => round.privacy.clipNorm));
    }
  }, 300_000);
});
