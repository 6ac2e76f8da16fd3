import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatRoundTable } from '../cli/tables.js';
import type { LocalCloud } from '../local/cloud.js';
import { minimumClippingRange } from '../shared/config/distributed-privacy.js';
import type { ExperimentConfigInput } from '../shared/config/schema.js';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import { readResolvedConfigRecord } from '../shared/pipeline/experiment.js';
import { validateExperimentConfig } from '../shared/pipeline/validate.js';
import { privacySpent } from '../shared/privacy/rdp.js';
import { keys } from '../shared/protocol/keys.js';
import { renderReportHtml } from '../shared/report/html.js';
import { readGlobal } from './helpers/pipeline.js';
import { startSecAggCloud, type SecAggCloud } from './helpers/secagg-cloud.js';

/**
 * Distributed DP: privacy together with secureAggregation. Config rules (pure), then real runs on the embedded local
 * cloud (fauxqs S3/SQS, the real handlers, real tfjs training on small MNIST slices) with the aggregator's store
 * wrapped to record every key it reads.
 */

const C = 0.05;
const SIGMA = 1;
const T = 2;
const base = {
  // 4 clients, complete graph (k = 3), t = 2
  clients: 4,
  rounds: 2,
  model: 'mlp',
  samplesPerClient: 60,
  testSamples: 200,
  local: { epochs: 1, batchSize: 20, learningRate: 0.05 },
  partition: { kind: 'iid' },
  round: { deadlineSeconds: 60, minClients: 2 },
  secureAggregation: { threshold: T, clippingRange: 0.5, quantizationBits: 16, stageDeadlineSeconds: 60 },
  privacy: { clipping: { kind: 'fixed', norm: C }, noiseMultiplier: SIGMA, delta: 1e-3 },
} as const satisfies ExperimentConfigInput;

const errorsOf = (config: ExperimentConfigInput): string[] => {
  const result = validateExperimentConfig({ name: 'x', ...config });
  return result.ok ? [] : result.errors;
};

describe('distributed DP config rules', () => {
  it('accepts privacy with secureAggregation when every rule holds', () => {
    expect(errorsOf(base)).toEqual([]);
  });

  it('refuses sampling (any method) with one reason naming sampling, not two contradicting ones', () => {
    for (const sampling of [{ method: 'poisson', fraction: 0.5 }, { method: 'uniform', perRound: 3 }] as const) {
      const errors = errorsOf({ ...base, sampling });
      expect(errors.filter((e) => /sampling/.test(e))).toHaveLength(1);
      expect(errors.join('\n')).toMatch(/sampling: must be omitted with privacy and secureAggregation.*amplification by sampling does not hold against the server/);
    }
  });

  it('refuses adaptive clipping and seeded randomness, naming the field', () => {
    expect(errorsOf({ ...base, privacy: { ...base.privacy, clipping: { kind: 'adaptive' } } }).join('\n')).toMatch(/privacy\.clipping\.kind: must be "fixed" with secureAggregation \(got "adaptive"\)/);
    expect(errorsOf({ ...base, privacy: { ...base.privacy, randomness: 'seeded' } }).join('\n')).toMatch(/privacy\.randomness: must be "secure" with secureAggregation \(got "seeded"\)/);
  });

  it('refuses a coordinate range that cannot carry C plus 8 standard deviations of the client noise, with the minimum', () => {
    const minimum = minimumClippingRange(SIGMA, C, T); // 0.05 + 8 · 0.05/√2 ≈ 0.3328
    expect(minimum).toBeCloseTo(C + (8 * C) / Math.SQRT2, 12);
    const errors = errorsOf({ ...base, secureAggregation: { ...base.secureAggregation, clippingRange: 0.3 } });
    expect(errors).toEqual([expect.stringMatching(/^secureAggregation\.clippingRange: must be at least 0\.3328 with privacy \(got 0\.3\)/)]);
    // round.minClients above t raises m, and each client's share shrinks: m = 4 needs only 0.05 + 8 · 0.05/2 = 0.25
    expect(errorsOf({ ...base, round: { ...base.round, minClients: 4 }, secureAggregation: { ...base.secureAggregation, clippingRange: 0.3 } })).toEqual([]);
    // with targetEpsilon the calibrated σ is what the range is checked against
    const calibrated = errorsOf({ ...base, privacy: { clipping: { kind: 'fixed', norm: C }, targetEpsilon: 2, delta: 1e-3 } });
    expect(calibrated.join('\n')).toMatch(/secureAggregation\.clippingRange: must be at least/);
  });

  it('still refuses what secure aggregation refuses without privacy', () => {
    expect(errorsOf({ ...base, secureAggregation: { ...base.secureAggregation, threshold: 1 } }).join('\n')).toMatch(/secureAggregation\.threshold: must be more than half/);
  });
});

/** the aggregator of this experiment sees a budget below one round's cost (as if calibrated for fewer rounds) */
const SHRUNK_BUDGET = 'dp-sa-budget';

function shrinkBudget(key: string, text: string): string {
  if (key !== keys.resolvedConfig(SHRUNK_BUDGET)) return text;
  const record = JSON.parse(text) as { privacyPlan: { budget: { epsilon: number } } };
  record.privacyPlan.budget.epsilon = 0.5;
  return JSON.stringify(record);
}

describe('distributed DP through the pipeline on the local cloud', () => {
  let cloud: LocalCloud;
  let harness: SecAggCloud;
  let dropouts: SecAggCloud['dropouts'];
  const run: SecAggCloud['run'] = (experimentId, config, until, timeoutMs = 600_000) => harness.run(experimentId, config, until, timeoutMs);

  beforeAll(async () => {
    harness = await startSecAggCloud({ rewriteText: shrinkBudget });
    ({ cloud, dropouts } = harness);
  }, 60_000);
  afterAll(async () => {
    await cloud?.stop();
  });

  const metricsOf = async (experimentId: string) => JSON.parse((await cloud.context.store.getText(keys.metrics(experimentId)))!) as ExperimentMetrics;

  it('puts the clients’ noise in the unmasked sum (variance σ²C²·n/m, not less, not more), charges the accountant’s ε, and the aggregator reads no individual update', async () => {
    // round.minClients 3 > t = 2: the shares are sized for m = 3, and no round unmasks with fewer than 3
    const M = 3;
    const { reads } = await run('dp-sa', { ...base, round: { ...base.round, minClients: M } }, 'completed');
    expect(reads.filter((key) => /\/updates\/[^/]+\.bin$/.test(key) || /\/clients\/[^/]+\/secagg\//.test(key))).toEqual([]);
    expect(reads.some((key) => key.includes('/secagg/masked/') && key.endsWith('.bin'))).toBe(true);

    const metrics = await metricsOf('dp-sa');
    expect(metrics.rounds).toHaveLength(2);
    const n = 4;
    metrics.rounds.forEach((round, index) => {
      expect(round.secureAggregation?.outcome).toBe('unmasked');
      expect(round.clients).toHaveLength(n);
      // ε: the accountant's for q = 1 (every client every round), σ, r rounds
      expect(round.privacy?.epsilon).toBe(privacySpent([{ sampleRate: 1, noiseMultiplier: SIGMA, count: index + 1 }], 1e-3).epsilon);
      expect(round.privacy).toMatchObject({ noiseMultiplier: SIGMA, clipNorm: C, reported: n, clippedFraction: null, medianUpdateNorm: null });
      expect(round.privacy?.distributed).toEqual({ minContributors: M, achievedNoiseMultiplier: expect.closeTo(SIGMA * Math.sqrt(n / M), 12) });
    });
    const record = await readResolvedConfigRecord(cloud.context.store, 'dp-sa');
    expect(record.privacyPlan).toMatchObject({ sampleRate: 1, noiseMultiplier: SIGMA });

    // The released mean Δ (FedAvg: global 1 − global 0) is s + N with ‖s‖ ≤ C (a mean of updates clipped to C) and N
    // the summed noise over n: each coordinate N(0, v), v = n·(σC)²/m / n² = σ²C²/(n·m), plus stochastic rounding
    // (variance < γ²/4 per client, γ = 2c/(2¹⁶ − 1): 10⁻⁷ of v). ‖N‖²/(d·v) is χ²_d/d: mean 1, sd √(2/d) ≈ 0.0045 for
    // d ≈ 10⁵. So ‖Δ‖/√(d·v) lies within 1 ± (6·√(2/d)/2 + C/√(d·v)) ≈ 1 ± 0.014 + 0.009 with probability > 1 − 10⁻⁸.
    // No noise would give ≤ C/√(d·v) ≈ 0.009; shares sized for n = 4 instead of m = 3, ≈ 0.87; for t = 2, ≈ 1.22; a
    // server adding σC/n on top, ≈ 1.32.
    const before = await readGlobal(cloud, 'dp-sa', 0);
    const after = await readGlobal(cloud, 'dp-sa', 1);
    let squares = 0;
    let d = 0;
    after.forEach((tensor, t) => tensor.values.forEach((value, i) => {
      squares += (value - before[t]!.values[i]!) ** 2;
      d++;
    }));
    const v = (SIGMA * C) ** 2 / (n * M);
    const ratio = Math.sqrt(squares / (d * v));
    const tolerance = (6 * Math.sqrt(2 / d)) / 2 + C / Math.sqrt(d * v);
    expect(Math.abs(ratio - 1)).toBeLessThan(tolerance);
    // the record's expected noise norm is the same quantity
    expect(metrics.rounds[0]!.privacy!.noiseNorm).toBeCloseTo(Math.sqrt(d * v), 6);

    // CLI table and HTML report show ε per round as for central DP
    expect(formatRoundTable(metrics)).toContain(`ε = ${metrics.rounds[1]!.privacy!.epsilon.toFixed(3)} at δ = 0.001 after round 2`);
    expect(renderReportHtml(metrics)).toContain('Accuracy against ε');
  }, 900_000);

  it('keeps the noise when a client drops out at masked input: three contributors, σ·√(3/m) achieved (m = t = 2 = round.minClients), σ charged', async () => {
    dropouts.set('dp-sa-drop', { stage: 'masked-input', clients: ['client-001'] });
    await run('dp-sa-drop', { ...base, rounds: 1, round: { deadlineSeconds: 20, minClients: 2 } }, 'completed');
    const round = (await metricsOf('dp-sa-drop')).rounds[0]!;
    expect(round.clients.map((client) => client.clientId)).toEqual(['client-000', 'client-002', 'client-003']);
    expect(round.privacy).toMatchObject({ reported: 3, noiseMultiplier: SIGMA, epsilon: privacySpent([{ sampleRate: 1, noiseMultiplier: SIGMA, count: 1 }], 1e-3).epsilon });
    expect(round.privacy?.distributed?.achievedNoiseMultiplier).toBeCloseTo(SIGMA * Math.sqrt(3 / T), 12);
    // the mean over 3 carries variance 3·(σC)²/t / 3² per coordinate: the same χ² bound as above
    const before = await readGlobal(cloud, 'dp-sa-drop', 0);
    const after = await readGlobal(cloud, 'dp-sa-drop', 1);
    let squares = 0;
    let d = 0;
    after.forEach((tensor, t) => tensor.values.forEach((value, i) => {
      squares += (value - before[t]!.values[i]!) ** 2;
      d++;
    }));
    const v = (SIGMA * C) ** 2 / (3 * T);
    expect(Math.abs(Math.sqrt(squares / (d * v)) - 1)).toBeLessThan((6 * Math.sqrt(2 / d)) / 2 + C / Math.sqrt(d * v));
  }, 900_000);

  it('fails a round past the budget when masked input closes: no client is asked to reveal a share, nothing is released', async () => {
    const { status } = await run(SHRUNK_BUDGET, { ...base, rounds: 1, privacy: { clipping: { kind: 'fixed', norm: C }, targetEpsilon: 5, delta: 1e-3 } }, 'failed');
    expect(status.errors?.join('\n')).toMatch(
      /secure aggregation failed at the masked-input stage: releasing round 1 would spend ε = [0-9.]+ at δ = 0\.001, over the budget privacy\.targetEpsilon = 0\.5/,
    );
    const store = cloud.context.store;
    for (const id of ['client-000', 'client-001', 'client-002', 'client-003']) {
      expect(await store.exists(keys.secaggRequest(SHRUNK_BUDGET, 1, 'unmask', id))).toBe(false);
      expect(await store.exists(keys.secaggAnswer(SHRUNK_BUDGET, 1, 'unmask', id))).toBe(false);
    }
    expect(await store.exists(keys.secaggMean(SHRUNK_BUDGET, 1))).toBe(false);
    expect(await store.exists(keys.privacyRound(SHRUNK_BUDGET, 1))).toBe(false);
    expect(await store.exists(keys.globalModel(SHRUNK_BUDGET, 1))).toBe(false);
  }, 900_000);
});
