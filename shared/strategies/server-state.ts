import type { ModelWeights } from '../weights/types.js';
import { assertSameSize } from './tensor-math.js';

type Slots<Names extends readonly string[]> = { readonly [Name in Names[number]]: ModelWeights };

/**
 * A strategy's state is persisted as one weights blob, so several model-shaped slots (Adam's m and v) share it: each
 * slot's tensors are renamed "<slot>/<tensor>" (e.g. "m/conv1/kernel") and the slots follow one another in `names`
 * order. The renaming makes a state written by another strategy or model fail to unpack instead of being misread.
 */
export function packState<const Names extends readonly string[]>(names: Names, slots: Slots<Names>): ModelWeights {
  return names.flatMap((slot: Names[number]) => slots[slot].map((tensor) => ({ ...tensor, name: `${slot}/${tensor.name}` })));
}

/**
 * The slots `packState` stored, each renamed back to the model's tensor names and checked against `global`'s layout.
 * Throws a WeightsError naming `strategy` when the state does not fit (another strategy's or model's state).
 */
export function unpackState<const Names extends readonly string[]>(
  strategy: string,
  state: ModelWeights,
  global: ModelWeights,
  names: Names,
): Slots<Names> {
  const expected = names.flatMap((slot) => global.map((tensor) => ({ ...tensor, name: `${slot}/${tensor.name}` })));
  assertSameSize(state, expected, `${strategy}: the stored server state does not fit the model`);
  const slots: Record<string, ModelWeights> = {};
  names.forEach((slot, index) => {
    slots[slot] = state.slice(index * global.length, (index + 1) * global.length).map((tensor, tensorIndex) => ({
      ...tensor,
      name: global[tensorIndex]!.name,
    }));
  });
  return slots as Slots<Names>;
}
