import type { AdversariesConfig } from '../config/adversaries.js';
import { createRandom, deriveSeed } from '../random.js';

/**
 * The malicious clients of an experiment: the ones named, or a seeded choice of round(fraction × clients) of them.
 * The seed does not involve the round, so the same clients attack in every round they are sampled.
 * Returned in the order of `clientIds`.
 */
export function adversaryClients(adversaries: Pick<AdversariesConfig, 'fraction' | 'clients'>, clientIds: readonly string[], seed: number): string[] {
  if (adversaries.clients !== undefined) {
    const named = new Set(adversaries.clients);
    return clientIds.filter((id) => named.has(id));
  }
  const count = adversaryCount(adversaries.fraction ?? 0, clientIds.length);
  const order = createRandom(deriveSeed(seed, 'adversaries')).shuffleInPlace(clientIds.map((_, index) => index));
  const chosen = new Set(order.slice(0, count));
  return clientIds.filter((_, index) => chosen.has(index));
}

/** round(fraction × clients), rounded as sampling.fraction is. */
export function adversaryCount(fraction: number, clients: number): number {
  return Math.min(clients, Math.round(fraction * clients));
}
