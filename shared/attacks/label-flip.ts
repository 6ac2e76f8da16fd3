import type { Dataset } from '../data/types.js';
import { NUM_CLASSES } from '../data/types.js';
import { AttackError } from './model-poisoning.js';

/** Label flipping (data poisoning): every label y becomes C − 1 − y, so each class is trained as its mirror. */
export function flipLabels(labels: Uint8Array, classes = NUM_CLASSES): Uint8Array {
  if (!Number.isSafeInteger(classes) || classes < 2 || classes > 256) throw new AttackError(`label flip: classes must be an integer from 2 to 256 (got ${classes})`);
  return labels.map((label, index) => {
    if (label >= classes) throw new AttackError(`label flip: label ${index} is ${label}, outside the ${classes} classes`);
    return classes - 1 - label;
  });
}

/** The shard with its labels flipped; the images are shared, not copied. */
export function flipShardLabels(shard: Dataset): Dataset {
  return { ...shard, labels: flipLabels(shard.labels, shard.classes) };
}
