import { describe, expect, it } from 'vitest';
import { clientIdFor } from '../shared/protocol/keys.js';
import { hkdfSha256, prgWords, utf8 } from '../shared/secagg/crypto.js';
import { gaussianNoiseShare } from '../shared/secagg/noise.js';
import { sumErrorBound } from '../shared/secagg/quantize.js';
import { defaultUpdate, simulateRound, simulationSetup, type SimulationOptions, type SimulationReport } from '../shared/secagg/simulate.js';

/** Client ids that are pairwise far apart in the graph do not matter: any k − t of them may drop. */
const ids = (...indices: number[]) => indices.map(clientIdFor);

/** A seeded pick of `count` distinct clients out of `clients`. */
function pick(count: number, clients: number, label: string): string[] {
  const words = prgWords(hkdfSha256(utf8(label), new Uint8Array(0), new Uint8Array(0), 32), 4 * count + 64);
  const chosen = new Set<number>();
  for (const word of words) {
    if (chosen.size === count) break;
    chosen.add(word % clients);
  }
  return [...chosen].map(clientIdFor);
}

function expectExactSum(report: SimulationReport): void {
  if (!report.outcome.ok) throw new Error(`round failed: ${report.outcome.failure.stage}: ${report.outcome.failure.reason}`);
  expect(report.plainSum).toBeDefined();
  // The whole point: after unmasking, the server holds exactly Σ q(x_u) mod 2^32 over the contributors, word for word.
  expect(Buffer.from(report.outcome.aggregate.sum.buffer).equals(Buffer.from(report.plainSum!.buffer))).toBe(true);
}

const contributorsOf = (report: SimulationReport) => (report.outcome.ok ? [...report.outcome.aggregate.contributors] : []);

describe('SecAgg, complete graph', () => {
  const base: SimulationOptions = { clients: 10, vectorLength: 257, threshold: 6 };

  it('0 dropouts: the unmasked sum is the plain quantized sum of all 10 clients', () => {
    const report = simulateRound(base);
    expectExactSum(report);
    expect(contributorsOf(report)).toEqual(ids(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    expect(report.outcome.ok && report.outcome.aggregate.revealed).toEqual({ selfMaskSeeds: 10, maskKeys: 0 });
  });

  it.each([
    ['masked-input', 1],
    ['masked-input', 3],
    ['unmask', 1],
    ['unmask', 3],
  ] as const)('%s: %i dropouts (k − t = 3 at most) still give the exact sum', (stage, count) => {
    const dropped = ids(...[2, 5, 9].slice(0, count));
    const report = simulateRound({ ...base, dropouts: { [stage]: dropped } });
    expectExactSum(report);
    const expected = stage === 'masked-input' ? ids(0, 1, 2, 3, 4, 5, 6, 7, 8, 9).filter((id) => !dropped.includes(id)) : ids(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    expect(contributorsOf(report)).toEqual(expected);
    if (report.outcome.ok) expect(report.outcome.aggregate.revealed.maskKeys).toBe(stage === 'masked-input' ? count : 0);
  });

  it('dropouts at advertise keys and share keys leave those clients out of the sum', () => {
    const report = simulateRound({ ...base, dropouts: { 'advertise-keys': ids(1), 'share-keys': ids(4) } });
    expectExactSum(report);
    expect(contributorsOf(report)).toEqual(ids(0, 2, 3, 5, 6, 7, 8, 9));
  });

  it('k − t + 1 dropouts at masked input fail the round before anyone reveals a share, naming the shortfall', () => {
    const report = simulateRound({ ...base, dropouts: { 'masked-input': ids(0, 1, 2, 3) } });
    expect(report.outcome.ok).toBe(false);
    if (report.outcome.ok) return;
    expect(report.outcome.failure.stage).toBe('masked-input');
    expect(report.outcome.failure.reason).toContain("client-004's self mask need 6 of its neighbours to answer the unmask stage; only 5 of them sent masked inputs");
    expect(report.measures.unmask).toBeUndefined();
  });

  it('fewer than t masked inputs fail the round with the count', () => {
    // With 4 of 7 gone at masked input only 3 contributors remain, below t = 4.
    const report = simulateRound({ clients: 7, vectorLength: 8, threshold: 4, dropouts: { 'masked-input': ids(0, 1, 2, 3) } });
    expect(report.outcome).toEqual({ ok: false, failure: { stage: 'masked-input', reason: '3 clients sent masked inputs; at least the threshold, 4, must for the round to be unmasked' } });
  });

  it('a round set up for at least m > t contributors (distributed DP) unmasks with m, fails below m, and no client reveals shares for fewer', () => {
    const withM = { clients: 7, vectorLength: 8, threshold: 4, minContributors: 6 };
    const six = simulateRound({ ...withM, dropouts: { 'masked-input': ids(0) } });
    expect(six.outcome.ok).toBe(true);
    const five = simulateRound({ ...withM, dropouts: { 'masked-input': ids(0, 1) } });
    expect(five.outcome).toEqual({
      ok: false,
      failure: { stage: 'masked-input', reason: '5 clients sent masked inputs; at least 6, the fewest contributors the clients sized their noise for (threshold 4), must for the round to be unmasked' },
    });
    // A server that claimed fewer contributors anyway would get no share from any client.
    const lying = simulateRound({ ...withM, transforms: { unmaskRequests: (requests) => requests.map((request) => ({ ...request, contributorCount: 5 })) } });
    expect(lying.outcome.ok).toBe(false);
    expect(lying.clientErrors.map(({ error }) => error.message)).toEqual(
      Array(7).fill("unmask: only 5 masked inputs are in the sum; revealing shares needs at least 6, the fewest contributors this round's noise was sized for"),
    );
    expect(() => simulateRound({ ...withM, minContributors: 3 })).toThrow('minContributors must be an integer from the threshold, 4, to the round\'s 7 clients (got 3)');
  });

  it('k − t + 1 dropouts at unmask fail the round, naming the client whose mask cannot be removed', () => {
    const report = simulateRound({ ...base, dropouts: { unmask: ids(0, 1, 2, 3) } });
    expect(report.outcome.ok).toBe(false);
    if (report.outcome.ok) return;
    expect(report.outcome.failure.stage).toBe('unmask');
    expect(report.outcome.failure.reason).toMatch(/^6 of 10 contributors answered: client-004's self-mask seed has 5 shares from answering neighbours; 6 are needed; .*; and 1 more$/);
  });
});

describe('SecAgg+, k-regular neighbour graph, 100 clients', () => {
  // k = 14 neighbours (2⌈log2 100⌉), t = 8: each client survives up to k − t = 6 of its neighbours dropping.
  const base: SimulationOptions = { clients: 100, vectorLength: 64, threshold: 8, neighbours: 14, quantizationBits: 20 };

  it('every client has exactly k distinct neighbours, and the relation is symmetric', () => {
    const setup = simulationSetup(base);
    for (const [clientId, neighbours] of setup.graph) {
      expect(new Set(neighbours).size).toBe(14);
      expect(neighbours).not.toContain(clientId);
      for (const other of neighbours) expect(setup.graph.get(other)).toContain(clientId);
    }
  });

  it.each([
    ['masked-input', 0],
    ['masked-input', 1],
    ['masked-input', 6],
    ['unmask', 1],
    ['unmask', 6],
  ] as const)('%s: %i dropouts give the exact sum', (stage, count) => {
    const dropped = pick(count, 100, `${stage}/${count}`);
    const report = simulateRound({ ...base, dropouts: { [stage]: dropped } });
    expectExactSum(report);
    expect(contributorsOf(report)).toHaveLength(stage === 'masked-input' ? 100 - count : 100);
  });

  it('k − t dropouts inside one neighbourhood, split across masked input and unmask, give the exact sum', () => {
    const setup = simulationSetup(base);
    const neighbourhood = setup.graph.get(clientIdFor(42))!;
    const report = simulateRound({ ...base, dropouts: { 'masked-input': neighbourhood.slice(0, 3), unmask: neighbourhood.slice(3, 6) } });
    expectExactSum(report);
  });

  it('the decoded mean is the sample-weighted mean of the clipped updates, within the stated quantization bound', () => {
    const clippingRange = 0.5;
    const report = simulateRound({ ...base, clippingRange, dropouts: { 'masked-input': pick(6, 100, 'mean') } });
    expectExactSum(report);
    if (!report.outcome.ok) return;
    const { decoded, contributors } = report.outcome.aggregate;
    const update = defaultUpdate('flambda secagg simulation', clippingRange, base.vectorLength);
    const samples = (id: string) => 100 + ((7 * Number(id.slice(-3))) % 50);
    const maxWeight = report.setup.record.maxWeight;
    let totalSamples = 0;
    const exact = new Float64Array(base.vectorLength);
    for (const id of contributors) {
      totalSamples += samples(id);
      update(id).forEach((x, i) => (exact[i]! += samples(id) * Math.min(clippingRange, Math.max(-clippingRange, x))));
    }
    expect(decoded.samples).toBeCloseTo(totalSamples, 1);
    // |Σŵ·clip(x)| error ≤ n steps; the weights' own rounding adds ≤ n·c/2L·maxWeight in sample units.
    const levels = 2 ** 20 - 1;
    const bound = sumErrorBound(report.setup.record.quantization, contributors.length) * maxWeight + (contributors.length * clippingRange * maxWeight) / (2 * levels);
    for (let i = 0; i < base.vectorLength; i++) {
      expect(Math.abs(decoded.weightedSum[i]! * maxWeight - exact[i]!)).toBeLessThanOrEqual(bound);
      expect(Math.abs(decoded.mean[i]! - exact[i]! / totalSamples)).toBeLessThanOrEqual((2 * bound) / totalSamples);
    }
  });

  it('distributed noise: each client adds its share before masking, and the unmasked sum is still exact', () => {
    const report = simulateRound({ ...base, clients: 20, neighbours: 8, threshold: 5, noise: gaussianNoiseShare(0.1, 5) });
    expectExactSum(report);
    const quiet = simulateRound({ ...base, clients: 20, neighbours: 8, threshold: 5 });
    expect(report.outcome.ok && quiet.outcome.ok).toBe(true);
    if (!report.outcome.ok || !quiet.outcome.ok) return;
    // The noise is in the sum: the noisy and quiet sums differ.
    expect(Buffer.from(report.outcome.aggregate.sum.buffer).equals(Buffer.from(quiet.outcome.aggregate.sum.buffer))).toBe(false);
  });
});
