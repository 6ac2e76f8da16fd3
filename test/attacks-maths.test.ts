import { describe, expect, it } from 'vitest';
import { adversariesSchema, parseAdversariesConfig } from '../shared/config/adversaries.js';
import {
  adversaryClients,
  adversaryProblems,
  alieUpdate,
  alieZ,
  attackUpdate,
  flipLabels,
  flipShardLabels,
  gaussianNoise,
  normalQuantile,
  poisonsData,
  poisonsUpdate,
  scale,
  signFlip,
} from '../shared/attacks/index.js';
import { formatProblem } from '../shared/robust/index.js';

const ids = (count: number) => Array.from({ length: count }, (_, index) => `client-${String(index).padStart(3, '0')}`);

describe('model-poisoning attacks', () => {
  const delta = Float32Array.of(0.5, -2, 0, 3);

  it('sign flipping sends −k·Δ and scaling k·Δ, leaving the honest Δ as it was', () => {
    expect(Array.from(signFlip(delta, 1))).toEqual([-0.5, 2, -0, -3]);
    expect(Array.from(signFlip(delta, 4))).toEqual([-2, 8, -0, -12]);
    expect(Array.from(scale(delta, 10))).toEqual([5, -20, 0, 30]);
    expect(Array.from(delta)).toEqual([0.5, -2, 0, 3]);
    expect(() => scale(delta, 0)).toThrow(/scale factor must be a positive number \(got 0\)/);
  });

  it('Gaussian noise is seeded, N(0, σ²) when it replaces Δ, and Δ + N(0, σ²) when added', () => {
    const honest = new Float32Array(100_000).fill(3);
    const replaced = gaussianNoise(honest, { sigma: 2, mode: 'replace', seed: 1 });
    expect(gaussianNoise(honest, { sigma: 2, mode: 'replace', seed: 1 })).toEqual(replaced);
    expect(gaussianNoise(honest, { sigma: 2, mode: 'replace', seed: 2 })).not.toEqual(replaced);
    const stats = (values: Float32Array) => {
      const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
      const variance = values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / values.length;
      return { mean, sd: Math.sqrt(variance) };
    };
    // Standard errors over 100,000 draws: mean 2/√1e5 ≈ 0.0063, sd ≈ 0.0045; the bounds are over 5 of them.
    expect(Math.abs(stats(replaced).mean)).toBeLessThan(0.035);
    expect(Math.abs(stats(replaced).sd - 2)).toBeLessThan(0.025);
    const added = gaussianNoise(honest, { sigma: 2, mode: 'add', seed: 1 });
    expect(added.map((value, i) => value - replaced[i]!).every((difference) => Math.abs(difference - 3) < 1e-5)).toBe(true);
  });
});

describe('a little is enough', () => {
  it('computes Φ⁻¹ like an independent implementation (Python 3.11 statistics.NormalDist.inv_cdf)', () => {
    const reference: [number, number][] = [
      [1e-300, -37.0470962993612],
      [1e-20, -9.262340089798405],
      [1e-10, -6.361340902404056],
      [0.001, -3.090232306167813],
      [0.02425, -1.9729610513118845],
      [0.1, -1.2815515655446008],
      [0.25, -0.6744897501960817],
      [0.5, 0],
      [0.72, 0.5828415072712162],
      [0.9, 1.2815515655446008],
      [0.975, 1.9599639845400536],
      [0.99, 2.3263478740408408],
      [0.999999, 4.753424308817089],
      [1 - 1e-12, 7.0344869100478356],
    ];
    for (const [p, z] of reference) expect(normalQuantile(p), `p = ${p}`).toBeCloseTo(z, 12);
    expect(() => normalQuantile(1)).toThrow(/strictly between 0 and 1/);
  });

  it('takes z_max = Φ⁻¹((n − s)/n) with s = ⌊n/2 + 1⌋ − f (values from Python\'s NormalDist)', () => {
    expect(alieZ(50, 12)).toBeCloseTo(0.5828415072712162, 12); // s = 14
    expect(alieZ(50, 24)).toBeCloseTo(1.7506860712521695, 12); // s = 2
    expect(alieZ(10, 2)).toBeCloseTo(0.2533471031357998, 12); // s = 4
    expect(alieZ(100, 20)).toBeCloseTo(0.49585034734745304, 12); // s = 31
    // An attacker majority needs no honest votes; s stays 1 and z finite.
    expect(alieZ(10, 8)).toBeCloseTo(normalQuantile(0.9), 12);
  });

  it('sends μ − z·σ of the attackers\' own honest updates (sample standard deviation)', () => {
    const honest = [Float32Array.of(1, 2, 5), Float32Array.of(3, 6, 5)];
    const malicious = alieUpdate(honest, 1);
    expect(malicious[0]).toBeCloseTo(2 - Math.SQRT2, 6);
    expect(malicious[1]).toBeCloseTo(4 - 2 * Math.SQRT2, 6);
    expect(malicious[2]).toBe(5);
    expect(Array.from(alieUpdate([Float32Array.of(1, 2)], 3))).toEqual([1, 2]);
  });

  it('is what attackUpdate sends for an "alie" config, with z from the round when not configured', () => {
    const honest = [Float32Array.of(0, 1), Float32Array.of(2, 3), Float32Array.of(4, 8)];
    const config = parseAdversariesConfig({ kind: 'alie', fraction: 0.3 });
    const sent = attackUpdate(config, honest[0]!, { seed: 1, colluding: honest, roundUpdates: 10 });
    expect(sent).toEqual(alieUpdate(honest, alieZ(10, 3)));
    const fixed = parseAdversariesConfig({ kind: 'alie', fraction: 0.3, z: 1.5 });
    expect(attackUpdate(fixed, honest[0]!, { seed: 1, colluding: honest })).toEqual(alieUpdate(honest, 1.5));
    expect(() => attackUpdate(config, honest[0]!, { seed: 1 })).toThrow(/colluding attackers' honest updates are missing/);
  });
});

describe('label flipping', () => {
  it('maps y to C − 1 − y on the shard\'s labels only', () => {
    expect(Array.from(flipLabels(Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)))).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(Array.from(flipLabels(Uint8Array.of(0, 2, 1), 3))).toEqual([2, 0, 1]);
    const shard = { count: 2, rows: 1, cols: 1, channels: 1, classes: 10, images: Uint8Array.of(7, 9), labels: Uint8Array.of(3, 9) };
    const flipped = flipShardLabels(shard);
    expect(Array.from(flipped.labels)).toEqual([6, 0]);
    expect(flipped.images).toBe(shard.images);
    expect(Array.from(shard.labels)).toEqual([3, 9]);
    expect(() => flipLabels(Uint8Array.of(10))).toThrow(/label 0 is 10, outside the 10 classes/);
    expect(poisonsData(parseAdversariesConfig({ kind: 'label-flip', fraction: 0.1 }))).toBe(true);
    expect(poisonsUpdate(parseAdversariesConfig({ kind: 'label-flip', fraction: 0.1 }))).toBe(false);
  });
});

describe('choosing the adversaries', () => {
  it('chooses round(fraction × clients) clients with the seed, the same in every call', () => {
    const clients = ids(10);
    const chosen = adversaryClients({ fraction: 0.3 }, clients, 42);
    expect(chosen).toHaveLength(3);
    expect(adversaryClients({ fraction: 0.3 }, clients, 42)).toEqual(chosen);
    expect(chosen.every((id) => clients.includes(id))).toBe(true);
    const bySeed = new Set(Array.from({ length: 20 }, (_, seed) => adversaryClients({ fraction: 0.3 }, clients, seed).join()));
    expect(bySeed.size).toBeGreaterThan(10);
    expect(adversaryClients({ fraction: 1 }, clients, 1)).toEqual(clients);
  });

  it('takes the named clients when given, in client order', () => {
    expect(adversaryClients({ clients: ['client-007', 'client-002'] }, ids(10), 1)).toEqual(['client-002', 'client-007']);
  });

  it('grows the set as the fraction grows, so 10 % attackers are among the 20 %', () => {
    const clients = ids(50);
    const ten = adversaryClients({ fraction: 0.1 }, clients, 5);
    const twenty = adversaryClients({ fraction: 0.2 }, clients, 5);
    expect(ten.every((id) => twenty.includes(id))).toBe(true);
  });
});

describe('adversaries config section', () => {
  it('fills in each attack\'s defaults', () => {
    expect(parseAdversariesConfig({ kind: 'sign-flip', fraction: 0.2 })).toEqual({ kind: 'sign-flip', fraction: 0.2, factor: 1 });
    expect(parseAdversariesConfig({ kind: 'gaussian', clients: ['client-001'] })).toEqual({ kind: 'gaussian', clients: ['client-001'], sigma: 1, mode: 'replace' });
  });

  it('needs exactly one of fraction and clients, and valid distinct client ids', () => {
    const messages = (input: unknown) => adversariesSchema.safeParse(input).error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`) ?? [];
    expect(messages({ kind: 'scale' })).toEqual([': give exactly one of "fraction" (a share of the clients) or "clients" (their ids) (got neither)']);
    expect(messages({ kind: 'scale', fraction: 0.1, clients: ['client-000'] })).toEqual([
      ': give exactly one of "fraction" (a share of the clients) or "clients" (their ids) (got both)',
    ]);
    expect(messages({ kind: 'scale', clients: ['client-000', 'bob', 'client-000'] })).toEqual([
      'clients.1: must be a client id such as "client-003" (got "bob")',
      'clients.2: "client-000" is listed twice',
    ]);
    expect(messages({ kind: 'scale', fraction: 0.1, factor: -1 })[0]).toMatch(/^factor: /);
  });

  it('reports attackers the experiment cannot have', () => {
    const problems = (input: Parameters<typeof parseAdversariesConfig>[0], clients: number) =>
      adversaryProblems(parseAdversariesConfig(input), ids(clients)).map(formatProblem);
    expect(problems({ kind: 'scale', fraction: 0.2 }, 10)).toEqual([]);
    expect(problems({ kind: 'scale', clients: ['client-012'] }, 10)).toEqual([
      'adversaries.clients.0: "client-012" is not a client of this experiment, whose 10 clients are client-000 to client-009',
    ]);
    expect(problems({ kind: 'scale', fraction: 0.04 }, 10)).toEqual([
      'adversaries.fraction: selects round(fraction × clients) = 0 of the 10 clients; must be at least 0.05 for one attacker (got 0.04)',
    ]);
    expect(problems({ kind: 'alie', fraction: 0.1 }, 10)[0]).toMatch(/^adversaries\.fraction: alie needs at least 2 attackers/);
  });
});
