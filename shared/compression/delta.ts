import { assertSameLayout } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';

/** The client's update Δ = w_local − w_global, tensor by tensor: what compression and attacks work on. */
export function weightsDelta(trained: ModelWeights, global: ModelWeights): ModelWeights {
  assertSameLayout(trained, global, 'update');
  return trained.map(({ name, shape, values }, index) => {
    const base = global[index]!.values;
    // A plain loop: TypedArray.prototype.map with a callback measured 10× slower on 1.7 M values.
    const delta = new Float32Array(values.length);
    for (let i = 0; i < delta.length; i++) delta[i] = values[i]! - base[i]!;
    return { name, shape: [...shape], values: delta };
  });
}
