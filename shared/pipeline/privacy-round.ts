import type { ObjectStore } from '../cloud/ports.js';
import type { PrivacyPlan } from '../config/privacy.js';
import type { ExperimentConfig, SamplingConfig } from '../config/schema.js';
import type { ExperimentMetrics, RoundMetrics, RoundPrivacyMetrics, SummaryPrivacy } from '../metrics/types.js';
import { applyDelta, clipUpdate, type ClippedUpdate } from '../privacy/clip.js';
import { createPrivateSum } from '../privacy/private-sum.js';
import { privacySpent } from '../privacy/rdp.js';
import { accountRound, releaseRound } from '../privacy/release.js';
import { poissonSample, samplingRandomness } from '../privacy/sampling.js';
import { keys } from '../protocol/keys.js';
import { decodeUpdate } from '../compression/index.js';
import { unflatten } from '../robust/index.js';
import { isCompressed } from './update-format.js';
import type { Strategy } from '../strategies/index.js';
import { decodeModelWeights, encodeModelWeights } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import { PipelineRecordError, readClientWeights, requireObject, requireRecord, writeRecord } from './context.js';
import { readResolvedConfigRecord, readVerdict } from './experiment.js';
import { privacyRoundSchema, type PrivacyRoundRecord } from './privacy-records.js';
import type { AcceptedUpdate } from './round-machine.js';

/**
 * Client-level DP-FedAvg in the pipeline (docs/privacy.md): Poisson sampling when a round opens, clipping in the
 * trainer, clip + noise + fixed denominator + accountant in the aggregator, ε in every round's metrics. The maths is
 * in shared/privacy; this file only reads and writes what a round needs around it.
 */

export { PrivacyBudgetError } from '../privacy/release.js';

/** q: `fraction`, or `perRound` expected clients out of `clients`. */
export function poissonRate(sampling: Pick<SamplingConfig, 'fraction' | 'perRound'>, clients: number): number {
  return sampling.fraction ?? sampling.perRound! / clients;
}

/**
 * The clients of a DP round: every one independently with probability q (q = 1 without `sampling`), from the CSPRNG
 * unless `privacy.randomness` is "seeded". The caller persists the draw (the round state) and never redraws it.
 */
export function privateRoundClients(config: ExperimentConfig, clientIds: readonly string[], round: number): string[] {
  if (!config.privacy) throw new Error('privateRoundClients: the experiment has no privacy section');
  const sampleRate = config.sampling ? poissonRate(config.sampling, clientIds.length) : 1;
  return poissonSample({ clientIds, sampleRate, round, randomness: samplingRandomness(config.privacy.randomness, config.seed) });
}

/** The plan the start step resolved and recorded in config.resolved.json (σ as calibrated). */
export async function readPrivacyPlan(store: ObjectStore, experimentId: string): Promise<PrivacyPlan> {
  const { privacyPlan } = await readResolvedConfigRecord(store, experimentId);
  if (!privacyPlan) throw new PipelineRecordError(`s3://${store.bucket}/${keys.resolvedConfig(experimentId)} has a privacy section but no privacyPlan`);
  return privacyPlan;
}

function readRoundRecord(store: ObjectStore, experimentId: string, round: number): Promise<PrivacyRoundRecord> {
  return requireRecord(store, keys.privacyRound(experimentId, round), privacyRoundSchema);
}

/** C for round `round`: fixed, or (adaptive) what the previous round's noised count moved it to. */
export async function clipNormForRound(store: ObjectStore, experimentId: string, plan: PrivacyPlan, round: number): Promise<number> {
  if (plan.clipping.kind === 'fixed') return plan.clipping.norm;
  if (round === 1) return plan.clipping.initialNorm;
  return (await readRoundRecord(store, experimentId, round - 1)).nextClipNorm;
}

/** The client half: Δ = trained − global, scaled to the round's C. The trainer uploads `delta`, not the weights. */
export async function clipForUpload(
  store: ObjectStore,
  experimentId: string,
  round: number,
  global: ModelWeights,
  trained: ModelWeights,
): Promise<ClippedUpdate> {
  const plan = await readPrivacyPlan(store, experimentId);
  return clipUpdate(trained, global, await clipNormForRound(store, experimentId, plan, round));
}

/**
 * The server half, in place of the weighted mean: every accepted Δ clipped again to C and summed in float64, the
 * accountant asked before anything is released, Gaussian noise σ_Δ·C per coordinate, division by m = q·N; the noised
 * mean delta then goes to the configured server optimizer as `mean = global + Δ̄`. Runs with no update too (noise
 * only). A release happens once: a retry that finds global model r and its privacy record returns that model instead
 * of drawing new noise, which would publish a second noised view of the same round. Order of writes: privacy record,
 * server state, global model (the last one marks the release done).
 */
export async function aggregatePrivateRound(
  store: ObjectStore,
  config: ExperimentConfig,
  strategy: Strategy,
  experimentId: string,
  round: number,
  accepted: readonly AcceptedUpdate[],
): Promise<ModelWeights> {
  const globalKey = keys.globalModel(experimentId, round);
  const releasedBefore = await store.get(globalKey);
  if (releasedBefore && (await store.exists(keys.privacyRound(experimentId, round)))) return decodeModelWeights(releasedBefore);
  if (config.secureAggregation) return stepDistributedRound(store, strategy, experimentId, round);

  const plan = await readPrivacyPlan(store, experimentId);
  const global = decodeModelWeights(await requireObject(store, keys.globalModel(experimentId, round - 1)));
  const clipNorm = await clipNormForRound(store, experimentId, plan, round);
  const history = round > 1 ? (await readRoundRecord(store, experimentId, round - 1)).history : [];
  const nextHistory = accountRound(history, plan, round);

  const sum = createPrivateSum(global, clipNorm);
  const signal = global.map(({ values }) => new Float64Array(values.length));
  const updateNorms: number[] = [];
  for (const { clientId } of accepted) {
    const delta = await readDelta(store, config, keys.update(experimentId, round, clientId), clientId, global);
    const verdict = await readVerdict(store, experimentId, round, clientId);
    const report = verdict?.outcome === 'accepted' ? verdict.report : undefined;
    const folded = sum.add(delta, report?.clipped === undefined ? undefined : { clipped: report.clipped });
    const scale = folded.norm > clipNorm ? clipNorm / folded.norm : 1;
    delta.forEach(({ values }, index) => {
      const target = signal[index]!;
      for (let i = 0; i < values.length; i++) target[i]! += scale * values[i]!;
    });
    if (report?.updateNorm !== undefined) updateNorms.push(report.updateNorm);
  }
  const reported = sum.count;
  const unclipped = sum.unclippedCount;
  const denominator = plan.expectedClients;
  const { meanDelta, nextClipNorm: next, noisedUnclipped } = releaseRound(sum, { plan, seed: config.seed, round, clipNorm });

  let signalSquares = 0;
  let noiseSquares = 0;
  meanDelta.forEach(({ values }, index) => {
    const summed = signal[index]!;
    for (let i = 0; i < values.length; i++) {
      const clean = summed[i]! / denominator;
      signalSquares += clean * clean;
      noiseSquares += (values[i]! - clean) ** 2;
    }
  });
  const spent = privacySpent(nextHistory, plan.delta);
  const record: PrivacyRoundRecord = {
    round,
    reported,
    clipNorm,
    nextClipNorm: next,
    clippedFraction: reported > 0 ? (reported - unclipped) / reported : null,
    ...(noisedUnclipped !== undefined ? { noisedUnclippedFraction: noisedUnclipped } : {}),
    noiseMultiplier: plan.noiseMultiplier,
    updateNoiseMultiplier: plan.updateNoiseMultiplier,
    denominator,
    signalNorm: Math.sqrt(signalSquares),
    noiseNorm: Math.sqrt(noiseSquares),
    medianUpdateNorm: median(updateNorms),
    epsilon: spent.epsilon,
    delta: plan.delta,
    order: spent.order,
    history: nextHistory,
  };

  const stepped = await stepAlong(store, strategy, experimentId, round, global, meanDelta);
  await writeRecord(store, keys.privacyRound(experimentId, round), record);
  return saveStepped(store, experimentId, round, stepped);
}

/**
 * Distributed DP (secure aggregation): the clients added the noise and the unmask stage already wrote the noised mean
 * Δ and this round's privacy record (secagg-round.ts, secagg-privacy.ts); the server only steps on it, as on a central
 * release. No update is read and no noise is drawn here.
 */
async function stepDistributedRound(store: ObjectStore, strategy: Strategy, experimentId: string, round: number): Promise<ModelWeights> {
  const global = decodeModelWeights(await requireObject(store, keys.globalModel(experimentId, round - 1)));
  const meanDelta = decodeModelWeights(await requireObject(store, keys.secaggMean(experimentId, round)), global);
  return saveStepped(store, experimentId, round, await stepAlong(store, strategy, experimentId, round, global, meanDelta));
}

/** The strategy's server step along the released (noised) mean Δ. */
async function stepAlong(store: ObjectStore, strategy: Strategy, experimentId: string, round: number, global: ModelWeights, meanDelta: ModelWeights) {
  const previousState = await store.get(keys.serverState(experimentId, round - 1));
  // No side uploads: a strategy whose clients send anything beside the clipped update is refused with privacy.
  return strategy.server.step({ round, global, mean: applyDelta(global, meanDelta), state: previousState ? decodeModelWeights(previousState) : undefined, side: {} });
}

/** Server state before the global model: the global model's existence marks the round's release as done. */
async function saveStepped(store: ObjectStore, experimentId: string, round: number, stepped: ReturnType<Strategy['server']['step']>): Promise<ModelWeights> {
  if (stepped.state) await store.put(keys.serverState(experimentId, round), encodeModelWeights(stepped.state));
  await store.put(keys.globalModel(experimentId, round), encodeModelWeights(stepped.weights));
  return stepped.weights;
}

/** A DP client's clipped Δ: float32 (FLW1), or compressed (FLW2) and decoded here. */
async function readDelta(store: ObjectStore, config: ExperimentConfig, key: string, clientId: string, global: ModelWeights): Promise<ModelWeights> {
  if (!isCompressed(config.compression)) return readClientWeights(store, key, clientId, global);
  const { flat } = decodeUpdate(await requireObject(store, key), global, { compression: config.compression, context: `${clientId}'s ${key}` });
  return unflatten(flat, global);
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** A closed round's metrics with what its release cost and how its updates were clipped. */
export async function withPrivacyMetrics(store: ObjectStore, experimentId: string, metrics: RoundMetrics): Promise<RoundMetrics> {
  const record = await readRoundRecord(store, experimentId, metrics.round);
  const privacy: RoundPrivacyMetrics = {
    epsilon: record.epsilon,
    delta: record.delta,
    noiseMultiplier: record.noiseMultiplier,
    clipNorm: record.clipNorm,
    clippedFraction: record.clippedFraction,
    ...(record.noisedUnclippedFraction !== undefined ? { noisedUnclippedFraction: record.noisedUnclippedFraction } : {}),
    reported: record.reported,
    signalNorm: record.signalNorm,
    noiseNorm: record.noiseNorm,
    medianUpdateNorm: record.medianUpdateNorm,
    ...(record.distributed ? { distributed: record.distributed } : {}),
  };
  return { ...metrics, privacy };
}

/** The summary's line on privacy: ε spent at δ over the rounds run, σ, and the budget when there was one. */
export function privacySummary(config: ExperimentConfig, rounds: ExperimentMetrics['rounds']): { privacy: SummaryPrivacy } | Record<string, never> {
  const last = rounds.at(-1)?.privacy;
  if (!config.privacy || !last) return {};
  const budget = config.privacy.targetEpsilon;
  return { privacy: { epsilon: last.epsilon, delta: last.delta, noiseMultiplier: last.noiseMultiplier, ...(budget !== undefined ? { targetEpsilon: budget } : {}) } };
}
