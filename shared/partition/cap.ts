import type { Random } from '../random.js';
import { NUM_CLASSES } from '../data/types.js';

/**
 * A seeded random subset of `cap` of a client's samples that keeps its label mix: each label gets its proportional
 * share (largest remainder, so the shares add up to exactly `cap`), then that many of its samples at random.
 */
export function capPreservingLabelMix(indices: Uint32Array, labels: Uint8Array, cap: number, random: Random): Uint32Array {
  if (indices.length <= cap) return indices;
  const byLabel: number[][] = Array.from({ length: NUM_CLASSES }, () => []);
  for (const index of indices) byLabel[labels[index]!]!.push(index);

  const exactShares = byLabel.map((group) => (cap * group.length) / indices.length);
  const shares = exactShares.map(Math.floor);
  const leftover = cap - shares.reduce((total, share) => total + share, 0);
  const byRemainder = exactShares
    .map((exact, label) => ({ label, remainder: exact - Math.floor(exact) }))
    .sort((a, b) => b.remainder - a.remainder || a.label - b.label);
  for (const { label } of byRemainder.slice(0, leftover)) shares[label]!++;

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
