import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatRoundTable } from '../cli/tables.js';
import { startLocalCloud, type LocalCloud } from '../local/cloud.js';
import { renderReportHtml } from '../shared/report/html.js';
import { defaultHandlers } from '../local/default-handlers.js';
import type { ExperimentConfigInput } from '../shared/config/schema.js';
import { calibrateNoiseMultiplier } from '../shared/privacy/calibrate.js';
import { privacySpent } from '../shared/privacy/rdp.js';
import { poissonSample } from '../shared/privacy/sampling.js';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import { readResolvedConfigRecord } from '../shared/pipeline/experiment.js';
import { validateExperimentConfig } from '../shared/pipeline/validate.js';
import { selectClients } from '../shared/sampling/select.js';
import { keys } from '../shared/protocol/keys.js';
import { clientIdFor } from '../shared/protocol/keys.js';
import type { ModelWeights } from '../shared/weights/types.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { readGlobal, startCloudWithScriptedClients, uploadConfig, waitForStatus } from './helpers/pipeline.js';

/** Real tfjs training on tiny slices: 40 MNIST images per client, the MLP, 200 test images. */
const tiny = {
  clients: 4,
  rounds: 2,
  model: 'mlp',
  samplesPerClient: 40,
  testSamples: 200,
  local: { epochs: 1, batchSize: 20, learningRate: 0.05 },
  partition: { kind: 'iid' },
} as const satisfies ExperimentConfigInput;

/** Large enough that no update of these runs is clipped: ‖Δ‖ stays around 1 here. */
const NO_CLIPPING = 1000;

function distance(a: ModelWeights, b: ModelWeights): number {
  let squares = 0;
  a.forEach((tensor, index) => {
    const other = b[index]!.values;
    for (let i = 0; i < tensor.values.length; i++) squares += (tensor.values[i]! - other[i]!) ** 2;
  });
  return Math.sqrt(squares);
}

describe('differential privacy through the whole pipeline (local cloud, real training)', () => {
  let cloud: LocalCloud;

  beforeAll(async () => {
    cloud = await startLocalCloud({ handlers: defaultHandlers() });
  });
  afterAll(async () => {
    await cloud?.stop();
  });

  async function run(experimentId: string, config: ExperimentConfigInput): Promise<ExperimentMetrics> {
    await uploadConfig(cloud, experimentId, config);
    const status = await waitForStatus(cloud, experimentId, (s) => s.state !== 'running', 240_000);
    expect(status.errors ?? [], experimentId).toEqual([]);
    expect(status.state).toBe('completed');
    return JSON.parse((await cloud.context.store.getText(keys.metrics(experimentId)))!) as ExperimentMetrics;
  }

  it('runs a DP experiment to completion with ε after every round equal to the accountant’s for (q, σ, rounds)', async () => {
    const config = {
      ...tiny,
      rounds: 3,
      sampling: { method: 'poisson', fraction: 0.75 },
      privacy: { clipping: { kind: 'fixed', norm: 0.1 }, noiseMultiplier: 1.2, delta: 1e-3, randomness: 'seeded' },
    } as const satisfies ExperimentConfigInput;
    const metrics = await run('dp-basic', config);
    expect(metrics.rounds).toHaveLength(3);
    metrics.rounds.forEach((round, index) => {
      const expected = privacySpent([{ sampleRate: 0.75, noiseMultiplier: 1.2, count: index + 1 }], 1e-3).epsilon;
      expect(round.privacy?.epsilon).toBe(expected);
      expect(round.privacy).toMatchObject({ delta: 1e-3, noiseMultiplier: 1.2, clipNorm: 0.1 });
      expect(round.privacy!.reported).toBe(round.clients.length);
      // the noise actually added has the norm σ·C·√d/m (d ≈ 2·10⁵ values: within a few per cent)
      const parameters = metrics.summary!.parameters;
      expect(round.privacy!.noiseNorm / ((1.2 * 0.1 * Math.sqrt(parameters)) / 3)).toBeCloseTo(1, 1);
    });
    // Poisson: the clients of each round are the seeded draw, not a fixed-size sample
    const ids = Array.from({ length: 4 }, (_, index) => clientIdFor(index));
    metrics.rounds.forEach((round) => {
      const drawn = poissonSample({ clientIds: ids, sampleRate: 0.75, round: round.round, randomness: { mode: 'seeded', seed: 42 } });
      expect(round.clients.map((client) => client.clientId)).toEqual(drawn);
    });
    expect(metrics.summary?.privacy).toEqual({ epsilon: metrics.rounds[2]!.privacy!.epsilon, delta: 1e-3, noiseMultiplier: 1.2 });
    // updates well above C = 0.1 are clipped, and the report says so
    for (const round of metrics.rounds) {
      expect(round.privacy!.medianUpdateNorm!).toBeGreaterThan(0.1);
      expect(round.privacy!.clippedFraction).toBeGreaterThan(0);
    }
    // the CLI's round table (flambda run, flambda status) and the HTML report show ε per round
    const table = formatRoundTable(metrics).split('\n');
    expect(table[0]).toMatch(/ε\s+clip C\s+clipped$/);
    metrics.rounds.forEach((round, index) => {
      expect(table[index + 2]).toMatch(new RegExp(`${round.privacy!.epsilon.toFixed(3)}\\s+0\\.100\\s+\\d+\\.\\d\\d %$`));
    });
    expect(formatRoundTable(metrics)).toContain(`differential privacy: ε = ${metrics.rounds[2]!.privacy!.epsilon.toFixed(3)} at δ = 0.001 after round 3`);
    const html = renderReportHtml(metrics);
    expect(html).toContain('Accuracy against ε');
    expect(html).toContain(`ε = ${metrics.rounds[2]!.privacy!.epsilon.toFixed(3)} at δ = 0.001 after round 3`);
  });

  it('calibrates σ for targetEpsilon at start, records it in config.resolved.json, and ends within the budget', async () => {
    const config = {
      ...tiny,
      sampling: { method: 'poisson', fraction: 0.5 },
      privacy: { clipping: { kind: 'fixed', norm: 1 }, targetEpsilon: 3, delta: 1e-3, randomness: 'seeded' },
    } as const satisfies ExperimentConfigInput;
    const metrics = await run('dp-target', config);
    const { privacyPlan } = await readResolvedConfigRecord(cloud.context.store, 'dp-target');
    const calibration = calibrateNoiseMultiplier({ targetEpsilon: 3, delta: 1e-3, sampleRate: 0.5, rounds: 2 });
    expect(calibration.ok && privacyPlan?.noiseMultiplier).toBe(calibration.ok && calibration.noiseMultiplier);
    expect(privacyPlan?.budget).toEqual({ epsilon: 3, delta: 1e-3 });
    expect(metrics.rounds.at(-1)!.privacy!.epsilon).toBeLessThanOrEqual(3);
    expect(metrics.rounds.at(-1)!.privacy!.epsilon).toBeGreaterThan(2.9);
    expect(metrics.summary?.privacy?.targetEpsilon).toBe(3);
  });

  it('adds the noise: seeded runs repeat byte for byte, and with σ → 0 and nothing clipped DP-FedAvg is FedAvg', async () => {
    const base = { ...tiny, rounds: 1 } as const;
    const dp = (noiseMultiplier: number) =>
      ({ ...base, privacy: { clipping: { kind: 'fixed', norm: NO_CLIPPING }, noiseMultiplier, delta: 1e-3, randomness: 'seeded' } }) as const;
    await run('plain-fedavg', base);
    await run('dp-tiny-noise', dp(1e-9));
    const noisy = await run('dp-noise-a', dp(0.01));
    await run('dp-noise-b', dp(0.01));
    const [plain, tinyNoise, noiseA, noiseB] = await Promise.all(
      ['plain-fedavg', 'dp-tiny-noise', 'dp-noise-a', 'dp-noise-b'].map((id) => readGlobal(cloud, id, 1)),
    );
    // σ·C·√d/m with σ = 1e-9, C = 1000: ~1e-4 over all 2·10⁵ values, and float32 rounding of w_global + Δ̄
    expect(distance(tinyNoise!, plain!)).toBeLessThan(1e-3);
    expect(noisy.rounds[0]!.privacy!.clippedFraction).toBe(0);
    const expectedNoise = (0.01 * NO_CLIPPING * Math.sqrt(noisy.summary!.parameters)) / 4;
    expect(distance(noiseA!, plain!) / expectedNoise).toBeCloseTo(1, 1);
    expect(distance(noiseA!, noiseB!)).toBe(0);
  });

  it('clips every update above C: the model moves by at most C per round (σ → 0), and the fraction clipped is 1', async () => {
    const clipNorm = 0.01;
    const metrics = await run('dp-clip', {
      ...tiny,
      rounds: 1,
      privacy: { clipping: { kind: 'fixed', norm: clipNorm }, noiseMultiplier: 1e-9, delta: 1e-3, randomness: 'seeded' },
    });
    expect(metrics.rounds[0]!.privacy!.clippedFraction).toBe(1);
    const moved = distance(await readGlobal(cloud, 'dp-clip', 1), await readGlobal(cloud, 'dp-clip', 0));
    expect(moved).toBeLessThanOrEqual(clipNorm * 1.0001);
    // four aligned-ish updates of norm C, averaged: most of C survives
    expect(moved).toBeGreaterThan(clipNorm / 2);
  });

  it('compresses the clipped update: int8 sends about a quarter of the bytes, and the server clips the decoded Δ again', async () => {
    const clipNorm = 0.01;
    const config = (compression: ExperimentConfigInput['compression']) => ({
      ...tiny,
      rounds: 2,
      ...(compression ? { compression } : {}),
      privacy: { clipping: { kind: 'fixed', norm: clipNorm }, noiseMultiplier: 1e-9, delta: 1e-3, randomness: 'seeded' },
    }) as ExperimentConfigInput;
    const float32 = await run('dp-f32', config(undefined));
    const int8 = await run('dp-int8', config({ kind: 'int8' }));
    // Top-k with error feedback: the residual makes a client's next upload larger than C, which the server clips.
    await run('dp-topk', config({ kind: 'topk', ratio: 0.01, errorFeedback: true }));
    for (const [index, round] of int8.rounds.entries()) {
      expect(round.bytes.up).toBeLessThanOrEqual(0.26 * float32.rounds[index]!.bytes.up);
      expect(round.privacy!.epsilon).toBe(float32.rounds[index]!.privacy!.epsilon);
    }
    for (const id of ['dp-int8', 'dp-topk']) {
      for (const round of [1, 2]) {
        const moved = distance(await readGlobal(cloud, id, round), await readGlobal(cloud, id, round - 1));
        expect(moved, `${id} round ${round}`).toBeLessThanOrEqual(clipNorm * 1.0001);
      }
    }
    // int8's stochastic rounding is unbiased: the model moves about as the float32 run's does.
    const f32Moved = distance(await readGlobal(cloud, 'dp-f32', 1), await readGlobal(cloud, 'dp-f32', 0));
    const int8Moved = distance(await readGlobal(cloud, 'dp-int8', 1), await readGlobal(cloud, 'dp-int8', 0));
    expect(Math.abs(int8Moved - f32Moved)).toBeLessThan(0.2 * f32Moved);
  });

  it('bounds a simulated attacker: its −6× update is clipped to C like any other, and the round records who attacked', async () => {
    const clipNorm = 0.01;
    const privacy = { clipping: { kind: 'fixed', norm: clipNorm }, noiseMultiplier: 1e-9, delta: 1e-3, randomness: 'seeded' } as const;
    const honest = await run('dp-honest', { ...tiny, rounds: 1, privacy });
    const attacked = await run('dp-sign-flip', { ...tiny, rounds: 1, privacy, adversaries: { kind: 'sign-flip', factor: 6, clients: ['client-001'] } });
    expect(attacked.rounds[0]!.attackers).toEqual(['client-001']);
    expect(honest.rounds[0]!.attackers).toBeUndefined();
    const moved = (id: string) => readGlobal(cloud, id, 0).then(async (start) => distance(await readGlobal(cloud, id, 1), start));
    expect(await moved('dp-sign-flip')).toBeLessThanOrEqual(clipNorm * 1.0001);
    // The attacker's clipped −6Δ counts as −1 of 4 clipped updates: the model still moves, less than without it.
    expect(await moved('dp-sign-flip')).toBeLessThan(await moved('dp-honest'));
    expect(await moved('dp-sign-flip')).toBeGreaterThan(0);
  });

  it('composes with FedAdam: with σ → 0 and nothing clipped it is FedAdam, and it keeps FedAdam’s server state', async () => {
    const base = { ...tiny, strategy: { name: 'fedadam', serverLearningRate: 0.01 } } as const;
    await run('plain-fedadam', base);
    await run('dp-fedadam', { ...base, privacy: { clipping: { kind: 'fixed', norm: NO_CLIPPING }, noiseMultiplier: 1e-9, delta: 1e-3, randomness: 'seeded' } });
    const [plain, dp] = await Promise.all([readGlobal(cloud, 'plain-fedadam', 2), readGlobal(cloud, 'dp-fedadam', 2)]);
    expect(distance(plain, dp)).toBeLessThan(1e-3);
    expect(await cloud.context.store.exists(keys.serverState('dp-fedadam', 2))).toBe(true);
    expect(distance(await readGlobal(cloud, 'dp-fedadam', 2), await readGlobal(cloud, 'dp-fedadam', 0))).toBeGreaterThan(0.01);
  });

  it('closes a round Poisson sampling left empty: noise only, still accounted', async () => {
    // a seed whose round 2 samples nobody (and round 1 somebody), found with the pipeline's own seeded draw
    const ids = Array.from({ length: 4 }, (_, index) => clientIdFor(index));
    const draw = (seed: number, round: number) => poissonSample({ clientIds: ids, sampleRate: 0.25, round, randomness: { mode: 'seeded', seed } });
    const seed = Array.from({ length: 500 }, (_, index) => index).find((s) => draw(s, 1).length > 0 && draw(s, 2).length === 0)!;
    expect(seed).toBeDefined();
    const metrics = await run('dp-empty', {
      ...tiny,
      seed,
      sampling: { method: 'poisson', fraction: 0.25 },
      privacy: { clipping: { kind: 'fixed', norm: 1 }, noiseMultiplier: 1, delta: 1e-3, randomness: 'seeded' },
    });
    const empty = metrics.rounds[1]!;
    expect(empty.clients).toEqual([]);
    expect(empty.privacy!.reported).toBe(0);
    expect(empty.privacy!.epsilon).toBe(privacySpent([{ sampleRate: 0.25, noiseMultiplier: 1, count: 2 }], 1e-3).epsilon);
    // the release is noise / m alone
    const moved = distance(await readGlobal(cloud, 'dp-empty', 2), await readGlobal(cloud, 'dp-empty', 1));
    expect(moved).toBeCloseTo(empty.privacy!.noiseNorm, 3);
    expect(empty.privacy!.signalNorm).toBe(0);
    // without privacy the same empty round proposes no change: FedAvg keeps the model as it was
    const plain = await run('poisson-empty', { ...tiny, seed, sampling: { method: 'poisson', fraction: 0.25 } });
    expect(plain.rounds[1]!.clients).toEqual([]);
    expect(distance(await readGlobal(cloud, 'poisson-empty', 2), await readGlobal(cloud, 'poisson-empty', 1))).toBe(0);
  });

  it('moves an adaptive clip norm by the noised unclipped count: C ← C·exp(−η(b̃ − γ))', async () => {
    const metrics = await run('dp-adaptive', {
      ...tiny,
      privacy: { clipping: { kind: 'adaptive', initialNorm: 0.05, targetQuantile: 0.5, learningRate: 0.5, countNoise: 1 }, noiseMultiplier: 1, delta: 1e-3, randomness: 'seeded' },
    });
    const [first, second] = metrics.rounds.map((round) => round.privacy!);
    expect(first!.clipNorm).toBe(0.05);
    expect(second!.clipNorm).toBeCloseTo(0.05 * Math.exp(-0.5 * (first!.noisedUnclippedFraction! - 0.5)), 12);
    expect(first!.noisedUnclippedFraction).toBeGreaterThanOrEqual(0);
  });

  it('refuses a DP config that cannot keep its guarantee at start, naming the field', async () => {
    await uploadConfig(cloud, 'dp-refused', { ...tiny, sampling: { method: 'uniform', fraction: 0.5 }, privacy: { clipping: { kind: 'fixed', norm: 1 }, noiseMultiplier: 1 } });
    const status = await waitForStatus(cloud, 'dp-refused', (s) => s.state !== 'running');
    expect(status).toMatchObject({ state: 'failed', round: 0 });
    expect(status.errors).toEqual([expect.stringMatching(/^sampling\.method: must be "poisson" with privacy \(got "uniform"\)/)]);
  });
});

describe('a DP config is refused before anything runs, each problem naming its field', () => {
  const dp = { clients: 100, rounds: 10, sampling: { method: 'poisson', fraction: 0.1 } } as const;
  const fixed = { kind: 'fixed', norm: 1 } as const;
  const errorsOf = (config: ExperimentConfigInput) => {
    const result = validateExperimentConfig(config);
    return result.ok ? [] : result.errors;
  };

  it.each([
    ['σ ≤ 0', { ...dp, privacy: { clipping: fixed, noiseMultiplier: 0 } }, /^privacy\.noiseMultiplier: /],
    ['C ≤ 0', { ...dp, privacy: { clipping: { kind: 'fixed', norm: 0 }, noiseMultiplier: 1 } }, /^privacy\.clipping\.norm: /],
    ['adaptive C ≤ 0', { ...dp, privacy: { clipping: { kind: 'adaptive', initialNorm: -1 }, noiseMultiplier: 1 } }, /^privacy\.clipping\.initialNorm: /],
    ['q = 0', { ...dp, sampling: { method: 'poisson', fraction: 0 }, privacy: { clipping: fixed, noiseMultiplier: 1 } }, /^sampling\.fraction: /],
    ['q > 1', { ...dp, sampling: { method: 'poisson', fraction: 1.5 }, privacy: { clipping: fixed, noiseMultiplier: 1 } }, /^sampling\.fraction: /],
    ['δ ≥ 1/clients', { ...dp, privacy: { clipping: fixed, noiseMultiplier: 1, delta: 0.01 } }, /^privacy\.delta: must be greater than 0 and less than 1\/clients = 0\.01 \(got 0\.01\)/],
    ['personalization', { ...dp, personalization: { localLayers: ['logits'] }, privacy: { clipping: fixed, noiseMultiplier: 1 } }, /^personalization: cannot be combined with privacy/],
    ['SCAFFOLD', { ...dp, strategy: { name: 'scaffold' }, privacy: { clipping: fixed, noiseMultiplier: 1 } }, /^strategy\.name: must not be "scaffold" with privacy/],
    ['fixed-size sampling', { ...dp, sampling: { method: 'uniform', fraction: 0.1 }, privacy: { clipping: fixed, noiseMultiplier: 1 } }, /^sampling\.method: must be "poisson" with privacy/],
    ['stratified sampling', { ...dp, sampling: { method: 'stratified', perRound: 10 }, privacy: { clipping: fixed, noiseMultiplier: 1 } }, /^sampling\.method: must be "poisson" with privacy/],
    ['an unreachable ε', { ...dp, sampling: { method: 'poisson', fraction: 1 }, rounds: 1000, privacy: { clipping: fixed, targetEpsilon: 0.01 } }, /^privacy\.targetEpsilon: 0\.01 cannot be met in 1000 rounds .* the smallest reachable ε is [0-9.]+/],
  ] as const)('%s', (_, config, expected) => {
    const errors = errorsOf(config as ExperimentConfigInput);
    expect(errors.some((error) => expected.test(error)), errors.join('\n')).toBe(true);
  });

  it('accepts a sound one, with Poisson sampling now a sampling method of its own', () => {
    expect(errorsOf({ ...dp, privacy: { clipping: fixed, targetEpsilon: 4 } })).toEqual([]);
    expect(errorsOf({ ...dp })).toEqual([]);
  });
});

describe('Poisson client sampling (sampling.method "poisson")', () => {
  const ids = Array.from({ length: 200 }, (_, index) => clientIdFor(index));
  const sampling = { method: 'poisson', fraction: 0.1 } as const;

  it('is seeded and reproducible, its size varies round to round around q·N, and a round can be empty', () => {
    const sizes = Array.from({ length: 300 }, (_, index) => selectClients({ clientIds: ids, round: index + 1, seed: 7, sampling }).length);
    expect(selectClients({ clientIds: ids, round: 3, seed: 7, sampling })).toEqual(selectClients({ clientIds: ids, round: 3, seed: 7, sampling }));
    expect(selectClients({ clientIds: ids, round: 3, seed: 8, sampling })).not.toEqual(selectClients({ clientIds: ids, round: 3, seed: 7, sampling }));
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    // Binomial(200, 0.1): mean 20, sd 4.24; the mean of 300 rounds is within 1 of 20 with overwhelming probability
    expect(Math.abs(mean - 20)).toBeLessThan(1);
    expect(new Set(sizes).size).toBeGreaterThan(10);
    const few = Array.from({ length: 100 }, (_, index) => selectClients({ clientIds: ids.slice(0, 3), round: index + 1, seed: 7, sampling }).length);
    expect(few).toContain(0);
  });
});

describe('the accountant runs before each release', () => {
  let cloud: LocalCloud;
  afterAll(async () => {
    await cloud?.stop();
  });

  it('refuses to release a round that would spend more than the budget: the experiment fails there, naming it', async () => {
    // The aggregator sees a budget below what one round costs (as if the plan had been calibrated for fewer rounds):
    // the accountant must stop the release rather than publish a model past it.
    const shrinkBudget = (store: PipelineContext['store']): PipelineContext['store'] =>
      new Proxy(store, {
        get(target, property, receiver) {
          if (property !== 'getText') return Reflect.get(target, property, receiver);
          return async (key: string) => {
            const text = await target.getText(key);
            if (text === undefined || !key.endsWith('config.resolved.json')) return text;
            const record = JSON.parse(text) as { privacyPlan: { budget: { epsilon: number } } };
            record.privacyPlan.budget.epsilon = 0.5;
            return JSON.stringify(record);
          };
        },
      });
    ({ cloud } = await startCloudWithScriptedClients({
      realTrainer: true,
      wrapContext: (role, context) => (role === 'aggregate' ? { ...context, store: shrinkBudget(context.store) } : context),
    }));
    await uploadConfig(cloud, 'dp-budget', {
      ...tiny,
      rounds: 1,
      privacy: { clipping: { kind: 'fixed', norm: 1 }, targetEpsilon: 5, delta: 1e-3, randomness: 'seeded' },
    });
    const status = await waitForStatus(cloud, 'dp-budget', (s) => s.state !== 'running', 120_000);
    expect(status.state).toBe('failed');
    expect(status.errors?.join('\n')).toMatch(/round 1 could not be aggregated: releasing round 1 would spend ε = [0-9.]+ at δ = 0\.001, over the budget privacy\.targetEpsilon = 0\.5/);
    expect(await cloud.context.store.exists(keys.globalModel('dp-budget', 1))).toBe(false);
    expect(await cloud.context.store.exists(keys.privacyRound('dp-budget', 1))).toBe(false);
  });
});
