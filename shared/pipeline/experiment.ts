import type { z } from 'zod';
import type { ObjectStore } from '../cloud/ports.js';
import { experimentConfigSchema, type ExperimentConfig } from '../config/schema.js';
import { backendInfoSchema, experimentMetricsSchema, partitionStatsSchema, roundMetricsSchema } from '../metrics/schema.js';
import type { ExperimentMetrics, ExperimentStatus, ExperimentSummary, RoundMetrics } from '../metrics/types.js';
import { keys } from '../protocol/keys.js';
import { pinnedConfigSchema, roundStateSchema, statusSchema, verdictSchema, type RoundState, type VerdictRecord } from '../protocol/records.js';
import type { PrivacyPlan } from '../config/privacy.js';
import { PipelineRecordError, readRecord, requireRecord, writeRecord, type PipelineContext } from './context.js';
import { asPrivacyPlan, privacyPlanSchema } from './privacy-records.js';

/** config.resolved.json: the config with every default filled in, and which upload of config.json it came from. */
export interface ResolvedConfigRecord {
  readonly config: ExperimentConfig;
  readonly pinned: z.output<typeof pinnedConfigSchema> | undefined;
  /** DP runs: the privacy plan resolved at start (σ as calibrated for targetEpsilon, δ, q, m) */
  readonly privacyPlan?: PrivacyPlan;
}

const PINNED_FIELD = 'pinnedUpload';
const PRIVACY_PLAN_FIELD = 'privacyPlan';

export function resolvedConfigRecord(config: ExperimentConfig, pinned: z.output<typeof pinnedConfigSchema>, privacyPlan?: PrivacyPlan): Record<string, unknown> {
  return { ...config, [PINNED_FIELD]: pinned, ...(privacyPlan ? { [PRIVACY_PLAN_FIELD]: privacyPlan } : {}) };
}

/** The config as the start step resolved it (defaults filled in) and pinned it. */
export async function readResolvedConfigRecord(store: ObjectStore, experimentId: string): Promise<ResolvedConfigRecord> {
  const key = keys.resolvedConfig(experimentId);
  const text = await store.getText(key);
  if (text === undefined) throw new PipelineRecordError(`s3://${store.bucket}/${key} does not exist`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PipelineRecordError(`s3://${store.bucket}/${key} is not valid JSON: ${(error as Error).message}`);
  }
  const { [PINNED_FIELD]: pinnedValue, [PRIVACY_PLAN_FIELD]: planValue, ...rest } = (json ?? {}) as Record<string, unknown>;
  const config = experimentConfigSchema.safeParse(rest);
  const pinned = pinnedValue === undefined ? undefined : pinnedConfigSchema.safeParse(pinnedValue);
  const plan = planValue === undefined ? undefined : privacyPlanSchema.safeParse(planValue);
  if (!config.success || (pinned && !pinned.success) || (plan && !plan.success)) {
    throw new PipelineRecordError(`s3://${store.bucket}/${key} has an unexpected shape: ${(config.error ?? pinned?.error ?? plan?.error)?.message}`);
  }
  return { config: config.data, pinned: pinned?.data, ...(plan?.data ? { privacyPlan: asPrivacyPlan(plan.data) } : {}) };
}

export async function readResolvedConfig(store: ObjectStore, experimentId: string): Promise<ExperimentConfig> {
  return (await readResolvedConfigRecord(store, experimentId)).config;
}

export function readStatus(store: ObjectStore, experimentId: string): Promise<ExperimentStatus | undefined> {
  return readRecord(store, keys.status(experimentId), statusSchema);
}

export function readRoundState(store: ObjectStore, experimentId: string, round: number): Promise<RoundState | undefined> {
  return readRecord(store, keys.roundState(experimentId, round), roundStateSchema);
}

export function readVerdict(store: ObjectStore, experimentId: string, round: number, clientId: string): Promise<VerdictRecord | undefined> {
  return readRecord(store, keys.verdict(experimentId, round, clientId), verdictSchema);
}

/**
 * Writes status.json, keeping what it records about the whole experiment (the pinned config's ETag, notices) from
 * the status before: only the aggregator writes it after the start, one message at a time.
 */
export async function writeStatus(
  context: PipelineContext,
  status: Omit<ExperimentStatus, 'updatedAt' | 'notices' | 'configETag'> & { readonly configETag?: string },
): Promise<void> {
  const before = await readStatus(context.store, status.experimentId);
  const configETag = status.configETag ?? before?.configETag;
  const record: ExperimentStatus = {
    ...status,
    ...(configETag !== undefined ? { configETag } : {}),
    ...(before?.notices?.length ? { notices: before.notices } : {}),
    updatedAt: context.now().toISOString(),
  };
  await writeRecord(context.store, keys.status(status.experimentId), record);
}

/**
 * metrics.json as a reader wants it: the file written when the experiment ended, or, while it runs, assembled from
 * the per-round files of the rounds closed so far (undefined before the first round closes).
 */
export async function readExperimentMetrics(store: ObjectStore, experimentId: string): Promise<ExperimentMetrics | undefined> {
  const written = await readRecord(store, keys.metrics(experimentId), experimentMetricsSchema);
  if (written) return written;
  if (!(await store.head(keys.backend(experimentId)))) return undefined;
  return assembleExperimentMetrics(store, experimentId, await readResolvedConfig(store, experimentId));
}

/**
 * The pipeline's own time between rounds: from the round's latest update announced to the next round opened (its train
 * messages go out right after its state is written) or the experiment completed, minus the close's aggregation and
 * evaluation. Undefined while neither has happened, or for metrics written before these fields existed.
 */
export function orchestrationMs(timing: RoundMetrics['timing'], endedAt: string | undefined): number | undefined {
  if (endedAt === undefined || timing.lastUpdateAt === undefined || timing.computeMs === undefined) return undefined;
  // An update announced before the round's own start can only be a clock's rounding: the round began no earlier.
  const from = Math.max(Date.parse(timing.lastUpdateAt), Date.parse(timing.startedAt));
  return Math.max(0, Date.parse(endedAt) - from - timing.computeMs);
}

/**
 * Every closed round's metrics file, read once: O(rounds) when an experiment ends, rather than O(rounds) each round.
 * `completedAt`: when the experiment completed, which ends its last round's orchestration time.
 */
export async function assembleExperimentMetrics(
  store: ObjectStore,
  experimentId: string,
  config: ExperimentConfig,
  summary?: ExperimentSummary,
  completedAt?: string,
): Promise<ExperimentMetrics> {
  const closed: RoundMetrics[] = [];
  for (let round = 1; round <= config.rounds; round++) {
    const metrics = await readRecord(store, keys.roundMetrics(experimentId, round), roundMetricsSchema);
    if (!metrics) break;
    closed.push(metrics);
  }
  const rounds: RoundMetrics[] = [];
  for (const [index, metrics] of closed.entries()) {
    const next = closed[index + 1]?.timing.startedAt ??
      (metrics.round < config.rounds ? (await readRoundState(store, experimentId, metrics.round + 1))?.startedAt : completedAt);
    const orchestration = orchestrationMs(metrics.timing, next);
    rounds.push(orchestration === undefined ? metrics : { ...metrics, timing: { ...metrics.timing, orchestrationMs: orchestration } });
  }
  return {
    experimentId,
    config,
    backend: await requireRecord(store, keys.backend(experimentId), backendInfoSchema),
    partition: await requireRecord(store, keys.partition(experimentId), partitionStatsSchema),
    rounds,
    ...(summary ? { summary } : {}),
  };
}
