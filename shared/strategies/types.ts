import type { ModelWeights } from '../weights/types.js';

/**
 * A strategy's server step, Flower-style: a small pure function. The sample-weighted mean of the client
 * weights is folded by shared/aggregate (streaming, O(model) memory) before it reaches the strategy, so
 * FedAvg is the identity on that mean and server optimizers (FedAvgM, FedAdam, ...) are a step on
 * `global − mean` with their own persisted state.
 */
export interface ServerStepInput {
  readonly round: number;
  readonly global: ModelWeights;
  readonly mean: ModelWeights;
  /** what the previous round's step returned (undefined in round 1) */
  readonly state: ModelWeights | undefined;
  /** SCAFFOLD only (strategies with `controlVariates: true`): what the clients' control variates did this round */
  readonly controlVariates?: ControlVariateRound;
}

/**
 * The clients' side of a SCAFFOLD round, as the server's control-variate update needs it. The mean is unweighted
 * (each client counts once, whatever its sample count), because the server's c must stay the plain average of the
 * N clients' c_i.
 */
export interface ControlVariateRound {
  /** (1/|S|)·Σ_{i∈S} (c_i⁺ − c_i) over the clients whose update was accepted this round */
  readonly meanDelta: ModelWeights;
  /** |S|: how many clients' deltas are in the mean */
  readonly contributors: number;
  /** N: every client of the experiment, sampled this round or not */
  readonly clients: number;
}

export interface ServerStepResult {
  readonly weights: ModelWeights;
  /** persisted between rounds (e.g. optimizer moments); omit when stateless */
  readonly state?: ModelWeights;
}

/** Settings a strategy adds to each client's local objective (e.g. FedProx's proximal μ). */
export interface ClientObjective {
  /** FedProx: adds μ/2·‖w − w_global‖² to the loss */
  readonly proximalMu?: number;
  /**
   * SCAFFOLD: c − c_i, added to the gradient of every local step (equivalently, ⟨w, c − c_i⟩ added to the loss).
   * Per client and per round, so the pipeline sets it (see `scaffoldCorrection`); tensors are named like the model's.
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

export interface Strategy {
  readonly name: string;
  readonly clientObjective: ClientObjective;
  /**
   * True for SCAFFOLD: each client keeps a control variate between rounds, its training needs
   * `gradientCorrection`, and `serverStep` needs `controlVariates`. Absent for every other strategy.
   */
  readonly controlVariates?: boolean;
  serverStep(input: ServerStepInput): ServerStepResult;
}
