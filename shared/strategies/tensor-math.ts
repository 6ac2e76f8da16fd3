import { assertSameLayout, WeightsError } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';

/** One number per input, in the order the inputs were given. */
type Scalars<Inputs extends readonly ModelWeights[]> = { readonly [Index in keyof Inputs]: number };

/**
 * The elementwise maths every server optimizer is made of: `compute` runs once per model value, on the values at the
 * same position in each input, in float64; the result is stored as a fresh float32 model laid out like `inputs[0]`.
 * Inputs are only read. `context` names the caller in a layout error (e.g. "fedadam: server state").
 */
export function elementwise<const Inputs extends readonly [ModelWeights, ...ModelWeights[]]>(
  context: string,
  inputs: Inputs,
  compute: (...values: Scalars<Inputs>) => number,
): ModelWeights {
  const [layout, ...others] = inputs;
  for (const other of others) assertSameSize(other, layout, context);
  return layout.map((tensor, tensorIndex) => {
    const sources = inputs.map((weights) => weights[tensorIndex]!.values);
    return { name: tensor.name, shape: [...tensor.shape], values: computeValues(sources, compute as (...values: number[]) => number) };
  });
}

/**
 * The loop, written out per arity: a spread call per value (`compute(...scratch)`) measured 2–4× slower, and a
 * server step makes up to three passes over every value of the model (1.7 M for cnn-mcmahan).
 */
function computeValues(sources: readonly Float32Array[], compute: (...values: number[]) => number): Float32Array {
  const length = sources[0]!.length;
  const out = new Float32Array(length);
  const [a, b, c, d] = sources as [Float32Array, Float32Array, Float32Array, Float32Array];
  switch (sources.length) {
    case 1:
      for (let i = 0; i < length; i++) out[i] = compute(a[i]!);
      return out;
    case 2:
      for (let i = 0; i < length; i++) out[i] = compute(a[i]!, b[i]!);
      return out;
    case 3:
      for (let i = 0; i < length; i++) out[i] = compute(a[i]!, b[i]!, c[i]!);
      return out;
    case 4:
      for (let i = 0; i < length; i++) out[i] = compute(a[i]!, b[i]!, c[i]!, d[i]!);
      return out;
    default: {
      const scratch = new Array<number>(sources.length).fill(0);
      for (let i = 0; i < length; i++) {
        for (let input = 0; input < sources.length; input++) scratch[input] = sources[input]![i]!;
        out[i] = compute(...scratch);
      }
      return out;
    }
  }
}

/** A model of the same layout with every value set to `value` (0 by default). */
export function filledLike(layout: ModelWeights, value = 0): ModelWeights {
  return layout.map(({ name, shape, values }) => ({ name, shape: [...shape], values: new Float32Array(values.length).fill(value) }));
}

/** Throws a WeightsError unless `weights` has the names, order, shapes and value counts of `layout`. */
export function assertSameSize(weights: ModelWeights, layout: ModelWeights, context: string): void {
  assertSameLayout(weights, layout, context);
  weights.forEach((tensor, index) => {
    const expected = layout[index]!.values.length;
    if (tensor.values.length !== expected) {
      throw new WeightsError(`${context}: tensor ${JSON.stringify(tensor.name)} has ${tensor.values.length} values, the model's has ${expected}`);
    }
  });
}
