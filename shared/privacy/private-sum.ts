import { assertSameSize } from '../strategies/tensor-math.js';
import { assertFinite, WeightsError } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import { assertClipNorm } from './clip.js';
import type { GaussianNoise } from './noise.js';

/**
 * The server half of DP-FedAvg: clipped client deltas folded one at a time into a float64 sum (memory: one sum
 * per model value, however many clients report), then one release of
 *     (Σᵢ clip(Δᵢ) + N(0, σ_Δ²·C²·I)) / m
 * where m is a FIXED denominator, the expected number of clients per round (q·N). Dividing by the number that
 * actually reported would make the output depend on whether one more client took part in a way the noise does not
 * cover; every client weighs the same (no sample-count weights, which would raise the sensitivity above C).
 */
export interface PrivateSum {
  /**
   * Folds in one client's delta. The server clips it again to C whatever the client did, so a client that skipped
   * its clipping cannot raise the sensitivity. `clientReport.clipped` is the client's own clipping result, the
   * indicator adaptive clipping counts; without it the server's view of the norm decides.
   * Validates first: a rejected update changes nothing.
   */
  add(delta: ModelWeights, clientReport?: { readonly clipped: boolean }): FoldedUpdate;
  /** updates folded so far */
  readonly count: number;
  /** of those, how many were not clipped (by the client's report or the server's check) */
  readonly unclippedCount: number;
  /**
   * The noised mean delta, once: a second call throws, because every release spends privacy budget. Works with no
   * update folded (a round where Poisson sampling chose nobody): the release is then noise alone, as the
   * accountant assumes. `noiseMultiplier` is σ_Δ, the update's share when adaptive clipping takes part of σ.
   */
  release(args: { readonly noise: GaussianNoise; readonly noiseMultiplier: number; readonly denominator: number }): ModelWeights;
}

export interface FoldedUpdate {
  /** ‖Δ‖ as the server received it */
  readonly norm: number;
  /** whether the update counts as clipped (the client said so, or the server had to) */
  readonly clipped: boolean;
}

/** `template` (e.g. the global model) fixes the names, order and shapes; `clipNorm` is this round's C. */
export function createPrivateSum(template: ModelWeights, clipNorm: number): PrivateSum {
  assertClipNorm(clipNorm);
  const layout = template.map(({ name, shape, values }) => ({ name, shape: [...shape], values }));
  const sums = template.map(({ values }) => new Float64Array(values.length));
  let count = 0;
  let unclippedCount = 0;
  let released = false;

  return {
    add(delta, clientReport) {
      if (released) throw new WeightsError('private sum: already released; a new round needs a new sum');
      assertSameSize(delta, layout, 'update');
      for (const tensor of delta) assertFinite(tensor.name, tensor.values, 'update');
      let sumOfSquares = 0;
      for (const { values } of delta) for (let i = 0; i < values.length; i++) sumOfSquares += values[i]! * values[i]!;
      const norm = Math.sqrt(sumOfSquares);
      const serverClipped = norm > clipNorm;
      const scale = serverClipped ? clipNorm / norm : 1;
      delta.forEach(({ values }, index) => {
        const sum = sums[index]!;
        for (let i = 0; i < sum.length; i++) sum[i]! += scale * values[i]!;
      });
      const clipped = serverClipped || clientReport?.clipped === true;
      count++;
      if (!clipped) unclippedCount++;
      return { norm, clipped };
    },
    get count() {
      return count;
    },
    get unclippedCount() {
      return unclippedCount;
    },
    release({ noise, noiseMultiplier, denominator }) {
      if (released) throw new WeightsError('private sum: already released; releasing twice would spend the budget twice');
      if (!(noiseMultiplier > 0) || noiseMultiplier === Infinity) {
        throw new RangeError(`release: noise multiplier must be a positive finite number (got ${noiseMultiplier})`);
      }
      if (!(denominator > 0) || denominator === Infinity) throw new RangeError(`release: denominator must be a positive number (got ${denominator})`);
      released = true;
      const noiseStddev = noiseMultiplier * clipNorm;
      return layout.map(({ name, shape }, index) => {
        const sum = sums[index]!;
        const out = new Float32Array(sum.length);
        for (let i = 0; i < sum.length; i++) out[i] = (sum[i]! + noiseStddev * noise.next()) / denominator;
        return { name, shape: [...shape], values: out };
      });
    },
  };
}
