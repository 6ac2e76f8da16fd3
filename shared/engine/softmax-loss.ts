import type { LogitAdjustment } from '../strategies/types.js';

/** What one batch's loss gives the training loop. */
export interface SoftmaxLoss {
  /** mean plain cross-entropy of softmax(logits): what training reports, comparable across objectives */
  readonly loss: number;
  /** mean loss the gradient belongs to: the plain cross-entropy, or the adjusted one when an adjustment is given */
  readonly objectiveLoss: number;
  /** argmax hits of the plain logits */
  readonly correct: number;
}

/**
 * Mean softmax cross-entropy over a batch of `labels.length` rows of `classes` logits; writes d(objective)/d(logits)
 * into `dLogits`. With an adjustment, the objective's logits are z′_c = scale_c·z_c − shift_c and its softmax runs
 * over the included classes only, so d/dz_c = scale_c·(p′_c − [c = y]) / batch for an included class and 0 for an
 * excluded one. The log-sum-exp is taken from the row maximum, so large logits do not overflow.
 */
export function softmaxCrossEntropy(
  logits: Float32Array,
  labels: Uint8Array,
  dLogits: Float32Array,
  classes: number,
  adjustment?: LogitAdjustment,
): SoftmaxLoss {
  const batch = labels.length;
  let total = 0;
  let objectiveTotal = 0;
  let correct = 0;
  const adjusted = new Float64Array(classes);
  for (let n = 0; n < batch; n++) {
    const row = n * classes;
    const label = labels[n]!;
    let max = -Infinity;
    let argmax = 0;
    for (let c = 0; c < classes; c++) {
      const value = logits[row + c]!;
      if (value > max) {
        max = value;
        argmax = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logits[row + c]! - max);
    const plain = Math.log(sum) + max - logits[row + label]!;
    total += plain;
    if (argmax === label) correct++;
    if (!adjustment) {
      objectiveTotal += plain;
      for (let c = 0; c < classes; c++) dLogits[row + c] = (Math.exp(logits[row + c]! - max) / sum - (c === label ? 1 : 0)) / batch;
      continue;
    }
    const { scale, shift, include } = adjustment;
    let adjustedMax = -Infinity;
    for (let c = 0; c < classes; c++) {
      adjusted[c] = scale[c]! * logits[row + c]! - shift[c]!;
      if (include[c] && adjusted[c]! > adjustedMax) adjustedMax = adjusted[c]!;
    }
    let adjustedSum = 0;
    for (let c = 0; c < classes; c++) if (include[c]) adjustedSum += Math.exp(adjusted[c]! - adjustedMax);
    // A label outside the included classes has probability 0: an infinite loss, which stops training (checked earlier).
    objectiveTotal += include[label] ? Math.log(adjustedSum) + adjustedMax - adjusted[label]! : Infinity;
    for (let c = 0; c < classes; c++) {
      dLogits[row + c] = include[c] ? (scale[c]! * (Math.exp(adjusted[c]! - adjustedMax) / adjustedSum - (c === label ? 1 : 0))) / batch : 0;
    }
  }
  return { loss: total / batch, objectiveLoss: objectiveTotal / batch, correct };
}

/**
 * Refuses an adjustment the loss cannot use on this shard: wrong lengths, non-finite numbers, or a label of the shard
 * outside the included classes (its loss would be infinite).
 */
export function checkLogitAdjustment(adjustment: LogitAdjustment, labels: Uint8Array, classes: number): void {
  const { scale, shift, include } = adjustment;
  for (const [name, values] of [['scale', scale], ['shift', shift], ['include', include]] as const) {
    if (values.length !== classes) throw new Error(`objective.logitAdjustment.${name} must have ${classes} entries, one per class (got ${values.length})`);
  }
  scale.forEach((value, c) => {
    if (!Number.isFinite(value)) throw new Error(`objective.logitAdjustment.scale[${c}] must be a finite number (got ${value})`);
  });
  shift.forEach((value, c) => {
    if (!Number.isFinite(value)) throw new Error(`objective.logitAdjustment.shift[${c}] must be a finite number (got ${value})`);
  });
  const excludedLabel = labels.find((label) => !include[label]);
  if (excludedLabel !== undefined) {
    throw new Error(`objective.logitAdjustment.include leaves out class ${excludedLabel}, which the training shard holds: its loss would be infinite`);
  }
}
