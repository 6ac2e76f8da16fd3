import type { ModelWeights } from '../../shared/weights/types.js';

/** Every tensor's values end to end: one array to compare (vitest's deep equality is far too slow for 1.6M floats). */
export function flatValues(weights: ModelWeights): Float32Array {
  const all = new Float32Array(weights.reduce((n, w) => n + w.values.length, 0));
  let offset = 0;
  for (const w of weights) {
    all.set(w.values, offset);
    offset += w.values.length;
  }
  return all;
}
