import { assertFinite, assertSameLayout, WeightsError } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';

export interface WeightedMean {
  /** Folds in one client's weights, weighted by its sample count. Validates first, so a rejected update changes nothing. */
  add(weights: ModelWeights, samples: number): void;
  /** updates folded so far */
  readonly count: number;
  /** Σ samples of the updates folded so far */
  readonly totalSamples: number;
  /** Σ samplesₖ·weightsₖ / Σ samplesₖ as float32 tensors; throws before the first `add`. */
  result(): ModelWeights;
  /** the running sums Σ samplesₖ·weightsₖ, one per tensor, as they are now (a group's partial sum is written from them) */
  readonly sums: readonly Float64Array[];
  /**
   * Adds another fold's sums (a group's partial sum, docs/protocol.md) as if its `count` updates, of `totalSamples`,
   * had been added here one by one; its float result then depends on the order partials are added in, fixed by the caller.
   */
  addSums(sums: readonly Float64Array[], count: number, totalSamples: number): void;
}

/**
 * The sample-weighted mean of client weights, folded one update at a time: memory is one float64 accumulator per
 * model value, however many clients report. float64 keeps the sum of hundreds of float32 updates exact to float32.
 * `template` fixes the tensor names, order and shapes every update must have (e.g. the current global model).
 */
export function createWeightedMean(template: ModelWeights): WeightedMean {
  const layout = template.map(({ name, shape }) => ({ name, shape: [...shape] }));
  const sums = template.map(({ values }) => new Float64Array(values.length));
  let count = 0;
  let totalSamples = 0;

  return {
    add(weights, samples) {
      if (!Number.isFinite(samples) || samples <= 0) {
        throw new WeightsError(`update: samples must be a positive number (got ${samples})`);
      }
      assertSameLayout(weights, layout, 'update');
      weights.forEach((tensor, index) => {
        if (tensor.values.length !== sums[index]!.length) {
          throw new WeightsError(
            `update: tensor ${JSON.stringify(tensor.name)} has ${tensor.values.length} values, its shape needs ${sums[index]!.length}`,
          );
        }
        assertFinite(tensor.name, tensor.values, 'update');
      });
      weights.forEach(({ values }, index) => {
        const sum = sums[index]!;
        for (let i = 0; i < sum.length; i++) sum[i]! += samples * values[i]!;
      });
      count++;
      totalSamples += samples;
    },
    get count() {
      return count;
    },
    get totalSamples() {
      return totalSamples;
    },
    get sums() {
      return sums;
    },
    addSums(partial, partialCount, partialSamples) {
      if (!Number.isSafeInteger(partialCount) || partialCount < 0 || !Number.isFinite(partialSamples) || partialSamples < 0) {
        throw new WeightsError(`partial sum: count ${partialCount} and samples ${partialSamples} must be non-negative`);
      }
      if (partial.length !== sums.length || partial.some((tensor, index) => tensor.length !== sums[index]!.length)) {
        throw new WeightsError('partial sum: its tensors do not have the model\'s sizes');
      }
      partial.forEach((tensor, index) => {
        const sum = sums[index]!;
        for (let i = 0; i < sum.length; i++) sum[i]! += tensor[i]!;
      });
      count += partialCount;
      totalSamples += partialSamples;
    },
    result() {
      if (count === 0) throw new WeightsError('weighted mean: no updates were added');
      return layout.map(({ name, shape }, index) => {
        const sum = sums[index]!;
        const values = new Float32Array(sum.length);
        for (let i = 0; i < sum.length; i++) values[i] = sum[i]! / totalSamples;
        return { name, shape: [...shape], values };
      });
    },
  };
}
