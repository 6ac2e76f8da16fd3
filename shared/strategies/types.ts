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
}

export interface ServerStepResult {
  readonly weights: ModelWeights;
  /** persisted between rounds (e.g. optimizer moments); omit when stateless */
  readonly state?: ModelWeights;
}

/** Settings a strategy adds to each client's local objective (e.g. FedProx's proximal μ). */
export interface ClientObjective {
  readonly proximalMu?: number;
}

export interface Strategy {
  readonly name: string;
  readonly clientObjective: ClientObjective;
  serverStep(input: ServerStepInput): ServerStepResult;
}
