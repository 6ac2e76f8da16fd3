import type { Random } from '../random.js';

/** IID: one shuffle of all sample indices, dealt into `clients` contiguous runs whose sizes differ by at most one. */
export function partitionIid(sampleCount: number, clients: number, random: Random): Uint32Array[] {
  const order = random.shuffleInPlace(Uint32Array.from({ length: sampleCount }, (_, index) => index));
  return Array.from({ length: clients }, (_, client) =>
    order.slice(Math.floor((client * sampleCount) / clients), Math.floor(((client + 1) * sampleCount) / clients)),
  );
}
