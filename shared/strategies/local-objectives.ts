import type { LocalObjectiveConfig } from '../config/schema.js';
import { NUM_CLASSES, type Dataset } from '../data/types.js';
import type { ClientObjective, LogitAdjustment } from './types.js';

/**
 * Local objectives for label skew: each client trains on a loss reshaped by its own label counts, so classes it never
 * sees are not pushed down in the shared model. All three are one per-class transform of the training logits
 * (LogitAdjustment), which both training loops implement (shared/engine/softmax-loss.ts and the tape loop), and they
 * compose with every server step. Evaluation is untouched.
 *
 * - FedLC (Zhang et al., ICML 2022): z_c − τ·n_c^(−1/4). The rarer a class on this client, the more its logit is
 *   lowered during training, so the model must raise it to fit: the calibration offsets the client's label prior.
 *   An absent class counts as n_c = 1 (the strongest calibration), since n^(−1/4) has no value at 0.
 * - FedRS (Li & Zhan, KDD 2021): the logits of classes absent from the client are scaled by α ∈ [0, 1], which damps
 *   the push the softmax gives their weights. The paper scales w_c·h; we scale the whole logit, bias included.
 * - Masked softmax: the softmax runs over the client's present classes only, so absent classes get no gradient at all.
 */

/** How many samples of each class 0..classes−1 the labels hold. */
export function labelCounts(labels: Uint8Array, classes = NUM_CLASSES): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const label of labels) {
    if (label >= classes) throw new Error(`label ${label} is outside 0–${classes - 1}`);
    counts[label]!++;
  }
  return counts;
}

/** The per-class transform of `objective` for a client with these label counts; undefined for plain cross-entropy. */
export function logitAdjustmentFor(objective: LocalObjectiveConfig | undefined, counts: readonly number[]): LogitAdjustment | undefined {
  if (counts.length < 2) throw new Error(`expected a label count per class (at least 2), got ${counts.length}`);
  if (counts.some((count) => !Number.isSafeInteger(count) || count < 0)) throw new Error(`label counts must be whole numbers ≥ 0, got [${counts.join(', ')}]`);
  if (!objective) return undefined;
  const present = counts.map((count) => count > 0);
  const plain: LogitAdjustment = { scale: counts.map(() => 1), shift: counts.map(() => 0), include: counts.map(() => true) };
  switch (objective.kind) {
    case 'cross-entropy':
      return undefined;
    case 'fedlc':
      return { ...plain, shift: counts.map((count) => objective.tau * Math.max(count, 1) ** -0.25) };
    case 'fedrs':
      return { ...plain, scale: present.map((isPresent) => (isPresent ? 1 : objective.alpha)) };
    case 'masked':
      return { ...plain, include: present };
  }
}

/** The strategy's client objective plus the local objective's logit transform for this client's training set. */
export function withLocalObjective(objective: ClientObjective, local: LocalObjectiveConfig | undefined, trainingSet: Dataset): ClientObjective {
  const logitAdjustment = logitAdjustmentFor(local, labelCounts(trainingSet.labels, trainingSet.classes));
  return logitAdjustment ? { ...objective, logitAdjustment } : objective;
}
