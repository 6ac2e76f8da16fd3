export {
  BACKEND_NAMES,
  BackendUnavailableError,
  backendLabel,
  backendRequestFromEnv,
  currentBackendInfo,
  initBackend,
  wasmDirectory,
  type BackendRequest,
} from './backend.js';
export { modelInputOf } from './batches.js';
export { buildModel, initialWeights } from './build-model.js';
export { evaluate, type EvaluateArgs } from './evaluate.js';
export { releaseCachedModels } from './model-cache.js';
export { trainLocal, TrainingDivergedError, type TrainLocalArgs } from './train.js';
export type { BackendInfo, BackendName, EvaluationResult, TrainResult } from './types.js';
export { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from './wasm-kernels.js';
export { readModelWeights, WeightsMismatchError, writeModelWeights } from './weights-bridge.js';
