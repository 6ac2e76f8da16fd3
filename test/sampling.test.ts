import { describe, expect, it } from 'vitest';
import { parseExperimentConfig } from '../shared/config/parse.js';
import type { SamplingConfig } from '../shared/config/schema.js';
import type { PartitionStats } from '../shared/metrics/types.js';
import { partitionIndices } from '../shared/partition/index.js';
import { clientIdFor } from '../shared/protocol/keys.js';
import { createRandom } from '../shared/random.js';
import { clientsPerRound, selectClients } from '../shared/sampling/select.js';

const ids = (count: number) => Array.from({ length: count }, (_, index) => clientIdFor(index));

/** A balanced 10-label set dealt as the pathological label skew: two shards, so about two labels, per client. */
function labelSkewedPartition(clients: number): PartitionStats {
  const labels = createRandom(3).shuffleInPlace(Uint8Array.from({ length: 6_000 }, (_, index) => index % 10));
  return partitionIndices(labels, { clients, partition: { kind: 'shards', shardsPerClient: 2 }, seed: 1, samplesPerClient: null }).stats;
}

function pooledHistogram(selection: readonly string[], partition: PartitionStats): number[] {
  const pooled = new Array<number>(10).fill(0);
  for (const clientId of selection) {
    partition.clients.find((client) => client.clientId === clientId)!.labelHistogram.forEach((count, label) => (pooled[label]! += count));
  }
  return pooled;
}

describe('clientsPerRound', () => {
  it('takes perRound as given and rounds fraction × clients to the nearest client, at least 1', () => {
    expect(clientsPerRound({ perRound: 3 }, 10)).toBe(3);
    // 0.3 × 10 is 3.0000000000000004 in floating point; ceil would ask 4.
    expect(clientsPerRound({ fraction: 0.3 }, 10)).toBe(3);
    expect(clientsPerRound({ fraction: 0.25 }, 10)).toBe(3);
    expect(clientsPerRound({ fraction: 0.01 }, 10)).toBe(1);
    expect(clientsPerRound({ fraction: 1 }, 7)).toBe(7);
    expect(() => clientsPerRound({ perRound: 11 }, 10)).toThrow('sampling.perRound must be an integer from 1 to the number of clients, 10 (got 11)');
    expect(() => clientsPerRound({ perRound: 2, fraction: 0.5 }, 10)).toThrow('give exactly one of fraction or perRound');
  });
});

describe('selectClients', () => {
  const clientIds = ids(10);
  const uniform: SamplingConfig = { perRound: 3, method: 'uniform' };

  it('without sampling asks every client, in order', () => {
    expect(selectClients({ clientIds, round: 4, seed: 42 })).toEqual(clientIds);
  });

  it('asks the configured number of distinct clients, in their original order', () => {
    for (let round = 1; round <= 50; round++) {
      const selection = selectClients({ clientIds, round, seed: 42, sampling: uniform });
      expect(selection).toHaveLength(3);
      expect(new Set(selection).size).toBe(3);
      expect(selection).toEqual(clientIds.filter((clientId) => selection.includes(clientId)));
    }
    expect(selectClients({ clientIds, round: 1, seed: 42, sampling: { fraction: 0.5, method: 'uniform' } })).toHaveLength(5);
  });

  it('is a pure function of seed and round: a retry asks the same clients, other rounds and seeds others', () => {
    const selections = Array.from({ length: 30 }, (_, index) => selectClients({ clientIds, round: index + 1, seed: 42, sampling: uniform }).join());
    const again = Array.from({ length: 30 }, (_, index) => selectClients({ clientIds, round: index + 1, seed: 42, sampling: uniform }).join());
    expect(again).toEqual(selections);
    // 120 possible subsets: 30 rounds give many different ones, and consecutive rounds mostly differ.
    expect(new Set(selections).size).toBeGreaterThan(20);
    const otherSeed = Array.from({ length: 30 }, (_, index) => selectClients({ clientIds, round: index + 1, seed: 43, sampling: uniform }).join());
    expect(otherSeed.filter((selection, index) => selection === selections[index]).length).toBeLessThan(5);
  });

  it('uniform gives every client the same share of rounds', () => {
    const counts = new Map(clientIds.map((clientId) => [clientId, 0]));
    const rounds = 2_000;
    for (let round = 1; round <= rounds; round++) {
      for (const clientId of selectClients({ clientIds, round, seed: 7, sampling: uniform })) counts.set(clientId, counts.get(clientId)! + 1);
    }
    // Expected 600 each (3/10 of 2,000); the binomial standard deviation is √(2000·0.3·0.7) ≈ 20.5.
    for (const count of counts.values()) expect(Math.abs(count - 600)).toBeLessThan(5 * 20.5);
  });

  it('stratified covers the label distribution far better than uniform on a label-skewed partition', () => {
    const partition = labelSkewedPartition(20);
    const clientIds20 = partition.clients.map((client) => client.clientId);
    const global = pooledHistogram(clientIds20, partition);
    const globalTotal = global.reduce((sum, count) => sum + count, 0);
    const measure = (method: SamplingConfig['method']) => {
      let labelsCovered = 0;
      let distance = 0;
      const participation = new Map(clientIds20.map((clientId) => [clientId, 0]));
      const rounds = 200;
      for (let round = 1; round <= rounds; round++) {
        const selection = selectClients({ clientIds: clientIds20, round, seed: 42, sampling: { perRound: 5, method }, partition });
        for (const clientId of selection) participation.set(clientId, participation.get(clientId)! + 1);
        const pooled = pooledHistogram(selection, partition);
        const total = pooled.reduce((sum, count) => sum + count, 0);
        labelsCovered += pooled.filter((count) => count > 0).length;
        distance += 0.5 * pooled.reduce((sum, count, label) => sum + Math.abs(count / total - global[label]! / globalTotal), 0);
      }
      return { labelsCovered: labelsCovered / rounds, distance: distance / rounds, neverAsked: [...participation.values()].filter((count) => count === 0).length };
    };
    const uniformResult = measure('uniform');
    const stratified = measure('stratified');
    // Measured: uniform ≈ 7.1 labels and TV ≈ 0.29 per round; stratified ≈ 9.4 labels and TV ≈ 0.06.
    expect(stratified.labelsCovered).toBeGreaterThan(uniformResult.labelsCovered + 1.5);
    expect(stratified.distance).toBeLessThan(uniformResult.distance / 2);
    // Its first pick is random, so no client is left out for good.
    expect(stratified.neverAsked).toBe(0);
  });

  it('stratified is deterministic, differs between rounds and needs the partition', () => {
    const partition = labelSkewedPartition(12);
    const clientIds12 = partition.clients.map((client) => client.clientId);
    const sampling: SamplingConfig = { perRound: 4, method: 'stratified' };
    const first = selectClients({ clientIds: clientIds12, round: 1, seed: 5, sampling, partition });
    expect(selectClients({ clientIds: clientIds12, round: 1, seed: 5, sampling, partition })).toEqual(first);
    expect(first).toHaveLength(4);
    const distinct = new Set(Array.from({ length: 20 }, (_, index) => selectClients({ clientIds: clientIds12, round: index + 1, seed: 5, sampling, partition }).join()));
    expect(distinct.size).toBeGreaterThan(5);
    expect(() => selectClients({ clientIds: clientIds12, round: 1, seed: 5, sampling })).toThrow(
      'sampling.method "stratified" needs the partition\'s label histograms (partition.json); none were given',
    );
    expect(() => selectClients({ clientIds: [...clientIds12, 'client-999'], round: 1, seed: 5, sampling, partition })).toThrow(
      'sampling.method "stratified": the partition has no label histogram for client "client-999"',
    );
  });
});

describe('sampling config', () => {
  function errorsOf(input: unknown): string[] {
    const result = parseExperimentConfig(input);
    if (result.ok) throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
    return result.errors;
  }

  it('is optional, and method defaults to uniform', () => {
    const none = parseExperimentConfig({});
    expect(none.ok && none.config.sampling).toBeUndefined();
    const fraction = parseExperimentConfig({ sampling: { fraction: 0.5 } });
    expect(fraction.ok && fraction.config.sampling).toEqual({ fraction: 0.5, method: 'uniform' });
  });

  it.each([
    [{ sampling: { fraction: 0.5, perRound: 3 } }, 'sampling: give exactly one of "fraction" (a share of the clients) or "perRound" (a number of clients) (got both)'],
    [{ sampling: { method: 'stratified' } }, 'sampling: give exactly one of "fraction" (a share of the clients) or "perRound" (a number of clients) (got neither)'],
    [{ clients: 4, sampling: { perRound: 5 } }, 'sampling.perRound: must be at most the number of clients, 4 (got 5)'],
    [{ sampling: { fraction: 0 } }, 'sampling.fraction: must be a number greater than 0 and at most 1 (got 0)'],
    [{ sampling: { perRound: 2, method: 'random' } }, 'sampling.method: must be one of "uniform", "stratified", "poisson" (got "random")'],
    [{ clients: 10, sampling: { fraction: 0.3 }, round: { minClients: 4 } }, 'round.minClients: must be at most the clients sampled per round, 3 (got 4)'],
    [{ sampling: { perRound: 2, perround: 3 } }, 'sampling.perround: unknown key (did you mean "perRound"?); allowed keys in sampling: "fraction", "perRound", "method"'],
  ])('%j → %s', (input, expected) => {
    expect(errorsOf(input)).toEqual([expected]);
  });

  it('reports a sampling mistake together with mistakes elsewhere', () => {
    expect(errorsOf({ model: 'cnn', sampling: { fraction: 0.5, perRound: 3 } })).toHaveLength(2);
  });
});
