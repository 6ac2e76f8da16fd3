/**
 * Model weights as plain typed arrays, so strategies are pure functions with no tfjs tensors to dispose.
 * Order and names follow the tfjs model's `model.weights` (e.g. "conv2d_1/kernel").
 */
export interface WeightTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

export type ModelWeights = readonly WeightTensor[];
