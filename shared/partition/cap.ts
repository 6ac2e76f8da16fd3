import type { Random } from '../random.js';
import { NUM_CLASSES } from '../data/types.js';

/**
 * How many samples of each label a client keeps when capped at `cap`: each label its proportional share of the cap,
 * the shares rounded by largest remainder so they add up to exactly `cap`. A function of the label histogram alone, so
 * the start step can state a natural client's capped histogram from its metadata without reading its data.
 */
export function cappedHistogram(histogram: readonly number[], cap: number): number[] {
  const total = histogram.reduce((sum, count) => sum + count, 0);
  if (total <= cap) return [...histogram];
  const exactShares = histogram.map((count) => (cap * count) / total);
  const shares = exactShares.map(Math.floor);
  const leftover = cap - shares.reduce((sum, share) => sum + share, 0);
  const byRemainder = exactShares
    .map((exact, label) => ({ label, remainder: exact - Math.floor(exact) }))
    .sort((a, b) => b.remainder - a.remainder || a.label - b.label);
  for (const { label } of byRemainder.slice(0, leftover)) shares[label]!++;
  return shares;
}

/**
 * A seeded random subset of `cap` of a client's samples that keeps its label mix: each label gets its share
 * (cappedHistogram), then that many of its samples at random.
 */
export function capPreservingLabelMix(indices: Uint32Array, labels: Uint8Array, cap: number, random: Random, classes = NUM_CLASSES): Uint32Array {
  if (indices.length <= cap) return indices;
  const byLabel: number[][] = Array.from({ length: classes }, () => []);
  for (const index of indices) byLabel[labels[index]!]!.push(index);
  const shares = cappedHistogram(byLabel.map((group) => group.length), cap);

  const kept: number[] = [];
  byLabel.forEach((group, label) => {
    // A partial Fisher–Yates: only the first `share` positions need to be drawn.
    const share = shares[label]!;
    for (let i = 0; i < share; i++) {
      const j = i + random.nextInt(group.length - i);
      [group[i], group[j]] = [group[j]!, group[i]!];
      kept.push(group[i]!);
    }
  });
  return Uint32Array.from(kept);
}
