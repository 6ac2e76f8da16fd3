import type { BackendInfo } from '../engine/types.js';

export interface ClientPartitionStats {
  readonly clientId: string;
  readonly samples: number;
  /** samples per label 0..classes−1 */
  readonly labelHistogram: readonly number[];
  /**
   * sharedData: the public samples this client receives and trains on besides its own `samples` (its training set,
   * and the sample count its updates report, is samples + sharedSamples)
   */
  readonly sharedSamples?: number;
}

/**
 * sharedData (Zhao et al., 2018): the public, class-balanced subset G the server holds and every client mixes into its
 * training. Its presence marks an experiment as not pure federated learning.
 */
export interface SharedDataStats {
  /** |G| as a share of the training set, as configured */
  readonly fraction: number;
  /** α: the share of G each client receives */
  readonly perClient: number;
  /** |G| */
  readonly samples: number;
  /** G's samples per label 0..classes−1 (balanced to within one) */
  readonly labelHistogram: readonly number[];
  /** α·|G|, rounded: the public samples each client trains on */
  readonly samplesPerClient: number;
}

export interface PartitionStats {
  readonly kind: string;
  readonly seed: number;
  readonly clients: readonly ClientPartitionStats[];
  /** sharedData: the public subset mixed into every client's training; absent in pure federated learning */
  readonly sharedData?: SharedDataStats;
  /** the dataset partitioned, and its class names in label order (absent in records of earlier builds: MNIST's digits) */
  readonly dataset?: string;
  readonly classNames?: readonly string[];
}

export interface ClientRoundMetrics {
  readonly clientId: string;
  readonly samples: number;
  readonly trainLoss: number;
  readonly trainAccuracy: number;
  readonly trainMs: number;
  readonly backend: BackendInfo['backend'];
  /** personalization: the client's own model (global shared layers + its local layers) on its held-out samples */
  readonly personalizedAccuracy?: number;
  /** personalization: the held-out samples behind personalizedAccuracy (not part of `samples`) */
  readonly holdoutSamples?: number;
}

/** DP runs (docs/privacy.md): what the round's release cost and how its updates were clipped. */
export interface RoundPrivacyMetrics {
  /** ε at δ spent by the experiment after this round (the accountant's, every round so far) */
  readonly epsilon: number;
  readonly delta: number;
  /** σ the accountant charges per round */
  readonly noiseMultiplier: number;
  /** C the round's updates were clipped to */
  readonly clipNorm: number;
  /** share of the round's updates whose norm exceeded C (exact, for the operator; not covered by ε); null with none */
  readonly clippedFraction: number | null;
  /** adaptive clipping: the noised share of unclipped updates that moved C (covered by ε) */
  readonly noisedUnclippedFraction?: number;
  /** updates in the noised sum (0: Poisson sampling chose nobody, the round released noise only) */
  readonly reported: number;
  /** ‖Σ clip(Δᵢ)‖/m and ‖noise‖/m: the signal and the noise in the released mean update */
  readonly signalNorm: number;
  readonly noiseNorm: number;
  /** median ‖Δᵢ‖ before clipping, as the clients reported it; null with none */
  readonly medianUpdateNorm: number | null;
  /** the noise was added by the clients before masking (secure aggregation), not by the server */
  readonly distributed?: { readonly minContributors: number; readonly achievedNoiseMultiplier: number };
}

/** DP runs: the privacy spent by the whole experiment. */
export interface SummaryPrivacy {
  readonly epsilon: number;
  readonly delta: number;
  readonly noiseMultiplier: number;
  readonly targetEpsilon?: number;
}

export interface SecAggStageMetrics {
  readonly stage: string;
  readonly startedAt: string;
  readonly closedAt?: string;
  readonly closedBy?: 'all-answered' | 'deadline';
  readonly ms?: number;
  readonly asked: number;
  readonly answered: number;
  readonly downBytes: Readonly<Record<string, number>>;
  readonly upBytes: Readonly<Record<string, number>>;
}

export interface SecAggRoundMetrics {
  readonly outcome: 'running' | 'unmasked' | 'failed';
  readonly failure?: { readonly stage: string; readonly reason: string };
  readonly stages: readonly SecAggStageMetrics[];
}

export interface RoundMetrics {
  readonly round: number;
  readonly accuracy: number;
  readonly loss: number;
  readonly perClassAccuracy: readonly number[];
  readonly confusion: readonly (readonly number[])[];
  readonly clients: readonly ClientRoundMetrics[];
  /**
   * personalization: the clients' personalized accuracies weighted by their held-out samples (the share of all
   * held-out samples their own models got right); `accuracy` stays the global model's, with its own local layers
   */
  readonly personalizedAccuracy?: number;
  /** DP runs: ε after this round, clip norm, clipped fraction, noise against signal */
  readonly privacy?: RoundPrivacyMetrics;
  /** clients expected but absent when the round closed (deadline with quorum) */
  readonly missingClients: readonly string[];
  readonly rejectedClients: readonly { readonly clientId: string; readonly reason: string }[];
  /**
   * simulated attackers (config `adversaries`) among the clients asked to train this round: recorded for the report
   * from the config, after the round closed; the aggregation never sees it
   */
  readonly attackers?: readonly string[];
  /** secure aggregation: each stage's time, and the bytes each client sent (up) and received (down) in it */
  readonly secureAggregation?: SecAggRoundMetrics;
  readonly timing: {
    readonly startedAt: string;
    readonly closedAt: string;
    /** wall time from fan-out to the round closing */
    readonly roundMs: number;
    /** the slowest client's training time */
    readonly trainMs: number;
    /** roundMs − trainMs: queueing, cold starts, stragglers */
    readonly waitMs: number;
    /** folding updates + server step + evaluation */
    readonly aggregateMs: number;
    /** when the round's latest counted update was announced ("update ready" sent, right after it was written) */
    readonly lastUpdateAt?: string;
    /** the close's aggregation (reading and folding the accepted updates, the server step) and evaluation */
    readonly computeMs?: number;
    /**
     * orchestration between rounds: latest update announced → next round opened (its train messages go out next), or
     * the experiment completed, minus computeMs. Set in metrics.json (assembled), not in the per-round file.
     */
    readonly orchestrationMs?: number;
  };
  readonly bytes: {
    /** global model bytes sent down to the clients this round */
    readonly down: number;
    /** update bytes sent up by the clients this round */
    readonly up: number;
  };
}

export type ExperimentState = 'running' | 'completed' | 'failed';

export interface ExperimentStatus {
  readonly experimentId: string;
  readonly state: ExperimentState;
  /** the round in progress (running) or the last round closed */
  readonly round: number;
  readonly rounds: number;
  readonly updatedAt: string;
  readonly lastAccuracy?: number;
  /** for failed: what went wrong, in words a person can act on */
  readonly errors?: readonly string[];
  /** the ETag of the config.json upload this experiment runs */
  readonly configETag?: string;
  /** while running: the ETag of the global model the round trains from (round − 1), as the aggregator wrote it */
  readonly globalModelETag?: string;
  /** what a person should know that did not stop the experiment (e.g. config.json uploaded again while it ran) */
  readonly notices?: readonly string[];
}

export interface ExperimentSummary {
  readonly experimentId: string;
  readonly name: string;
  readonly state: ExperimentState;
  readonly rounds: number;
  readonly finalAccuracy: number;
  readonly finalLoss: number;
  readonly bestAccuracy: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly wallMs: number;
  readonly backend: BackendInfo;
  readonly parameters: number;
  /** DP runs: ε spent at δ over the whole run */
  readonly privacy?: SummaryPrivacy;
}

/** metrics.json: everything a report needs about one experiment. */
export interface ExperimentMetrics {
  readonly experimentId: string;
  readonly config: unknown;
  readonly backend: BackendInfo;
  readonly partition: PartitionStats;
  readonly rounds: readonly RoundMetrics[];
  readonly summary?: ExperimentSummary;
}
