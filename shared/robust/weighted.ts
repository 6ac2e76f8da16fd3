import { RobustAggregationError } from './types.js';

/**
 * How the averaging aggregators (Multi-Krum, norm-bounded mean, centered clipping) weigh the updates they average.
 * uniform is the papers' definition; samples weighs by sample count as FedAvg does. Sample counts are checked by the
 * server against the partition, so they cannot be inflated, but with uneven shards one attacker with a large shard
 * still weighs more: uniform is the safer default.
 */
export type Weighting = { readonly kind: 'uniform' } | { readonly kind: 'samples'; readonly samples: readonly number[] };

/** Weights αᵢ summing to 1: 1/n each, or samplesᵢ / Σ samples. */
export function normalisedWeights(count: number, samples?: readonly number[]): Float64Array {
  const weights = new Float64Array(count);
  if (samples === undefined) return weights.fill(1 / count);
  if (samples.length !== count) throw new RobustAggregationError(`weights: ${samples.length} sample counts for ${count} updates`);
  let total = 0;
  samples.forEach((value, index) => {
    if (!(Number.isFinite(value) && value > 0)) {
      throw new RobustAggregationError(`weights: update ${index} has ${value} samples; sample counts must be positive`);
    }
    total += value;
  });
  for (let i = 0; i < count; i++) weights[i] = samples[i]! / total;
  return weights;
}

/** Σ αᵢ·Δᵢ in float64, stored as float32; uniform without `samples`. */
export function weightedMean(deltas: readonly Float32Array[], samples?: readonly number[]): Float32Array {
  if (deltas.length === 0) throw new RobustAggregationError('mean: no updates to average');
  const weights = normalisedWeights(deltas.length, samples);
  const sum = new Float64Array(deltas[0]!.length);
  deltas.forEach((delta, index) => {
    if (delta.length !== sum.length) {
      throw new RobustAggregationError(`mean: update ${index} has ${delta.length} values but update 0 has ${sum.length}`);
    }
    const weight = weights[index]!;
    for (let i = 0; i < sum.length; i++) sum[i]! += weight * delta[i]!;
  });
  return Float32Array.from(sum);
}

/** Euclidean norm, accumulated in float64. */
export function norm(values: Float32Array | Float64Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! * values[i]!;
  return Math.sqrt(sum);
}
