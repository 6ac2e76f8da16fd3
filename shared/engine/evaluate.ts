import * as tf from '@tensorflow/tfjs';
import type { ModelName } from '../config/schema.js';
import type { Dataset } from '../data/types.js';
import { toModelSpec, type ModelSpec } from '../models/index.js';
import type { ModelWeights } from '../weights/types.js';
import { initBackend } from './backend.js';
import { BatchMaker, checkDataset, modelInputOf } from './batches.js';
import { fusedEvaluate, fusedEvaluationPays } from './fused-evaluate.js';
import { cachedModel, runExclusive } from './model-cache.js';
import type { EvaluationResult } from './types.js';
import { writeModelWeights } from './weights-bridge.js';

export interface EvaluateArgs {
  /** a name (built for the test set's shape and classes) or a spec */
  readonly model: ModelName | ModelSpec;
  readonly weights: ModelWeights;
  readonly testSet: Dataset;
  /** inference batch size; only memory and speed depend on it (default 256) */
  readonly batchSize?: number;
}

const DEFAULT_EVAL_BATCH = 256;

/** Accuracy, mean cross-entropy, per-class accuracy and the confusion matrix of `weights` on `testSet`. */
export async function evaluate(args: EvaluateArgs): Promise<EvaluationResult> {
  const spec = toModelSpec(args.model, modelInputOf(args.testSet));
  checkDataset(args.testSet, 'test set', spec);
  const classes = spec.input.classes;
  const batchSize = args.batchSize ?? DEFAULT_EVAL_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  await initBackend();
  return runExclusive(async () => {
    if (fusedEvaluationPays(spec)) return fusedEvaluate(spec, args.weights, args.testSet, batchSize);
    const { testSet } = args;
    const model = cachedModel(spec);
    writeModelWeights(model, args.weights);
    const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
    const batches = new BatchMaker(testSet, Math.min(batchSize, testSet.count));
    const order = Array.from({ length: testSet.count }, (_, i) => i);
    let lossSum = 0;
    for (let start = 0; start < testSet.count; start += batchSize) {
      const end = Math.min(start + batchSize, testSet.count);
      const { xs, ys, labels } = batches.make(order, start, end);
      try {
        const [batchLoss, predicted] = tf.tidy(() => {
          const logits = model.apply(xs, { training: false }) as tf.Tensor2D;
          const loss = tf.losses.softmaxCrossEntropy(ys, logits, undefined, undefined, tf.Reduction.SUM);
          return [loss.dataSync()[0]!, tf.argMax(logits, 1).dataSync()] as const;
        });
        lossSum += batchLoss;
        for (let i = 0; i < labels.length; i++) confusion[labels[i]!]![predicted[i]!]!++;
      } finally {
        tf.dispose([xs, ys]);
      }
    }
    const correct = confusion.reduce((sum, row, label) => sum + row[label]!, 0);
    const perClassAccuracy = confusion.map((row, label) => {
      const count = row.reduce((a, b) => a + b, 0);
      return count === 0 ? 0 : row[label]! / count;
    });
    return {
      accuracy: correct / testSet.count,
      loss: lossSum / testSet.count,
      perClassAccuracy,
      confusion,
      samples: testSet.count,
    };
  });
}
