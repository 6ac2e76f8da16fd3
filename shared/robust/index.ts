import type { AggregatorConfig } from '../config/robust.js';
import { centeredClipping, normBoundedMean } from './clipping.js';
import { krum, multiKrum } from './krum.js';
import { checkDeltas, coordinateMedian, trimmedMean } from './order-statistics.js';
import { RobustAggregationError, type RobustOutcome, type RobustUpdate } from './types.js';
import { weightedMean, type Weighting } from './weighted.js';

export { applyFlatDelta, flatDelta, flatLength, unflatten } from './flat.js';
export { centeredClipping, normBoundedMean } from './clipping.js';
export { krum, krumScores, multiKrum, pairwiseSquaredDistances } from './krum.js';
export { coordinateMedian, trimmedMean, trimmedPerSide } from './order-statistics.js';
export { maxUpdatesThatFit, robustMemoryBytes } from './memory.js';
export { formatProblem, robustProblems, type ConfigProblem } from './problems.js';
export { RobustAggregationError, type RobustOutcome, type RobustUpdate } from './types.js';
export { weightedMean, type Weighting } from './weighted.js';

/**
 * False only for "mean", which the aggregator folds one update at a time (shared/aggregate/weighted-mean.ts); every
 * other kind needs the round's updates together, so the aggregator collects them and calls `aggregateUpdates`.
 */
export function holdsAllUpdates(config: AggregatorConfig): boolean {
  return config.kind !== 'mean';
}

export interface AggregateContext {
  /** centered clipping's starting centre: the previous round's aggregated Δ (server state); zeros in round 1 */
  readonly previousAggregate?: Float32Array | undefined;
}

/**
 * The round's aggregated Δ from every accepted update, by the configured method. Pure: the inputs are only read.
 * Throws a RobustAggregationError for non-finite values, mixed lengths, or a round with too few updates for the
 * parameters (e.g. Krum with n < 2f + 3; `robustProblems` refuses such configs at start, but a round closing at its
 * deadline with fewer updates can still get here).
 */
export function aggregateUpdates(config: AggregatorConfig, updates: readonly RobustUpdate[], context: AggregateContext = {}): RobustOutcome {
  const deltas = updates.map((update) => update.delta);
  checkDeltas(deltas, config.kind);
  deltas.forEach(assertFiniteDelta);
  const samples = updates.map((update) => update.samples);
  const weighting = (kind: 'uniform' | 'samples'): Weighting => (kind === 'samples' ? { kind, samples } : { kind });
  switch (config.kind) {
    case 'mean':
      return { delta: weightedMean(deltas, samples) };
    case 'median':
      return { delta: coordinateMedian(deltas) };
    case 'trimmed-mean':
      return { delta: trimmedMean(deltas, config.beta) };
    case 'krum':
      return krum(deltas, config.f);
    case 'multi-krum':
      return multiKrum(deltas, config.f, config.m ?? deltas.length - config.f, weighting(config.weighting));
    case 'norm-bounded':
      return normBoundedMean(deltas, config.maxNorm, weighting(config.weighting));
    case 'centered-clipping':
      return centeredClipping(deltas, {
        tau: config.tau,
        iterations: config.iterations,
        start: context.previousAggregate,
        weighting: weighting(config.weighting),
      });
    default:
      throw new RobustAggregationError(`unknown aggregator kind ${JSON.stringify((config as { kind: unknown }).kind)}`);
  }
}

function assertFiniteDelta(delta: Float32Array, index: number): void {
  for (let i = 0; i < delta.length; i++) {
    if (!Number.isFinite(delta[i]!)) throw new RobustAggregationError(`update ${index}: value ${i} is ${delta[i]}`);
  }
}
