import type { ModelWeights } from '../weights/types.js';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/** Which engine ran: reported with every result so numbers are never compared across backends unknowingly. */
export interface BackendInfo {
  readonly backend: BackendName;
  readonly tfjsVersion: string;
  /** e.g. wasm SIMD on/off, threads, tfjs-node version. */
  readonly details: Readonly<Record<string, string | number | boolean>>;
}

export interface TrainResult {
  readonly weights: ModelWeights;
  readonly samples: number;
  /** Mean training loss / accuracy over the last local epoch. */
  readonly loss: number;
  readonly accuracy: number;
  readonly durationMs: number;
  readonly samplesPerSecond: number;
}

export interface EvaluationResult {
  readonly accuracy: number;
  readonly loss: number;
  /** accuracy per true label 0..classes−1 (NaN-free: a class with no test samples reports 0 and count 0). */
  readonly perClassAccuracy: readonly number[];
  /** confusion[trueLabel][predictedLabel] = count */
  readonly confusion: readonly (readonly number[])[];
  readonly samples: number;
}
