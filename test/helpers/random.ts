import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/** `count` seeded values, uniform in [−0.5, 0.5). */
export function randomValues(count: number, seed: number): Float32Array {
  const rng = xoroshiro128plus(seed);
  return Float32Array.from({ length: count }, () => uniformFloat64(rng) - 0.5);
}
