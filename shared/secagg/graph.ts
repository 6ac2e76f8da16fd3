import { hkdfSha256, prgStream, uniformIndex, utf8 } from './crypto.js';

/**
 * Who shares secrets and pairwise masks with whom. SecAgg (Bonawitz et al., 2017) uses the complete graph: every
 * client with every other, O(n) work and bytes per client. SecAgg+ (Bell et al., 2020) uses a sparse random graph
 * with k = O(log n) neighbours. Ours is the k-regular Harary graph on a random cycle, the construction Flower's
 * SecAgg+ workflow uses too: clients are permuted with a PRG keyed by the round's public seed, then each is joined
 * to the k/2 clients on either side of it. Every party derives the same graph from the setup record.
 */

export class NeighbourGraphError extends Error {
  override name = 'NeighbourGraphError';
}

/** True when `neighbours` asks for the complete graph of `clients` (absent, or at least every other client). */
export function isCompleteGraph(neighbours: number | null | undefined, clients: number): boolean {
  return neighbours === undefined || neighbours === null || neighbours >= clients - 1;
}

/** k: how many neighbours each client has in a round of `clients`. */
export function neighbourCount(neighbours: number | null | undefined, clients: number): number {
  return isCompleteGraph(neighbours, clients) ? clients - 1 : neighbours!;
}

/** Why `neighbours` cannot build a graph on `clients` (a sentence), or undefined. */
export function neighbourGraphProblem(neighbours: number | null | undefined, clients: number): string | undefined {
  if (isCompleteGraph(neighbours, clients)) return undefined;
  const k = neighbours!;
  // An odd k needs an even number of clients and a different construction; an even k works for every n > k.
  if (!Number.isSafeInteger(k) || k < 2 || k % 2 !== 0) return `neighbours must be an even integer of at least 2 (got ${k})`;
  return undefined;
}

/**
 * Each client's neighbours, sorted in `clientIds` order (the order that numbers the clients' Shamir points).
 * `seed` is public: it fixes the graph, not any secret.
 */
export function neighbourGraph(clientIds: readonly string[], neighbours: number | null | undefined, seed: Uint8Array): ReadonlyMap<string, readonly string[]> {
  const n = clientIds.length;
  const problem = neighbourGraphProblem(neighbours, n);
  if (problem !== undefined) throw new NeighbourGraphError(problem);
  if (new Set(clientIds).size !== n) throw new NeighbourGraphError('client ids must be unique');
  const graph = new Map<string, string[]>();
  if (isCompleteGraph(neighbours, n)) {
    for (const id of clientIds) graph.set(id, clientIds.filter((other) => other !== id));
    return graph;
  }
  const random = prgStream(hkdfSha256(seed, new Uint8Array(0), utf8('flambda-secagg/v1 neighbour graph'), 32));
  const cycle = clientIds.map((_, index) => index);
  for (let i = n - 1; i > 0; i--) {
    const j = uniformIndex(random, i + 1);
    [cycle[i], cycle[j]] = [cycle[j]!, cycle[i]!];
  }
  const half = neighbours! / 2;
  for (let position = 0; position < n; position++) {
    const joined: number[] = [];
    for (let step = 1; step <= half; step++) joined.push(cycle[(position + step) % n]!, cycle[(position - step + n) % n]!);
    graph.set(
      clientIds[cycle[position]!]!,
      joined.sort((a, b) => a - b).map((index) => clientIds[index]!),
    );
  }
  return graph;
}
