import type { ObjectStore } from '../cloud/ports.js';
import type { ExperimentConfig } from '../config/schema.js';
import type { RoundMetrics } from '../metrics/types.js';
import { keys } from '../protocol/keys.js';
import type { RoundState } from '../protocol/records.js';
import { readRecord } from './context.js';
import { secaggStateSchema, stageMetrics } from './secagg-stages.js';

/** A secure-aggregation round's metrics carry its stages: time per stage, bytes each client sent and received. */
export async function withSecAggMetrics(store: ObjectStore, config: ExperimentConfig, state: RoundState, metrics: RoundMetrics): Promise<RoundMetrics> {
  if (!config.secureAggregation) return metrics;
  const secagg = await readRecord(store, keys.secaggState(state.experimentId, state.round), secaggStateSchema);
  return secagg ? { ...metrics, secureAggregation: stageMetrics(secagg) } : metrics;
}
