import type { LocalTrainingConfig } from '../config/schema.js';
import type { Dataset } from '../data/types.js';
import type { ModelWeights } from '../weights/types.js';

/**
 * A strategy owns both halves of a round, in the serverless shape (Flower's configure_fit → fit → aggregate_fit):
 * a client half the trainer runs around local training, and a server half the aggregator runs on the accepted
 * updates. Both are pure: the pipeline loads what a half declares (its client-private state, the server state),
 * calls it, and writes what it returns, in a crash-safe order (shared/pipeline/client-round.ts, aggregate-round.ts).
 * A new strategy is one file that returns this, a config variant and a line in index.ts.
 */
export interface Strategy {
  readonly name: string;
  readonly client: ClientHalf;
  readonly server: ServerHalf;
}

/** What a strategy may know of the experiment besides its own config section. */
export interface StrategyContext {
  /** the clients' local training settings */
  readonly local: LocalTrainingConfig;
  /** N: every client of the experiment */
  readonly clients: number;
}

/**
 * Client-private state comes in two disciplines, both under experiments/<id>/clients/<client>/:
 * - adopted (`<slot>.bin`, e.g. SCAFFOLD's c_i): the client proposes a new value with its update; the aggregator
 *   adopts it only when it accepts that update, so a rejected, late or retried round never changes it.
 * - kept (`<slot>/RRRR.bin`, e.g. FedPer's local layers): the client saves it after training round r and starts its
 *   next round from its latest saved one. Only the trainer role can read or write it; the aggregator never sees it.
 * Slot names are path segments: lower-case letters, digits and "-".
 */
export interface ClientHalf {
  readonly adoptedState: readonly string[];
  readonly keptState: readonly string[];
  /** per-update files the server half folds (unweighted) over the accepted clients, e.g. SCAFFOLD's Δc_i */
  readonly sideUploads: readonly string[];
  /** whether `begin` needs the server state of the previous round (SCAFFOLD's c); a GET per client when true */
  readonly readsServerState: boolean;
  /** Before training: where to start, on what, with which local objective. */
  begin(input: ClientRoundInput): ClientPlan;
  /** After training: the upload and the client state to save. */
  finish(input: ClientFinishInput): ClientResult;
}

export interface ClientRoundInput {
  readonly round: number;
  readonly clientId: string;
  /** the experiment's seed, for per-client choices that must repeat every round (FedPer's held-out split) */
  readonly seed: number;
  readonly local: LocalTrainingConfig;
  /** the whole global model after round − 1 */
  readonly global: ModelWeights;
  /** the client's training data */
  readonly shard: Dataset;
  /** the server state after round − 1 (undefined in round 1, or when `readsServerState` is false) */
  readonly serverState: ModelWeights | undefined;
  /** each adopted slot's value as of the client's last accepted update; undefined before it */
  readonly adopted: Readonly<Record<string, ModelWeights | undefined>>;
  /** each kept slot's latest value saved before this round, with its round; undefined before the first */
  readonly kept: Readonly<Record<string, KeptState | undefined>>;
}

export interface KeptState {
  readonly round: number;
  readonly weights: ModelWeights;
}

export interface ClientPlan {
  /** the weights local training starts from: the global model, or e.g. its shared layers and the client's own head */
  readonly start: ModelWeights;
  readonly trainSet: Dataset;
  readonly objective: ClientObjective;
  /** samples the trained model is measured on after training, reported as the personalized accuracy */
  readonly holdout?: Dataset;
  /** fields for the trainer's log line */
  readonly log?: Readonly<Record<string, string | number>>;
}

export interface ClientFinishInput extends ClientRoundInput {
  readonly plan: ClientPlan;
  /** the whole model after local training */
  readonly trained: ModelWeights;
  /** samples trained on */
  readonly samples: number;
}

export interface ClientResult {
  /** what the update carries: the trained weights of the averaged part (the server half's `averagedPart`) */
  readonly upload: ModelWeights;
  /** the global model's averaged part, which attacks and compression take the update's Δ against */
  readonly uploadBase: ModelWeights;
  /** a value per adopted slot, proposed with the update */
  readonly proposals: Readonly<Record<string, ModelWeights>>;
  /** a value per side upload */
  readonly side: Readonly<Record<string, ModelWeights>>;
  /** a value per kept slot, saved under this round */
  readonly kept: Readonly<Record<string, ModelWeights>>;
}

/**
 * The server half. Updates are folded into their mean before it, weighted by `combineWeight` (streaming, O(model)
 * memory, or a robust aggregator's combination), so FedAvg's step is the identity on that mean and server optimizers (FedAvgM,
 * FedAdam, ...) are a step on `mean − global` with their own persisted state.
 */
export interface ServerHalf {
  /** The tensors of the global model that updates carry and the step moves (all of them by default), in model order. */
  averagedPart<T extends { readonly name: string }>(model: readonly T[]): readonly T[];
  /** The whole next global model from the previous one and the step's averaged part. */
  complete(previous: ModelWeights, averaged: ModelWeights): ModelWeights;
  /** Why an update with these tensor names must be refused before its layout is even compared, or undefined. */
  uploadProblem(tensorNames: readonly string[]): string | undefined;
  /** An accepted update's weight in `mean` (its sample count by default: FedAvg's weighting). */
  combineWeight(update: { readonly clientId: string; readonly samples: number }): number;
  step(input: ServerStepInput): ServerStepResult;
}

export interface ServerStepInput {
  readonly round: number;
  /** the averaged part of the global model after round − 1 */
  readonly global: ModelWeights;
  readonly mean: ModelWeights;
  /** what the previous round's step returned (undefined in round 1) */
  readonly state: ModelWeights | undefined;
  /** the accepted updates folded into `mean`, in fold order (the pipeline always passes them) */
  readonly accepted?: readonly { readonly clientId: string; readonly samples: number }[];
  /** one fold per side upload the client half declares (empty for strategies that declare none) */
  readonly side?: Readonly<Record<string, SideUploadFold>>;
}

/**
 * A side upload over the round's accepted clients. The mean is unweighted (each client counts once, whatever its
 * sample count): SCAFFOLD's server c must stay the plain average of the N clients' c_i.
 */
export interface SideUploadFold {
  /** (1/|S|)·Σ_{i∈S} value_i over the clients whose update was accepted this round */
  readonly mean: ModelWeights;
  /** |S|: how many clients are in the mean */
  readonly contributors: number;
  /** N: every client of the experiment, sampled this round or not */
  readonly clients: number;
}

export interface ServerStepResult {
  /** the next averaged part of the global model */
  readonly weights: ModelWeights;
  /** persisted between rounds (e.g. optimizer moments); omit when stateless */
  readonly state?: ModelWeights;
}

/** Settings a strategy adds to each client's local objective (e.g. FedProx's proximal μ). */
export interface ClientObjective {
  /** FedProx: adds μ/2·‖w − w_global‖² to the loss */
  readonly proximalMu?: number;
  /**
   * Added to the gradient of every local step (equivalently, ⟨w, correction⟩ added to the loss): SCAFFOLD's c − c_i,
   * FedDyn's −∇L_i. Per client and per round; tensors are named like the model's, all of them.
   */
  readonly gradientCorrection?: ModelWeights;
  /**
   * Label-skew local objectives (FedLC, FedRS, masked softmax; see local-objectives.ts): the training loss's logits
   * become scale_c·z_c − shift_c, softmax over the included classes. Per client, from its label counts.
   */
  readonly logitAdjustment?: LogitAdjustment;
}

/**
 * A per-class transform of the logits inside the training loss only (evaluation uses the plain logits). One entry per
 * class. Plain cross-entropy is scale 1, shift 0, every class included.
 */
export interface LogitAdjustment {
  readonly scale: readonly number[];
  readonly shift: readonly number[];
  /** false leaves the class out of the softmax: it gets no probability and no gradient */
  readonly include: readonly boolean[];
}
