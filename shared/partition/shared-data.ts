import { NUM_CLASSES } from '../data/types.js';
import { createRandom, deriveSeed, type Random } from '../random.js';
import { capPreservingLabelMix } from './cap.js';
import { PartitionError } from './errors.js';
import { indicesByLabel } from './labels.js';

/**
 * Zhao et al. (2018)'s globally shared data as pure functions of the labels and the seed: which training samples form
 * the public subset G, and which share of G each client receives. The start step stores G once; each trainer mixes its
 * share into its own training set (shared/pipeline/datasets.ts).
 */

/**
 * How many samples of each class G holds: round(fraction × samples) split evenly over the classes; when it does not
 * divide, the leftover samples go one each to classes drawn at random, so G stays balanced to within one sample.
 */
export function sharedHistogram(sampleCount: number, fraction: number, classes: number, random: Random): number[] {
  const total = Math.round(fraction * sampleCount);
  if (total < classes) {
    throw new PartitionError(
      `sharedData.fraction ${fraction} of ${sampleCount} training samples is ${total} sample${total === 1 ? '' : 's'}, fewer than one per class (${classes} classes): use a fraction of at least ${(classes / sampleCount).toPrecision(2)}`,
    );
  }
  const histogram = new Array<number>(classes).fill(Math.floor(total / classes));
  const order = random.shuffleInPlace(Array.from({ length: classes }, (_, label) => label));
  for (const label of order.slice(0, total % classes)) histogram[label]!++;
  return histogram;
}

/**
 * The indices (ascending) of the public subset G: for each class its share of round(fraction × samples), drawn at
 * random from that class's samples with the experiment's seed. The same labels, fraction and seed give the same G.
 */
export function drawSharedSubset(labels: Uint8Array, fraction: number, seed: number, classes = NUM_CLASSES): Uint32Array {
  const random = createRandom(deriveSeed(seed, 'shared-data'));
  const wanted = sharedHistogram(labels.length, fraction, classes, random);
  const groups = indicesByLabel(labels, classes);
  const short = wanted.findIndex((count, label) => count > groups[label]!.length);
  if (short >= 0) {
    throw new PartitionError(
      `sharedData.fraction ${fraction} asks for ${wanted[short]} samples of class ${short}, but the training set has only ${groups[short]!.length}: use a smaller fraction`,
    );
  }
  const chosen: number[] = [];
  groups.forEach((group, label) => {
    const pool = Array.from(group);
    // A partial Fisher–Yates: only the first `count` positions need to be drawn.
    for (let i = 0; i < wanted[label]!; i++) {
      const j = i + random.nextInt(pool.length - i);
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
      chosen.push(pool[i]!);
    }
  });
  return Uint32Array.from(chosen).sort();
}

/** How many samples of G each client receives: α·|G|, rounded, at least one. */
export function sharedSamplesPerClient(sharedCount: number, perClient: number): number {
  return Math.max(1, Math.min(sharedCount, Math.round(perClient * sharedCount)));
}

/**
 * The positions in G (ascending) of the share client `clientId` receives: a seeded random subset of α·|G| samples
 * keeping G's class balance, the same in every round (Zhao et al. distribute it once, at the start).
 */
export function sharedShareFor(sharedLabels: Uint8Array, perClient: number, seed: number, clientId: string, classes = NUM_CLASSES): Uint32Array {
  const all = Uint32Array.from({ length: sharedLabels.length }, (_, i) => i);
  const count = sharedSamplesPerClient(sharedLabels.length, perClient);
  return Uint32Array.from(capPreservingLabelMix(all, sharedLabels, count, createRandom(deriveSeed(seed, 'shared-data-share', clientId)), classes)).sort();
}
