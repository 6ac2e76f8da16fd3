import { describe, expect, it } from 'vitest';
import { bytesPerClient, computeCost, logarithmicNeighbours } from '../shared/secagg/cost.js';
import { simulateRound } from '../shared/secagg/simulate.js';

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

describe('size accounting', () => {
  it('the model matches the bytes a simulated round actually moves, stage by stage', () => {
    const report = simulateRound({ clients: 12, vectorLength: 100, threshold: 4, neighbours: 6, quantizationBits: 16 });
    expect(report.outcome.ok).toBe(true);
    const model = bytesPerClient({ clients: 12, neighbours: 6, threshold: 4, vectorLength: 100, experimentId: 'simulation' });
    // Placeholders differ from real values only in a few digits (maxWeight, clippingRange): allow 8 bytes a stage.
    expect(Math.abs(model.setup.down - mean(report.measures.setup!.downBytes))).toBeLessThanOrEqual(8);
    for (const stage of ['advertise-keys', 'share-keys', 'masked-input', 'unmask'] as const) {
      const measured = report.measures[stage]!;
      expect(model[stage].up).toBe(mean(measured.upBytes));
      if (stage !== 'advertise-keys') expect(model[stage].down).toBe(mean(measured.downBytes));
    }
  });

  it('with dropped neighbours, unmask reveals mask-key shares instead of self-mask shares at the same size', () => {
    const none = bytesPerClient({ clients: 100, neighbours: 14, threshold: 8, vectorLength: 10 });
    const some = bytesPerClient({ clients: 100, neighbours: 14, threshold: 8, vectorLength: 10, droppedNeighbours: 3, droppedClients: 3 });
    expect(Math.abs(some.unmask.up - none.unmask.up)).toBeLessThanOrEqual(2);
  });

  it('a client\'s overhead grows with k: O(n) for the complete graph, O(log n) for SecAgg+', () => {
    const vectorLength = 206_922; // cnn-small's parameters
    const float32 = 4 * vectorLength;
    const overhead = (clients: number, neighbours: number) => {
      const { total } = bytesPerClient({ clients, neighbours, threshold: Math.floor(neighbours / 2) + 1, vectorLength });
      return total.up + total.down - float32;
    };
    const complete = [10, 100, 1000].map((n) => overhead(n, n - 1));
    const sparse = [10, 100, 1000].map((n) => overhead(n, logarithmicNeighbours(n)));
    expect(complete[2]! / complete[1]!).toBeGreaterThan(8); // ~ linear in n
    expect(sparse[2]! / sparse[1]!).toBeLessThan(3); // the setup's id list is the only O(n) part
    expect([10, 100, 1000].map(logarithmicNeighbours)).toEqual([8, 14, 20]);
    const cost = computeCost({ clients: 1000, neighbours: 20, threshold: 11, vectorLength, droppedClients: 10 });
    expect(cost.client.prgWords).toBe(21 * (vectorLength + 1));
    expect(cost.server.reconstructions).toBe(1000);
    expect(cost.server.prgWords).toBe((990 + 10 * 20) * (vectorLength + 1));
  });
});
