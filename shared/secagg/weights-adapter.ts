import type { ModelWeights, WeightTensor } from '../weights/types.js';

/**
 * Secure aggregation masks one flat vector; models are lists of named tensors. The layout (names and shapes, in
 * order) is public: the server needs it to put the unmasked mean back into a model.
 */
export interface TensorLayout {
  readonly name: string;
  readonly shape: readonly number[];
}

const sizeOf = (shape: readonly number[]) => shape.reduce((product, dimension) => product * dimension, 1);

/**
 * The tensors `include` selects (default: all), concatenated in model order. `include` is how FedPer's private layers
 * stay out of the masked vector: they never leave the client, masked or not.
 */
export function flattenWeights(weights: ModelWeights, include: (name: string) => boolean = () => true): { vector: Float32Array; layout: TensorLayout[] } {
  const selected = weights.filter((tensor) => include(tensor.name));
  const vector = new Float32Array(selected.reduce((total, tensor) => total + tensor.values.length, 0));
  let offset = 0;
  for (const tensor of selected) {
    if (tensor.values.length !== sizeOf(tensor.shape)) throw new RangeError(`${tensor.name} has ${tensor.values.length} values for shape [${tensor.shape.join(', ')}]`);
    vector.set(tensor.values, offset);
    offset += tensor.values.length;
  }
  return { vector, layout: selected.map(({ name, shape }) => ({ name, shape: [...shape] })) };
}

/** The inverse of flattenWeights: `vector` cut into the layout's tensors (copies, so the vector can be reused). */
export function unflattenWeights(vector: Float32Array, layout: readonly TensorLayout[]): WeightTensor[] {
  const needed = layout.reduce((total, tensor) => total + sizeOf(tensor.shape), 0);
  if (vector.length !== needed) throw new RangeError(`the vector has ${vector.length} values; the layout needs ${needed}`);
  let offset = 0;
  return layout.map(({ name, shape }) => {
    const size = sizeOf(shape);
    const values = vector.slice(offset, offset + size);
    offset += size;
    return { name, shape: [...shape], values };
  });
}
