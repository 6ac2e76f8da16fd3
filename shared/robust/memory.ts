import type { AggregatorKind } from '../config/robust.js';

/**
 * What a robust aggregator needs in memory, as a formula in P (values per update) and n (updates):
 *
 *   held updates     4·P·n          every update's flat float32 Δ, collected before aggregating
 *   working set      by method      what the aggregator allocates while it runs (table below, from the code)
 *
 *   method             working set
 *   mean               12·P            float64 sum + float32 result
 *   median             4·P + 8·512·n   float32 result + float64 transposition block of 512 coordinates
 *   trimmed-mean       4·P + 8·512·n   as median
 *   krum               4·P + 16·n²     copy of the chosen update + distance matrix and scores
 *   multi-krum         12·P + 16·n²    float64 sum + float32 result + distance matrix
 *   norm-bounded       12·P            float64 sum + float32 result
 *   centered-clipping  20·P            two float64 centres + float32 result
 *
 * bench/robust-memory.ts measures each method's peak resident memory over n updates of cnn-small's size and checks
 * it against this formula (docs/robustness.md has the table). The aggregator process has more in memory than the
 * aggregator: `maxUpdatesThatFit` adds a baseline and the transient bytes of the update being read.
 */

const BLOCK_BYTES = 8 * 512;
/**
 * What the allocator and V8 add besides the arrays counted above: the bench's largest overshoot was 0.9 MiB (a
 * compiled function, a grown heap page); 4 MiB leaves room for another V8 or allocator.
 */
export const ALLOCATION_SLACK_BYTES = 4 * 2 ** 20;

/** Bytes a robust aggregator holds at its peak: the n collected updates plus its working set (formula above). */
export function robustMemoryBytes(method: AggregatorKind, parameters: number, clients: number): number {
  checkCount('parameters', parameters);
  checkCount('clients', clients);
  const P = parameters;
  const n = clients;
  return 4 * P * n + workingSetBytes(method, P, n) + ALLOCATION_SLACK_BYTES;
}

export function workingSetBytes(method: AggregatorKind, P: number, n: number): number {
  switch (method) {
    case 'mean':
      return 12 * P;
    case 'median':
    case 'trimmed-mean':
      return 4 * P + BLOCK_BYTES * n;
    case 'krum':
      return 4 * P + 16 * n * n;
    case 'multi-krum':
      return 12 * P + 16 * n * n;
    case 'norm-bounded':
      return 12 * P;
    case 'centered-clipping':
      return 20 * P;
    default:
      throw new RangeError(`unknown aggregator kind ${JSON.stringify(method)}`);
  }
}

export interface AggregatorMemory {
  /** the aggregator function's memory size in MB as Lambda counts it (MiB), e.g. 1769 */
  readonly memoryMb: number;
  /**
   * everything else the process holds at the same time: Node, tfjs with the wasm backend, the test set, the global
   * model before and after. Defaults to 400 MiB, the peak RSS measured for the tfjs functions evaluating cnn-mcmahan
   * (infra/lib/flambda-stack.ts).
   */
  readonly baselineBytes?: number;
  /** the largest encoded update that is read while the others are held; defaults to float32 (4·P + 64 KiB of manifest) */
  readonly encodedUpdateBytes?: number;
}

export const DEFAULT_AGGREGATOR_BASELINE_BYTES = 400 * 2 ** 20;

/**
 * The most updates of `parameters` values the method can hold within the aggregator's memory (0 when not even one
 * fits). The start step refuses a config whose clients per round exceed it (`robustProblems`).
 */
export function maxUpdatesThatFit(method: AggregatorKind, parameters: number, memory: AggregatorMemory): number {
  checkCount('parameters', parameters);
  if (!(memory.memoryMb > 0)) throw new RangeError(`memoryMb must be positive (got ${memory.memoryMb})`);
  const budget =
    memory.memoryMb * 2 ** 20 -
    (memory.baselineBytes ?? DEFAULT_AGGREGATOR_BASELINE_BYTES) -
    (memory.encodedUpdateBytes ?? 4 * parameters + 64 * 1024);
  const fits = (n: number) => robustMemoryBytes(method, parameters, n) <= budget;
  if (!fits(1)) return 0;
  // The formula grows with n (quadratically for Krum): double, then bisect.
  let low = 1;
  let high = 2;
  while (fits(high)) {
    low = high;
    high *= 2;
    if (high > 1e7) return low;
  }
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (fits(mid)) low = mid;
    else high = mid;
  }
  return low;
}

function checkCount(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${what} must be a positive integer (got ${value})`);
}
