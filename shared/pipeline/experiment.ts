import type { ObjectStore } from '../cloud/ports.js';
import { experimentConfigSchema, type ExperimentConfig } from '../config/schema.js';
import { experimentMetricsSchema } from '../metrics/schema.js';
import type { ExperimentMetrics, ExperimentStatus } from '../metrics/types.js';
import { keys } from '../protocol/keys.js';
import { roundStateSchema, statusSchema, type RoundState } from '../protocol/records.js';
import { readRecord, requireRecord } from './context.js';

/** The config as the start step resolved it (defaults filled in). */
export function readResolvedConfig(store: ObjectStore, experimentId: string): Promise<ExperimentConfig> {
  return requireRecord(store, keys.resolvedConfig(experimentId), experimentConfigSchema);
}

export function readStatus(store: ObjectStore, experimentId: string): Promise<ExperimentStatus | undefined> {
  return readRecord(store, keys.status(experimentId), statusSchema);
}

export function readRoundState(store: ObjectStore, experimentId: string, round: number): Promise<RoundState | undefined> {
  return readRecord(store, keys.roundState(experimentId, round), roundStateSchema);
}

/** metrics.json: every closed round so far, and the summary once the experiment completed. */
export function readExperimentMetrics(store: ObjectStore, experimentId: string): Promise<ExperimentMetrics | undefined> {
  return readRecord(store, keys.metrics(experimentId), experimentMetricsSchema);
}
