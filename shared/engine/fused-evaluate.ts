import type { Dataset } from '../data/types.js';
import type { ModelName } from '../config/schema.js';
import { toModelSpec, type ModelSpec } from '../models/index.js';
import { modelInputOf } from './batches.js';
import type { ModelWeights } from '../weights/types.js';
import { autoConvolutionKernels, FusedTrainer, fusedStepAvailable, type ConvolutionKernels } from './fused-wasm.js';
import { cachedModel } from './model-cache.js';
import type { EvaluationResult } from './types.js';
import { matchWeights } from './weights-bridge.js';

/**
 * Whether evaluate() should take this path: only where our FMA kernels run. There the forward pass takes about half
 * the time of the tfjs model's (10,000 MNIST test images, cnn-small 1.1 s against 2.2 s of CPU, cnn-mcmahan 9.5
 * against 16.3 s, on a busy AMD EPYC); on XNNPACK it gains nothing (2.4 against 2.2 s, 15.2 against 16.5 s).
 */
export function fusedEvaluationPays(model: ModelName | ModelSpec): boolean {
  return fusedStepAvailable(model) && autoConvolutionKernels() === 'fma';
}

/**
 * evaluate() through the fused step's forward pass (fused-wasm.ts, our FMA kernels where they run) instead of a
 * tfjs model: the same numbers (cross-entropy summed in float64, argmax with the first maximum winning, as
 * tf.argMax does), checked against the tfjs path in test/engine-fused.test.ts.
 */
export function fusedEvaluate(
  model: ModelName | ModelSpec,
  weights: ModelWeights,
  testSet: Dataset,
  batchSize: number,
  kernels: ConvolutionKernels = 'auto',
): EvaluationResult {
  // The tfjs path's checks and messages for weights that do not fit.
  const spec = toModelSpec(model, modelInputOf(testSet));
  const classes = spec.input.classes;
  matchWeights(cachedModel(spec), weights, 'weights');
  // Plain SGD: no optimizer state is allocated for a trainer that never steps.
  const local = { epochs: 1, batchSize, optimizer: 'sgd', learningRate: 1, momentum: 0 } as const;
  const trainer = new FusedTrainer(spec, weights, { local, kernels });
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let lossSum = 0;
  try {
    for (let start = 0; start < testSet.count; start += batchSize) {
      const end = Math.min(start + batchSize, testSet.count);
      const { logits, labels } = trainer.logits(testSet, start, end);
      for (let n = 0; n < labels.length; n++) {
        const row = n * classes;
        let max = -Infinity;
        let argmax = 0;
        for (let c = 0; c < classes; c++) {
          if (logits[row + c]! > max) {
            max = logits[row + c]!;
            argmax = c;
          }
        }
        let sum = 0;
        for (let c = 0; c < classes; c++) sum += Math.exp(logits[row + c]! - max);
        const label = labels[n]!;
        lossSum += Math.log(sum) + max - logits[row + label]!;
        confusion[label]![argmax]!++;
      }
    }
  } finally {
    trainer.dispose();
  }
  const correct = confusion.reduce((total, row, label) => total + row[label]!, 0);
  return {
    accuracy: correct / testSet.count,
    loss: lossSum / testSet.count,
    perClassAccuracy: confusion.map((row, label) => {
      const count = row.reduce((a, b) => a + b, 0);
      return count === 0 ? 0 : row[label]! / count;
    }),
    confusion,
    samples: testSet.count,
  };
}
