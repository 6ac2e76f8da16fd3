import type { ObjectStore } from '../cloud/ports.js';
import { distributedNoiseStd } from '../config/distributed-privacy.js';
import { clipUpdate } from '../privacy/clip.js';
import { privacySpent, type PrivacyStep } from '../privacy/rdp.js';
import { accountRound } from '../privacy/release.js';
import { keys } from '../protocol/keys.js';
import { flattenWeights, hardenedGaussianNoiseShare, type DistributedNoise, type RoundSetup } from '../secagg/index.js';
import type { ModelWeights } from '../weights/types.js';
import { requireRecord, writeRecord } from './context.js';
import { clipNormForRound, readPrivacyPlan } from './privacy-round.js';
import { privacyRoundSchema, type PrivacyRoundRecord } from './privacy-records.js';

/**
 * Distributed DP in the masked pipeline (docs/privacy.md, "Central and distributed DP"). The client clips its Δ to C
 * and adds its share of the Gaussian noise, N(0, σ²C²/m) per coordinate from a stream keyed by its own CSPRNG root
 * secret, before quantization and masking; the protocol never unmasks fewer than m = max(t, round.minClients) inputs
 * (the setup's minContributors), so the sum carries noise of
 * variance ≥ σ²C² that the server never adds, sees or can remove. The server runs the same accountant as central DP,
 * at σ, before any client is asked to reveal a share (close of masked input), and records the release at unmask.
 */

export interface DistributedShare {
  /** Δ clipped to C, flat in model order: what the client masks */
  readonly vector: Float32Array;
  /** the client's share of the noise */
  readonly noise: DistributedNoise;
}

/**
 * The client half: Δ clipped to the round's C and its noise share. Every client weighs 1 (the fixed weight is the
 * round's maxWeight, so ŵ = 1 exactly): sample weighting would scale each client's noise share by its ŵ and leave
 * the sum with less noise than the accountant charges. Nothing the client reports reveals its Δ's norm.
 */
export async function distributedShare(store: ObjectStore, experimentId: string, round: number, setup: RoundSetup, global: ModelWeights, trained: ModelWeights): Promise<DistributedShare> {
  const plan = await readPrivacyPlan(store, experimentId);
  const clipNorm = await clipNormForRound(store, experimentId, plan, round);
  const clipped = clipUpdate(trained, global, clipNorm);
  const std = distributedNoiseStd(plan.updateNoiseMultiplier, clipNorm, setup.minContributors);
  return { vector: flattenWeights(clipped.delta).vector, noise: hardenedGaussianNoiseShare(std, 1) };
}

async function historyBefore(store: ObjectStore, experimentId: string, round: number): Promise<PrivacyStep[]> {
  if (round === 1) return [];
  return [...(await requireRecord(store, keys.privacyRound(experimentId, round - 1), privacyRoundSchema)).history];
}

/**
 * The accountant's history with this round added; throws PrivacyBudgetError past the budget. Called when masked
 * input closes (so no client reveals a share of an over-budget round) and again at unmask for the record.
 */
export async function accountDistributedRound(store: ObjectStore, experimentId: string, round: number): Promise<PrivacyStep[]> {
  return accountRound(await historyBefore(store, experimentId, round), await readPrivacyPlan(store, experimentId), round);
}

/**
 * rounds/<r>/privacy.json for a distributed release, written before the unmasked mean. The server knows neither the
 * noise nor the signal: noiseNorm is the expected norm of the noise in the mean, σC·√(d·n/m)/n for n contributors,
 * and signalNorm the estimate √max(0, ‖mean‖² − noiseNorm²). No client reports its norm, so clippedFraction and
 * medianUpdateNorm are null.
 */
export async function recordDistributedRelease(
  store: ObjectStore,
  args: { experimentId: string; round: number; minContributors: number; contributors: number; mean: Float32Array; history: PrivacyStep[] },
): Promise<PrivacyRoundRecord> {
  const { experimentId, round, minContributors, contributors, mean, history } = args;
  const plan = await readPrivacyPlan(store, experimentId);
  const clipNorm = await clipNormForRound(store, experimentId, plan, round);
  const sumStd = Math.sqrt(contributors / minContributors) * plan.updateNoiseMultiplier * clipNorm;
  const noiseNorm = (sumStd * Math.sqrt(mean.length)) / contributors;
  let squares = 0;
  for (let i = 0; i < mean.length; i++) squares += mean[i]! * mean[i]!;
  const spent = privacySpent(history, plan.delta);
  const record: PrivacyRoundRecord = {
    round,
    reported: contributors,
    clipNorm,
    nextClipNorm: clipNorm,
    clippedFraction: null,
    noiseMultiplier: plan.noiseMultiplier,
    updateNoiseMultiplier: plan.updateNoiseMultiplier,
    denominator: contributors,
    signalNorm: Math.sqrt(Math.max(0, squares - noiseNorm * noiseNorm)),
    noiseNorm,
    medianUpdateNorm: null,
    epsilon: spent.epsilon,
    delta: plan.delta,
    order: spent.order,
    history,
    distributed: { minContributors, achievedNoiseMultiplier: sumStd / clipNorm },
  };
  await writeRecord(store, keys.privacyRound(experimentId, round), record);
  return record;
}
