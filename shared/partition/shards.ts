import type { Random } from '../random.js';
import { indicesByLabel } from './labels.js';

/**
 * Pathological label skew (McMahan et al., 2017): sort by label, cut into clients × shardsPerClient equal shards,
 * give each client `shardsPerClient` shards at random. A shard can straddle a label boundary, so a client usually
 * sees shardsPerClient labels and occasionally a few more.
 */
export function partitionShards(
  labels: Uint8Array,
  clients: number,
  shardsPerClient: number,
  random: Random,
  classes?: number,
): Uint32Array[] {
  const sortedByLabel = concat(indicesByLabel(labels, classes));
  const shardCount = clients * shardsPerClient;
  const shardStart = (shard: number) => Math.floor((shard * sortedByLabel.length) / shardCount);
  const shardOrder = random.shuffleInPlace(Uint32Array.from({ length: shardCount }, (_, shard) => shard));
  return Array.from({ length: clients }, (_, client) => {
    const shards = shardOrder.subarray(client * shardsPerClient, (client + 1) * shardsPerClient);
    return concat(Array.from(shards, (shard) => sortedByLabel.subarray(shardStart(shard), shardStart(shard + 1))));
  });
}

function concat(parts: readonly Uint32Array[]): Uint32Array {
  const joined = new Uint32Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
