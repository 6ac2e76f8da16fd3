import { NUM_CLASSES } from '../data/types.js';
import { PartitionError } from './errors.js';

/** The sample indices of each label 0..classes−1, each list in ascending index order (a stable sort by label). */
export function indicesByLabel(labels: Uint8Array, classes = NUM_CLASSES): Uint32Array[] {
  const counts = new Array<number>(classes).fill(0);
  for (const label of labels) counts[label]!++;
  const groups = counts.map((count) => new Uint32Array(count));
  const filled = new Array<number>(classes).fill(0);
  labels.forEach((label, index) => {
    groups[label]![filled[label]!++] = index;
  });
  return groups;
}

/** How many of `indices` carry each label. */
export function labelHistogram(labels: Uint8Array, indices: ArrayLike<number>, classes = NUM_CLASSES): number[] {
  const histogram = new Array<number>(classes).fill(0);
  for (let i = 0; i < indices.length; i++) {
    const label = labels[indices[i]!]!;
    histogram[label]!++;
  }
  return histogram;
}

export function assertLabelsInRange(labels: Uint8Array, classes = NUM_CLASSES): void {
  const bad = labels.findIndex((label) => label >= classes);
  if (bad >= 0) {
    throw new PartitionError(`sample ${bad} has label ${labels[bad]}, expected 0–${classes - 1}`);
  }
}
