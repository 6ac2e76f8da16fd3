import { describe, expect, it } from 'vitest';
import { createRandom } from '../shared/random.js';
import {
  aggregateUpdates,
  applyFlatDelta,
  centeredClipping,
  coordinateMedian,
  flatDelta,
  krum,
  krumScores,
  multiKrum,
  normBoundedMean,
  pairwiseSquaredDistances,
  RobustAggregationError,
  trimmedMean,
  unflatten,
} from '../shared/robust/index.js';
import { parseAggregatorConfig } from '../shared/config/robust.js';

const vectors = (...rows: number[][]) => rows.map((row) => Float32Array.from(row));

function gaussianUpdates(seed: number, count: number, length: number, centre = 0, spread = 1): Float32Array[] {
  const random = createRandom(seed);
  return Array.from({ length: count }, () => Float32Array.from({ length }, () => centre + spread * random.nextGaussian()));
}

/** An independent oracle: sort each coordinate's values. */
function sortedColumn(deltas: readonly Float32Array[], coordinate: number): number[] {
  return deltas.map((delta) => delta[coordinate]!).sort((a, b) => a - b);
}

const distance = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((sum, value, i) => sum + (value - b[i]!) ** 2, 0));

describe('coordinate-wise median', () => {
  it('matches hand-computed medians for odd and even n', () => {
    const odd = vectors([1, 5, 3], [2, 0, 9], [10, -1, 4]);
    expect(Array.from(coordinateMedian(odd))).toEqual([2, 0, 4]);
    const even = [...odd, Float32Array.of(4, 2, 0)];
    expect(Array.from(coordinateMedian(even))).toEqual([3, 1, 3.5]);
  });

  it('agrees with sorting every coordinate, for n around the insertion-sort cut-off and beyond', () => {
    for (const n of [1, 2, 3, 16, 17, 18, 33, 64, 101]) {
      const deltas = gaussianUpdates(n, n, 700);
      // Duplicated values exercise the partition's equal-key path.
      deltas[0]!.set(deltas[n - 1]!.subarray(0, 100));
      const median = coordinateMedian(deltas);
      for (let i = 0; i < 700; i++) {
        const column = sortedColumn(deltas, i);
        const expected = n % 2 ? column[(n - 1) / 2]! : (column[n / 2 - 1]! + column[n / 2]!) / 2;
        expect(median[i], `n ${n}, coordinate ${i}`).toBe(Math.fround(expected));
      }
    }
  });

  it('stays within the honest values when fewer than half the updates are arbitrary', () => {
    const honest = gaussianUpdates(1, 6, 500);
    const random = createRandom(2);
    const outliers = Array.from({ length: 5 }, () => Float32Array.from({ length: 500 }, () => (random.nextFloat() < 0.5 ? -1 : 1) * 1e30));
    const median = coordinateMedian([...outliers.slice(0, 2), ...honest, ...outliers.slice(2)]);
    for (let i = 0; i < 500; i++) {
      const column = sortedColumn(honest, i);
      expect(median[i]).toBeGreaterThanOrEqual(column[0]!);
      expect(median[i]).toBeLessThanOrEqual(column.at(-1)!);
    }
  });

  it('leaves its inputs as they were', () => {
    const deltas = gaussianUpdates(3, 20, 50);
    const copies = deltas.map((delta) => Float32Array.from(delta));
    coordinateMedian(deltas);
    trimmedMean(deltas, 0.2);
    expect(deltas).toEqual(copies);
  });
});

describe('trimmed mean', () => {
  it('drops ⌊β·n⌋ values from each side and averages the rest', () => {
    const deltas = vectors([1, -50], [2, 0], [3, 1], [4, 2], [100, 3]);
    expect(Array.from(trimmedMean(deltas, 0.2))).toEqual([3, 1]);
    expect(Array.from(trimmedMean(deltas, 0))).toEqual([22, Math.fround(-44 / 5)]);
    // ⌊0.3 × 10⌋ is 3 even though 0.3 × 10 is 2.9999999999999996 in floating point.
    const ten = Array.from({ length: 10 }, (_, i) => Float32Array.of(i));
    expect(Array.from(trimmedMean(ten, 0.3))).toEqual([(3 + 4 + 5 + 6) / 4]);
  });

  it('agrees with sorting, and stays within the honest range with at most ⌊β·n⌋ arbitrary updates', () => {
    const honest = gaussianUpdates(4, 16, 300);
    const attackers = [Float32Array.from({ length: 300 }, () => 1e20), Float32Array.from({ length: 300 }, () => -1e20), Float32Array.from({ length: 300 }, () => 1e20)];
    const all = [...honest, ...attackers];
    const result = trimmedMean(all, 0.15); // ⌊0.15 × 19⌋ = 2 per side ≥ 2 attackers on the high side
    const withTwo = trimmedMean([...honest, attackers[0]!, attackers[1]!], 0.1); // ⌊1.8⌋ = 1 per side
    for (let i = 0; i < 300; i++) {
      const column = sortedColumn(all, i);
      const kept = column.slice(2, column.length - 2);
      expect(result[i]).toBeCloseTo(kept.reduce((a, b) => a + b, 0) / kept.length, 5);
      const honestColumn = sortedColumn(honest, i);
      expect(withTwo[i]).toBeGreaterThanOrEqual(honestColumn[0]!);
      expect(withTwo[i]).toBeLessThanOrEqual(honestColumn.at(-1)!);
    }
  });

  it('refuses a β that trims everything', () => {
    expect(() => trimmedMean(vectors([1], [2]), 0.5)).toThrow(/beta must be at least 0 and less than 0.5/);
  });
});

describe('Krum and Multi-Krum', () => {
  it('score each update by its n − f − 2 nearest neighbours (hand-computed)', () => {
    const deltas = vectors([0], [1], [2], [100]);
    const distances = pairwiseSquaredDistances(deltas);
    expect(Array.from(distances.subarray(0, 4))).toEqual([0, 1, 4, 10000]);
    expect(Array.from(krumScores(distances, 4, 0))).toEqual([5, 2, 5, 9604 + 9801]);
    expect(krum(deltas, 0)).toEqual({ delta: Float32Array.of(1), selected: [1] });
    // The tie between 0 and 2 goes to the lower index.
    expect(multiKrum(deltas, 0, 2)).toEqual({ delta: Float32Array.of(0.5), selected: [1, 0] });
    expect(multiKrum(deltas, 0, 2, { kind: 'samples', samples: [300, 100, 1, 1] }).delta).toEqual(Float32Array.of(0.25));
  });

  it('computes distances like the plain definition, for n not a multiple of the 4-wide loop', () => {
    const deltas = gaussianUpdates(5, 7, 5000);
    const distances = pairwiseSquaredDistances(deltas);
    for (let i = 0; i < 7; i++) for (let j = 0; j < 7; j++) expect(distances[i * 7 + j]).toBeCloseTo(distance(deltas[i]!, deltas[j]!) ** 2, 6);
  });

  it('picks an honest update when n ≥ 2f + 3, whatever the f others send', () => {
    const f = 4;
    const attacks: Record<string, (random: ReturnType<typeof createRandom>) => Float32Array[]> = {
      huge: (random) => Array.from({ length: f }, () => Float32Array.from({ length: 200 }, () => 1e6 * random.nextGaussian())),
      colluding: () => Array.from({ length: f }, () => new Float32Array(200).fill(5)),
      'sign-flipped': () => gaussianUpdates(9, f, 200, -1, 0.1),
      'near the honest mean, shifted': () => gaussianUpdates(10, f, 200, 1.5, 0.01),
    };
    for (const [name, attack] of Object.entries(attacks)) {
      const honest = gaussianUpdates(6, 2 * f + 3 - f, 200, 1, 0.1);
      const malicious = attack(createRandom(7));
      // Attackers first and last, so picking by position would fail.
      const all = [malicious[0]!, ...honest.slice(0, 3), ...malicious.slice(1), ...honest.slice(3)];
      const honestIndices = all.map((delta, index) => (honest.includes(delta) ? index : -1)).filter((index) => index >= 0);
      const chosen = krum(all, f).selected![0]!;
      expect(honestIndices, name).toContain(chosen);
      const averaged = multiKrum(all, f, all.length - 2 * f).selected!;
      expect(averaged.every((index) => honestIndices.includes(index)), name).toBe(true);
    }
  });

  it('refuses n < 2f + 3 and an m outside 1…n', () => {
    const deltas = gaussianUpdates(8, 6, 10);
    expect(() => krum(deltas, 2)).toThrow(RobustAggregationError);
    expect(() => krum(deltas, 2)).toThrow(/tolerating f = 2 attackers needs at least 2f \+ 3 = 7 updates, got 6/);
    expect(() => multiKrum(deltas, 1, 7)).toThrow(/m must be an integer from 1 to 6 \(got 7\)/);
  });
});

describe('norm-bounded mean and centered clipping', () => {
  it('scale updates longer than maxNorm down to it (hand-computed)', () => {
    const outcome = normBoundedMean(vectors([3, 4], [0.3, 0.4]), 1);
    // (3, 4) has norm 5 and becomes (0.6, 0.8); (0.3, 0.4) is kept; the mean is (0.45, 0.6) up to float32 rounding.
    expect(outcome.delta[0]).toBeCloseTo(0.45, 6);
    expect(outcome.delta[1]).toBeCloseTo(0.6, 6);
    expect(outcome.clipped).toEqual([0]);
  });

  it('centered clipping moves the centre by the clipped pulls (hand-computed)', () => {
    expect(centeredClipping(vectors([0.5], [3]), { tau: 1, iterations: 1 })).toEqual({ delta: Float32Array.of(0.75), clipped: [1] });
    const fromStart = centeredClipping(vectors([0.5], [3]), { tau: 1, iterations: 1, start: Float32Array.of(2) });
    // pulls: 0.5 − 2 = −1.5 clipped to −1; 3 − 2 = 1 kept; centre 2 + (−1 + 1)/2 = 2
    expect(fromStart).toEqual({ delta: Float32Array.of(2), clipped: [0] });
  });

  it('is the mean when τ clips nothing, from any start', () => {
    const deltas = gaussianUpdates(11, 9, 100);
    const mean = aggregateUpdates(parseAggregatorConfig({ kind: 'mean' }), deltas.map((delta) => ({ delta, samples: 1 }))).delta;
    const clipped = centeredClipping(deltas, { tau: 1e6, iterations: 1, start: gaussianUpdates(12, 1, 100)[0] });
    clipped.delta.forEach((value, i) => expect(value).toBeCloseTo(mean[i]!, 5));
    expect(clipped.clipped).toEqual([]);
  });

  it('bounds one update\'s influence: replacing it moves the result by at most 2τ/n per iteration', () => {
    const honest = gaussianUpdates(13, 10, 400, 0.5, 0.2);
    const start = gaussianUpdates(14, 1, 400, 0.5, 0.05)[0]!;
    const tau = 0.3;
    const clean = centeredClipping(honest, { tau, iterations: 1, start }).delta;
    for (const scale of [10, 1e3, 1e6]) {
      const attacked = [...honest.slice(0, 9), gaussianUpdates(15, 1, 400, 0, scale)[0]!];
      const result = centeredClipping(attacked, { tau, iterations: 1, start }).delta;
      expect(distance(result, clean)).toBeLessThanOrEqual((2 * tau) / 10 + 1e-5);
    }
    const bounded = normBoundedMean([...honest.slice(0, 9), new Float32Array(400).fill(1e6)], tau).delta;
    const boundedClean = normBoundedMean(honest, tau).delta;
    expect(distance(bounded, boundedClean)).toBeLessThanOrEqual((2 * tau) / 10 + 1e-5);
  });
});

describe('aggregateUpdates', () => {
  const updates = gaussianUpdates(16, 7, 64).map((delta, index) => ({ delta, samples: 10 * (index + 1) }));

  it('dispatches every kind to its aggregator, with the config\'s defaults', () => {
    const deltas = updates.map((update) => update.delta);
    expect(aggregateUpdates(parseAggregatorConfig({ kind: 'median' }), updates).delta).toEqual(coordinateMedian(deltas));
    expect(aggregateUpdates(parseAggregatorConfig({ kind: 'trimmed-mean', beta: 0.2 }), updates).delta).toEqual(trimmedMean(deltas, 0.2));
    expect(aggregateUpdates(parseAggregatorConfig({ kind: 'krum', f: 2 }), updates)).toEqual(krum(deltas, 2));
    expect(aggregateUpdates(parseAggregatorConfig({ kind: 'multi-krum', f: 2 }), updates)).toEqual(multiKrum(deltas, 2, 5));
    expect(aggregateUpdates(parseAggregatorConfig({ kind: 'multi-krum', f: 2, m: 3, weighting: 'samples' }), updates)).toEqual(
      multiKrum(deltas, 2, 3, { kind: 'samples', samples: updates.map((update) => update.samples) }),
    );
    expect(aggregateUpdates(parseAggregatorConfig({ kind: 'norm-bounded', maxNorm: 2 }), updates)).toEqual(normBoundedMean(deltas, 2));
    const previousAggregate = gaussianUpdates(17, 1, 64)[0];
    expect(aggregateUpdates(parseAggregatorConfig({ kind: 'centered-clipping', tau: 1 }), updates, { previousAggregate })).toEqual(
      centeredClipping(deltas, { tau: 1, iterations: 1, start: previousAggregate }),
    );
  });

  it('weighs the mean by sample counts', () => {
    const mean = aggregateUpdates(parseAggregatorConfig({ kind: 'mean' }), [
      { delta: Float32Array.of(1, 0), samples: 30 },
      { delta: Float32Array.of(0, 1), samples: 10 },
    ]).delta;
    expect(Array.from(mean)).toEqual([0.75, 0.25]);
  });

  it('rejects non-finite values, mixed lengths and an empty round', () => {
    const config = parseAggregatorConfig({ kind: 'median' });
    expect(() => aggregateUpdates(config, [{ delta: Float32Array.of(1, Number.NaN), samples: 1 }])).toThrow(/update 0: value 1 is NaN/);
    expect(() => aggregateUpdates(config, [{ delta: Float32Array.of(1), samples: 1 }, { delta: Float32Array.of(1, 2), samples: 1 }])).toThrow(
      /update 1 has 2 values but update 0 has 1/,
    );
    expect(() => aggregateUpdates(config, [])).toThrow(/no updates/);
  });
});

describe('flat updates', () => {
  it('flatten w − w_global in tensor order and apply an aggregated Δ back', () => {
    const global = [
      { name: 'a', shape: [2], values: Float32Array.of(1, 2) },
      { name: 'b', shape: [], values: Float32Array.of(3) },
    ];
    const local = [
      { name: 'a', shape: [2], values: Float32Array.of(1.5, 1) },
      { name: 'b', shape: [], values: Float32Array.of(5) },
    ];
    const delta = flatDelta(local, global);
    expect(Array.from(delta)).toEqual([0.5, -1, 2]);
    expect(unflatten(delta, global).map((tensor) => Array.from(tensor.values))).toEqual([[0.5, -1], [2]]);
    expect(applyFlatDelta(global, delta)).toEqual(local);
    expect(() => flatDelta(local.slice(1), global)).toThrow(/has 1 tensors but the model has 2/);
  });
});
