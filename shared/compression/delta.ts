import { assertSameLayout } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';

/** The client's update Δ = w_local − w_global, tensor by tensor: what compression and attacks work on. */
export function weightsDelta(trained: ModelWeights, global: ModelWeights): ModelWeights {
  assertSameLayout(trained, global, 'update');
  return trained.map(({ name, shape, values }, index) => {
    const base = global[index]!.values;
    return { name, shape: [...shape], values: values.map((value, i) => value - base[i]!) };
  });
}
