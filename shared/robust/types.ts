/**
 * One client's contribution to a round as the robust aggregators see it: the update Δ = w_local − w_global of every
 * averaged value, flattened in the model's tensor order (see shared/robust/flat.ts), and the samples it trained on.
 */
export interface RobustUpdate {
  readonly delta: Float32Array;
  readonly samples: number;
}

/** What an aggregator did, besides the aggregated Δ: which updates it used, for the round's metrics. */
export interface RobustOutcome {
  /** the aggregated update, as long as every input's Δ */
  readonly delta: Float32Array;
  /** Krum, Multi-Krum: the indices (into the input list) of the updates averaged, best score first */
  readonly selected?: readonly number[];
  /** norm-bounded, centered clipping: the indices of the updates that were scaled down (in any iteration) */
  readonly clipped?: readonly number[];
}

/** Thrown for inputs no aggregator can use (no updates, mixed lengths, non-finite values, impossible parameters). */
export class RobustAggregationError extends Error {
  override name = 'RobustAggregationError';
}
