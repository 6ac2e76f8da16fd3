import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { defaultDelta, privacyProblems, privacySchema, resolvePrivacyPlan, type PrivacyConfigInput, type PrivacyExperiment } from '../shared/config/privacy.js';
import { updateNoiseMultiplier } from '../shared/privacy/adaptive.js';
import { calibrateNoiseMultiplier, NOISE_MULTIPLIER_RANGE } from '../shared/privacy/calibrate.js';
import { privacySpent } from '../shared/privacy/rdp.js';

const privacy = (input: PrivacyConfigInput) => privacySchema.parse(input);

/** 1,000 clients, Poisson sampling at q = 0.1, 50 rounds of FedAvg: the issue's benchmark shape. */
function experiment(overrides: Partial<PrivacyExperiment> = {}): PrivacyExperiment {
  return {
    clients: 1000,
    rounds: 50,
    strategy: { name: 'fedavg' },
    sampling: { method: 'poisson', fraction: 0.1 },
    privacy: privacy({ clipping: { kind: 'fixed', norm: 1 }, targetEpsilon: 4, delta: 1e-5 }),
    ...overrides,
  };
}

describe('privacySchema', () => {
  it('fills the defaults: secure randomness, and adaptive clipping at Andrew et al.’s γ 0.5, η 0.2', () => {
    expect(privacy({ clipping: { kind: 'adaptive' }, noiseMultiplier: 1 })).toEqual({
      clipping: { kind: 'adaptive', initialNorm: 0.1, targetQuantile: 0.5, learningRate: 0.2 },
      noiseMultiplier: 1,
      randomness: 'secure',
    });
  });

  it.each([
    [{ clipping: { kind: 'fixed', norm: 1 } }, [], 'give exactly one of "noiseMultiplier" (σ) or "targetEpsilon" (a budget σ is calibrated to) (got neither)'],
    [{ clipping: { kind: 'fixed', norm: 1 }, noiseMultiplier: 1, targetEpsilon: 2 }, [], '(got both)'],
    [{ clipping: { kind: 'fixed', norm: 0 }, noiseMultiplier: 1 }, ['clipping', 'norm'], ''],
    [{ clipping: { kind: 'fixed', norm: 1 }, noiseMultiplier: -1 }, ['noiseMultiplier'], ''],
    [{ clipping: { kind: 'fixed', norm: 1 }, noiseMultiplier: 1, delta: 1 }, ['delta'], ''],
    [{ clipping: { kind: 'adaptive', targetQuantile: 1 }, noiseMultiplier: 1 }, ['clipping', 'targetQuantile'], ''],
    [{ clipping: { kind: 'median' }, noiseMultiplier: 1 }, ['clipping', 'kind'], ''],
    [{ clipping: { kind: 'fixed', norm: 1 }, noiseMultiplier: 1, randomness: 'math-random' }, ['randomness'], ''],
    [{ clipping: { kind: 'fixed', norm: 1 }, noiseMultiplier: 1, epsilon: 3 }, [], ''],
  ])('rejects %j at %j', (input, path, message) => {
    const result = privacySchema.safeParse(input);
    expect(result.success).toBe(false);
    if (result.success) return;
    expect(result.error.issues.map((issue) => issue.path)).toContainEqual(path);
    if (message !== '') expect(result.error.issues.map((issue) => issue.message).join('\n')).toContain(message);
  });
});

describe('privacyProblems', () => {
  it('has nothing to say about a sound config, or one without privacy', () => {
    expect(privacyProblems(experiment())).toEqual([]);
    expect(privacyProblems(experiment({ privacy: undefined, strategy: { name: 'scaffold' } }))).toEqual([]);
    expect(privacyProblems(experiment({ sampling: undefined }))).toEqual([]);
  });

  it.each<[string, Partial<PrivacyExperiment>, string]>([
    ['σ ≤ 0', { privacy: { clipping: { kind: 'fixed', norm: 1 }, noiseMultiplier: 0, randomness: 'secure' } }, 'privacy.noiseMultiplier: must be a number greater than 0 (got 0)'],
    ['C ≤ 0 (fixed)', { privacy: { clipping: { kind: 'fixed', norm: -2 }, noiseMultiplier: 1, randomness: 'secure' } }, 'privacy.clipping.norm: must be a number greater than 0 (got -2)'],
    [
      'C ≤ 0 (adaptive)',
      { privacy: { clipping: { kind: 'adaptive', initialNorm: 0, targetQuantile: 0.5, learningRate: 0.2 }, noiseMultiplier: 1, randomness: 'secure' } },
      'privacy.clipping.initialNorm: must be a number greater than 0 (got 0)',
    ],
    ['q > 1', { sampling: { method: 'poisson', fraction: 1.5 } }, 'sampling.fraction: must be the sampling rate q, greater than 0 and at most 1 (got 1.5)'],
    ['q = 0', { sampling: { method: 'poisson', perRound: 0 } }, 'sampling.perRound: must be the expected clients per round, greater than 0 and at most the number of clients, 1000 (got 0)'],
    [
      'δ ≥ 1/clients',
      { clients: 50, privacy: { clipping: { kind: 'fixed', norm: 1 }, noiseMultiplier: 1, delta: 0.02, randomness: 'secure' } },
      "privacy.delta: must be greater than 0 and less than 1/clients = 0.02 (got 0.02): with δ ≥ 1/N a mechanism may publish one client's data outright and still meet (ε, δ)",
    ],
    ['SCAFFOLD', { strategy: { name: 'scaffold' } }, 'strategy.name: must not be "scaffold" with privacy: its control variates c_i go to the server without clipping or noise'],
    ['personalization', { personalization: { localLayers: ['logits'] } }, 'personalization: cannot be combined with privacy: DP-FedAvg would protect the shared layers the server averages, but the local layers'],
    ['uniform sampling', { sampling: { method: 'uniform', perRound: 100 } }, 'sampling.method: must be "poisson" with privacy (got "uniform"): the accountant\'s amplification by sampling assumes'],
    ['stratified sampling', { sampling: { method: 'stratified', fraction: 0.1 } }, 'sampling.method: must be "poisson" with privacy (got "stratified")'],
    ['neither σ nor ε', { privacy: { clipping: { kind: 'fixed', norm: 1 }, randomness: 'secure' } }, 'privacy: give exactly one of "noiseMultiplier" (σ) or "targetEpsilon"'],
  ])('refuses %s, naming the field', (_, overrides, expected) => {
    const problems = privacyProblems(experiment(overrides));
    expect(problems.some((problem) => problem.startsWith(expected)), problems.join('\n')).toBe(true);
  });

  it('refuses a budget no σ in the documented range reaches, with the smallest reachable ε', () => {
    const problems = privacyProblems(experiment({ privacy: privacy({ clipping: { kind: 'fixed', norm: 1 }, targetEpsilon: 0.01, delta: 1e-5 }) }));
    const smallest = privacySpent([{ sampleRate: 0.1, noiseMultiplier: NOISE_MULTIPLIER_RANGE.max, count: 50 }], 1e-5).epsilon;
    expect(problems).toEqual([
      `privacy.targetEpsilon: 0.01 cannot be met in 50 rounds at sampling rate 0.1 with δ = 0.00001: the smallest reachable ε is ${Number(smallest.toPrecision(4))} (at noiseMultiplier 100, the largest flambda uses); raise targetEpsilon, or lower rounds or the sampling rate`,
    ]);
  });

  it('refuses adaptive clipping whose count noise would take the whole budget, default or given', () => {
    // 20 clients at q = 1: m = 20, default σ_b = 1, so σ must stay below 2.
    const small = { clients: 20, sampling: undefined };
    const withDefault = privacyProblems(experiment({ ...small, privacy: privacy({ clipping: { kind: 'adaptive' }, noiseMultiplier: 3, delta: 1e-3 }) }));
    expect(withDefault).toEqual([
      'privacy.clipping.countNoise: must be greater than half the noise multiplier, 1.5 (got the default, expected clients per round / 20 = 1): the clipped-count query would spend the whole budget; raise countNoise, use more clients per round, or use fixed clipping',
    ]);
    const given = privacyProblems(experiment({ ...small, privacy: privacy({ clipping: { kind: 'adaptive', countNoise: 1.2 }, noiseMultiplier: 3, delta: 1e-3 }) }));
    expect(given[0]).toMatch(/^privacy\.clipping\.countNoise: must be greater than half the noise multiplier, 1\.5 \(got 1\.2\)/);
  });

  it('reports every problem at once', () => {
    const problems = privacyProblems(
      experiment({ strategy: { name: 'scaffold' }, personalization: { localLayers: ['logits'] }, sampling: { method: 'uniform', fraction: 0.1 } }),
    );
    expect(problems.map((problem) => problem.split(':')[0])).toEqual(['strategy.name', 'personalization', 'sampling.method']);
  });
});

describe('resolvePrivacyPlan', () => {
  it('calibrates σ for targetEpsilon and fills q, m and the budget', () => {
    const result = resolvePrivacyPlan(experiment());
    if (!result.ok || result.plan === undefined) throw new Error(JSON.stringify(result));
    const calibration = calibrateNoiseMultiplier({ targetEpsilon: 4, delta: 1e-5, sampleRate: 0.1, rounds: 50 });
    expect(calibration.ok).toBe(true);
    expect(result.plan).toEqual({
      sampleRate: 0.1,
      expectedClients: 100,
      delta: 1e-5,
      noiseMultiplier: calibration.ok ? calibration.noiseMultiplier : NaN,
      updateNoiseMultiplier: calibration.ok ? calibration.noiseMultiplier : NaN,
      budget: { epsilon: 4, delta: 1e-5 },
      projectedEpsilon: calibration.ok ? calibration.epsilon : NaN,
      clipping: { kind: 'fixed', norm: 1 },
      randomness: 'secure',
    });
    expect(result.plan.projectedEpsilon).toBeLessThanOrEqual(4);
  });

  it('keeps σ for the accountant and gives the updates σ_Δ under adaptive clipping; q from perRound; δ by default', () => {
    const result = resolvePrivacyPlan(
      experiment({
        clients: 500,
        sampling: { method: 'poisson', perRound: 50 },
        privacy: privacy({ clipping: { kind: 'adaptive', initialNorm: 0.5 }, noiseMultiplier: 1.2, randomness: 'seeded' }),
      }),
    );
    if (!result.ok || result.plan === undefined) throw new Error(JSON.stringify(result));
    const { plan } = result;
    expect([plan.sampleRate, plan.expectedClients, plan.delta, plan.noiseMultiplier, plan.randomness]).toEqual([0.1, 50, defaultDelta(500), 1.2, 'seeded']);
    expect(plan.clipping).toEqual({ kind: 'adaptive', initialNorm: 0.5, targetQuantile: 0.5, learningRate: 0.2, countNoiseStddev: 2.5 });
    expect(plan.updateNoiseMultiplier).toBe(updateNoiseMultiplier(1.2, 2.5));
    expect(plan.budget).toBeUndefined();
    expect(plan.projectedEpsilon).toBe(privacySpent([{ sampleRate: 0.1, noiseMultiplier: 1.2, count: 50 }], 1e-5).epsilon);
  });

  it('is undefined without privacy and lists the problems otherwise', () => {
    expect(resolvePrivacyPlan(experiment({ privacy: undefined }))).toEqual({ ok: true, plan: undefined });
    const refused = resolvePrivacyPlan(experiment({ strategy: { name: 'scaffold' } }));
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.errors[0]).toMatch(/^strategy\.name: must not be "scaffold"/);
  });

  it('defaults δ below 1/clients: 1e-5, or 0.1/clients beyond 10,000 clients', () => {
    expect(defaultDelta(1000)).toBe(1e-5);
    expect(defaultDelta(50_000)).toBe(2e-6);
    for (const clients of [1, 10, 1000, 10_000, 1e6]) expect(defaultDelta(clients)).toBeLessThan(1 / clients);
  });
});

describe('docs/privacy.md', () => {
  it('has a config row for every field of the privacy section, with its default and bounds', async () => {
    const docs = await readFile(new URL('../docs/privacy.md', import.meta.url), 'utf8');
    const schema = z.toJSONSchema(privacySchema, { io: 'input' });
    const fields: [string, z.core.JSONSchema.JSONSchema][] = [];
    const walk = (node: z.core.JSONSchema.JSONSchema, prefix: string) => {
      for (const variant of node.oneOf ?? node.anyOf ?? [node]) {
        for (const [key, child] of Object.entries(variant.properties ?? {})) {
          if (typeof child !== 'object') continue;
          fields.push([`${prefix}${key}`, child]);
          walk(child, `${prefix}${key}.`);
        }
      }
    };
    walk(schema, 'privacy.');
    expect(fields.length).toBeGreaterThanOrEqual(10);
    for (const [field, node] of fields) {
      const row = docs.split('\n').find((line) => line.startsWith(`| \`${field}\` |`));
      expect(row, `no row for ${field}`).toBeDefined();
      const [, , , defaultCell, allowedCell] = row!.split('|').map((cell) => cell.trim());
      if (node.default !== undefined && typeof node.default !== 'object') expect(defaultCell, field).toContain(`\`${JSON.stringify(node.default)}\``);
      for (const bound of [node.minimum, node.maximum, node.exclusiveMinimum, node.exclusiveMaximum]) {
        if (typeof bound === 'number') expect(allowedCell, field).toContain(String(bound));
      }
      for (const value of node.enum ?? []) expect(allowedCell, field).toContain(JSON.stringify(value));
      if (node.const !== undefined) expect(allowedCell, field).toContain(JSON.stringify(node.const));
    }
  });
});
