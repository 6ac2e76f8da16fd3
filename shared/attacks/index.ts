import type { AdversariesConfig } from '../config/adversaries.js';
import type { ConfigProblem } from '../robust/problems.js';
import { adversaryClients, adversaryCount } from './select.js';
import { AttackError, alieUpdate, alieZ, gaussianNoise, scale, signFlip } from './model-poisoning.js';

export { flipLabels, flipShardLabels } from './label-flip.js';
export { AttackError, alieUpdate, alieZ, gaussianNoise, scale, signFlip } from './model-poisoning.js';
export { normalQuantile } from './normal-quantile.js';
export { adversaryClients, adversaryCount } from './select.js';

/** True when the attack changes what the client trains on (label flipping): the trainer flips its shard's labels. */
export function poisonsData(adversaries: AdversariesConfig): boolean {
  return adversaries.kind === 'label-flip';
}

/** True when the attack changes the uploaded update: the trainer calls `attackUpdate` on its honest Δ. */
export function poisonsUpdate(adversaries: AdversariesConfig): boolean {
  return adversaries.kind !== 'label-flip';
}

/** True when the attackers need each other's honest updates (ALIE): see docs/robustness.md for how they get them. */
export function needsColludingUpdates(adversaries: AdversariesConfig): boolean {
  return adversaries.kind === 'alie';
}

export interface AttackContext {
  /** seeds the noise; derive it per client and round, e.g. deriveSeed(config.seed, 'attack', round, clientId) */
  readonly seed: number;
  /** ALIE: the honest Δ of every attacker sampled this round, this client's own included, in a fixed order */
  readonly colluding?: readonly Float32Array[] | undefined;
  /** ALIE without a configured z: the updates the round expects (n), for z_max(n, f) with f = colluding.length */
  readonly roundUpdates?: number | undefined;
}

/** The Δ a malicious client uploads instead of its honest `delta` (flat). Label flipping leaves Δ as trained. */
export function attackUpdate(adversaries: AdversariesConfig, delta: Float32Array, context: AttackContext): Float32Array {
  switch (adversaries.kind) {
    case 'label-flip':
      return delta;
    case 'sign-flip':
      return signFlip(delta, adversaries.factor);
    case 'scale':
      return scale(delta, adversaries.factor);
    case 'gaussian':
      return gaussianNoise(delta, { sigma: adversaries.sigma, mode: adversaries.mode, seed: context.seed });
    case 'alie': {
      const colluding = context.colluding;
      if (colluding === undefined || colluding.length === 0) throw new AttackError('alie: the colluding attackers\' honest updates are missing');
      let z = adversaries.z;
      if (z === undefined) {
        if (context.roundUpdates === undefined) throw new AttackError('alie: z is not configured, so the round\'s number of updates is needed');
        z = alieZ(context.roundUpdates, colluding.length);
      }
      return alieUpdate(colluding, z);
    }
    default:
      throw new AttackError(`unknown attack kind ${JSON.stringify((adversaries as { kind: unknown }).kind)}`);
  }
}

/** Why this adversaries section cannot work with the experiment's clients (empty when it can). */
export function adversaryProblems(adversaries: AdversariesConfig, clientIds: readonly string[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const clients = clientIds.length;
  if (adversaries.clients !== undefined) {
    const known = new Set(clientIds);
    adversaries.clients.forEach((id, index) => {
      if (!known.has(id)) {
        problems.push({
          path: ['adversaries', 'clients', index],
          message: `${JSON.stringify(id)} is not a client of this experiment, whose ${clients} clients are ${clientIds[0]} to ${clientIds.at(-1)}`,
        });
      }
    });
  } else if (adversaries.fraction !== undefined && adversaryCount(adversaries.fraction, clients) === 0) {
    problems.push({
      path: ['adversaries', 'fraction'],
      message: `selects round(fraction × clients) = 0 of the ${clients} clients; must be at least ${Math.ceil((0.5 / clients) * 1000) / 1000} for one attacker (got ${adversaries.fraction})`,
    });
  }
  // The seed chooses which clients, never how many.
  const attackers = adversaryClients(adversaries, clientIds, 0).length;
  if (adversaries.kind === 'alie' && attackers === 1) {
    problems.push({
      path: ['adversaries', adversaries.clients !== undefined ? 'clients' : 'fraction'],
      message: 'alie needs at least 2 attackers: they send μ − z·σ of their own honest updates, and one update has no spread (got 1)',
    });
  }
  return problems;
}
