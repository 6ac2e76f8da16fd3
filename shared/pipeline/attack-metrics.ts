import type { ExperimentConfig } from '../config/schema.js';
import type { RoundMetrics } from '../metrics/types.js';
import type { RoundState } from '../protocol/records.js';
import { attackersAmong } from './client-upload.js';

/**
 * A closed round's metrics with the simulated attackers among its sampled clients, for the report to mark. Worked
 * out from the config (the seeded adversary set), only when the metrics are written: the aggregation never sees it.
 */
export function withAttackers(config: ExperimentConfig, state: Pick<RoundState, 'expected'>, metrics: RoundMetrics): RoundMetrics {
  if (!config.adversaries) return metrics;
  return { ...metrics, attackers: attackersAmong(config, state.expected) };
}
