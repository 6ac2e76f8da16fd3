import { RobustAggregationError } from './types.js';

/**
 * Coordinate-wise order statistics (Yin, Chen, Ramchandran, Bartlett 2018, "Byzantine-Robust Distributed Learning:
 * Towards Optimal Statistical Rates"): each of the P model values is aggregated on its own, from the n values the
 * updates hold there. Sample counts play no part: an order statistic has no natural weighting, and the paper's rates
 * are for the unweighted statistics.
 *
 * Cost: one selection of n values per coordinate, O(n) on average with quickselect, instead of O(n log n) for a sort.
 * The n values of a coordinate live in n different arrays; coordinates are gathered in blocks so each block of every
 * update is read sequentially and the scratch fits in the L1/L2 cache.
 */

/** Coordinates gathered at once: n × BLOCK float64 scratch is 400 KiB for n = 100. */
const BLOCK = 512;

/** median(x₁…xₙ) per coordinate; for even n the mean of the two middle values (as numpy.median). */
export function coordinateMedian(deltas: readonly Float32Array[]): Float32Array {
  const n = checkDeltas(deltas, 'median');
  const upper = n >> 1;
  const lower = (n - 1) >> 1;
  return reduceColumns(deltas, (column, first) => {
    const high = select(column, first, first + n - 1, first + upper);
    if (lower === upper) return high;
    // After selecting `upper`, everything left of it is ≤ it: the lower middle value is their maximum.
    let low = column[first]!;
    for (let i = first + 1; i < first + upper; i++) if (column[i]! > low) low = column[i]!;
    return (low + high) / 2;
  });
}

/**
 * The β-trimmed mean per coordinate: drop the ⌊β·n⌋ smallest and the ⌊β·n⌋ largest values, average the rest
 * (Yin et al. 2018, Definition 2; the rounding is scipy.stats.trim_mean's, as in Flower's FedTrimmedAvg).
 * Needs 0 ≤ β < 1/2 and at least one value left.
 */
export function trimmedMean(deltas: readonly Float32Array[], beta: number): Float32Array {
  const n = checkDeltas(deltas, 'trimmed mean');
  const cut = trimmedPerSide(beta, n);
  const keep = n - 2 * cut;
  if (keep < 1) {
    throw new RobustAggregationError(`trimmed mean: beta ${beta} trims ${cut} of ${n} updates from each side, leaving none`);
  }
  return reduceColumns(deltas, (column, first) => {
    const last = first + n - 1;
    if (cut > 0) {
      select(column, first, last, first + cut);
      // Everything from `cut` on is ≥ the cut-th value; the largest `cut` of those go next.
      select(column, first + cut, last, last - cut);
    }
    let sum = 0;
    for (let i = first + cut; i <= last - cut; i++) sum += column[i]!;
    return sum / keep;
  });
}

/** How many values the β-trimmed mean drops from each side of n. */
export function trimmedPerSide(beta: number, n: number): number {
  if (!(beta >= 0 && beta < 0.5)) throw new RobustAggregationError(`trimmed mean: beta must be at least 0 and less than 0.5 (got ${beta})`);
  // A tolerance, so 0.1 × 30 (= 3.0000000000000004) and 0.3 × 10 (= 2.9999999999999996) both cut 3.
  return Math.floor(beta * n + 1e-9);
}

/**
 * Calls `reduce` once per coordinate with a scratch array holding the n updates' values there at
 * [first, first + n) (in any order; `reduce` may reorder them) and stores the results as float32.
 */
function reduceColumns(deltas: readonly Float32Array[], reduce: (scratch: Float64Array, first: number) => number): Float32Array {
  const n = deltas.length;
  const length = deltas[0]!.length;
  const out = new Float32Array(length);
  const block = new Float64Array(n * BLOCK);
  for (let start = 0; start < length; start += BLOCK) {
    const width = Math.min(BLOCK, length - start);
    for (let u = 0; u < n; u++) {
      const source = deltas[u]!;
      // Transposed into the block: coordinate-major, so each column below is contiguous.
      for (let j = 0; j < width; j++) block[j * n + u] = source[start + j]!;
    }
    for (let j = 0; j < width; j++) out[start + j] = reduce(block, j * n);
  }
  return out;
}

/**
 * Reorders values[lo..hi] so that values[k] is the value a sort would put there, everything before it is ≤ and
 * everything after it is ≥ (Hoare's selection, median-of-three pivots; insertion sort for short ranges).
 * Returns values[k].
 */
export function select(values: Float64Array, lo: number, hi: number, k: number): number {
  while (hi - lo > 16) {
    const mid = (lo + hi) >>> 1;
    // Median of three to the middle, so sorted and reverse-sorted inputs stay O(n).
    if (values[mid]! < values[lo]!) swap(values, mid, lo);
    if (values[hi]! < values[lo]!) swap(values, hi, lo);
    if (values[hi]! < values[mid]!) swap(values, hi, mid);
    const pivot = values[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        swap(values, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return values[k]!;
  }
  for (let i = lo + 1; i <= hi; i++) {
    const held = values[i]!;
    let j = i - 1;
    while (j >= lo && values[j]! > held) {
      values[j + 1] = values[j]!;
      j--;
    }
    values[j + 1] = held;
  }
  return values[k]!;
}

function swap(values: Float64Array, i: number, j: number): void {
  const held = values[i]!;
  values[i] = values[j]!;
  values[j] = held;
}

/** The number of updates, after checking there is at least one and all have the same length. */
export function checkDeltas(deltas: readonly Float32Array[], method: string): number {
  if (deltas.length === 0) throw new RobustAggregationError(`${method}: no updates to aggregate`);
  const length = deltas[0]!.length;
  deltas.forEach((delta, index) => {
    if (delta.length !== length) {
      throw new RobustAggregationError(`${method}: update ${index} has ${delta.length} values but update 0 has ${length}`);
    }
  });
  return deltas.length;
}
