import type { Random } from '../random.js';
import { indicesByLabel } from './labels.js';

/**
 * Label-distribution skew (Hsu et al., 2019): each label's samples are split across clients in proportions drawn
 * from Dir(alpha). Small alpha concentrates a label on few clients; large alpha tends to IID. A client left empty
 * takes one sample from the largest client, so every client has at least one sample.
 */
export function partitionDirichlet(labels: Uint8Array, clients: number, alpha: number, random: Random, classes?: number): Uint32Array[] {
  const assigned: number[][] = Array.from({ length: clients }, () => []);
  for (const labelIndices of indicesByLabel(labels, classes)) {
    if (labelIndices.length === 0) continue;
    random.shuffleInPlace(labelIndices);
    const proportions = random.dirichlet(alpha, clients);
    let cumulative = 0;
    let start = 0;
    for (let client = 0; client < clients; client++) {
      cumulative += proportions[client]!;
      // The last client takes the rest so rounding never drops or duplicates a sample.
      const end = client === clients - 1 ? labelIndices.length : Math.min(labelIndices.length, Math.round(cumulative * labelIndices.length));
      for (let i = start; i < end; i++) assigned[client]!.push(labelIndices[i]!);
      start = Math.max(start, end);
    }
  }
  for (const receiver of assigned) {
    if (receiver.length > 0) continue;
    const donor = assigned.reduce((largest, candidate) => (candidate.length > largest.length ? candidate : largest));
    const taken = random.nextInt(donor.length);
    receiver.push(donor[taken]!);
    donor[taken] = donor[donor.length - 1]!;
    donor.pop();
  }
  return assigned.map((indices) => Uint32Array.from(indices));
}
