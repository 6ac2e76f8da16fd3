import type { SamplingConfig } from '../config/schema.js';
import type { PartitionStats } from '../metrics/types.js';
import { createRandom, deriveSeed, type Random } from '../random.js';
import { poissonSample } from '../privacy/sampling.js';
import { clientsPerRound } from './count.js';

export { clientsPerRound } from './count.js';

export interface SelectClientsArgs {
  /** every client of the experiment, in a fixed order */
  readonly clientIds: readonly string[];
  readonly round: number;
  /** the experiment's seed: the selection is a pure function of (seed, round, clients, sampling, partition) */
  readonly seed: number;
  /** absent: every client trains every round */
  readonly sampling?: SamplingConfig | undefined;
  /** the per-client label histograms; `stratified` needs them */
  readonly partition?: PartitionStats | undefined;
}

/**
 * The clients asked to train in `round`, in their `clientIds` order. Without `sampling`, all of them. Otherwise
 * `clientsPerRound(sampling, clientIds.length)` of them, drawn with a random stream seeded by (seed, round), so a
 * retried or replayed round selects the same clients, and different rounds usually select different ones:
 * - `uniform`: a sample without replacement, every subset of that size equally likely;
 * - `stratified`: see `stratifiedSelection`.
 */
export function selectClients(args: SelectClientsArgs): string[] {
  const { clientIds, round, seed, sampling, partition } = args;
  if (!Number.isSafeInteger(round) || round < 1) throw new RangeError(`selectClients: round must be a positive integer (got ${round})`);
  if (new Set(clientIds).size !== clientIds.length) throw new RangeError('selectClients: clientIds has duplicates');
  if (sampling === undefined) return [...clientIds];
  if (clientIds.length === 0) return [];
  if (sampling.method === 'poisson') {
    // Seeded here; a DP run draws from the CSPRNG instead unless privacy.randomness is "seeded" (privacy-round.ts).
    const sampleRate = sampling.fraction ?? sampling.perRound! / clientIds.length;
    return poissonSample({ clientIds, sampleRate, round, randomness: { mode: 'seeded', seed } });
  }
  const count = clientsPerRound(sampling, clientIds.length);
  const random = createRandom(deriveSeed(seed, 'sampling', round));
  const chosen =
    sampling.method === 'stratified'
      ? stratifiedSelection(labelHistograms(clientIds, partition), count, random)
      : random.shuffleInPlace(clientIds.map((_, index) => index)).slice(0, count);
  return chosen.sort((a, b) => a - b).map((index) => clientIds[index]!);
}

/**
 * Greedy stratified selection: the selection's pooled label histogram (the sum of its clients' histograms) should
 * have the label proportions of the whole federation. The objective is the total-variation distance
 *   TV(S) = ½·Σ_label | pooled_S(label)/Σ pooled_S − global(label)/Σ global |,
 * 0 when the selection's label mix is exactly the federation's and 1 when they share no label.
 * The first client is drawn at random, so the selection changes from round to round and every client gets turns;
 * each next one is the client that makes TV(S) smallest, ties broken at random. Returns indices into `histograms`.
 */
function stratifiedSelection(histograms: readonly (readonly number[])[], count: number, random: Random): number[] {
  const labels = Math.max(0, ...histograms.map((histogram) => histogram.length));
  const global = new Float64Array(labels);
  for (const histogram of histograms) histogram.forEach((samples, label) => (global[label]! += samples));
  const globalTotal = global.reduce((sum, samples) => sum + samples, 0);
  const target = global.map((samples) => (globalTotal > 0 ? samples / globalTotal : 0));

  // Visiting candidates in a random order and keeping the first of equally good ones breaks ties at random.
  const remaining = random.shuffleInPlace(histograms.map((_, index) => index));
  const pooled = new Float64Array(labels);
  const chosen: number[] = [];
  const take = (position: number) => {
    const [client] = remaining.splice(position, 1);
    histograms[client!]!.forEach((samples, label) => (pooled[label]! += samples));
    chosen.push(client!);
  };

  take(0);
  while (chosen.length < count) {
    let bestPosition = 0;
    let bestDistance = Infinity;
    remaining.forEach((client, position) => {
      const distance = distanceWith(pooled, histograms[client]!, target);
      // A small margin keeps float noise in the sums from deciding what is really a tie.
      if (distance < bestDistance - 1e-12) {
        bestDistance = distance;
        bestPosition = position;
      }
    });
    take(bestPosition);
  }
  return chosen;
}

/** TV distance between (pooled + candidate)'s label proportions and `target`. */
function distanceWith(pooled: Float64Array, candidate: readonly number[], target: Float64Array): number {
  let total = 0;
  for (let label = 0; label < pooled.length; label++) total += pooled[label]! + (candidate[label] ?? 0);
  if (total === 0) return 1;
  let distance = 0;
  for (let label = 0; label < pooled.length; label++) {
    distance += Math.abs((pooled[label]! + (candidate[label] ?? 0)) / total - target[label]!);
  }
  return distance / 2;
}

function labelHistograms(clientIds: readonly string[], partition: PartitionStats | undefined): (readonly number[])[] {
  if (partition === undefined) {
    throw new Error('sampling.method "stratified" needs the partition\'s label histograms (partition.json); none were given');
  }
  const byClient = new Map(partition.clients.map((client) => [client.clientId, client.labelHistogram]));
  return clientIds.map((clientId) => {
    const histogram = byClient.get(clientId);
    if (histogram === undefined) throw new Error(`sampling.method "stratified": the partition has no label histogram for client ${JSON.stringify(clientId)}`);
    return histogram;
  });
}
