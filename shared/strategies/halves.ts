import type { ModelWeights } from '../weights/types.js';
import type { ClientHalf, ClientObjective, ServerHalf, ServerStepInput, ServerStepResult } from './types.js';

/**
 * The client half of a strategy that only shapes the local objective (FedAvg, FedProx, the server optimizers):
 * start from the global model, train on the whole shard, upload the trained weights, keep no client state.
 */
export function plainClient(objective: ClientObjective = {}): ClientHalf {
  return {
    adoptedState: [],
    keptState: [],
    sideUploads: [],
    readsServerState: false,
    begin: ({ global, shard }) => ({ start: global, trainSet: shard, objective }),
    finish: ({ global, trained }) => ({ upload: trained, uploadBase: global, proposals: {}, side: {}, kept: {} }),
  };
}

/** The server half of a strategy that averages the whole model, around its step. */
export function wholeModelServer(step: (input: ServerStepInput) => ServerStepResult): ServerHalf {
  return {
    averagedPart: (model) => model,
    complete: (_previous: ModelWeights, averaged: ModelWeights) => averaged,
    uploadProblem: () => undefined,
    combineWeight: ({ samples }) => samples,
    step,
  };
}
