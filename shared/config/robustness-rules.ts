import { adversaryProblems } from '../attacks/index.js';
import { clientIdFor } from '../protocol/keys.js';
import type { ConfigProblem } from '../robust/problems.js';
import { robustProblems } from '../robust/problems.js';
import { clientsPerRound } from '../sampling/count.js';
import type { AdversariesConfig } from './adversaries.js';
import type { AggregatorConfig } from './robust.js';

/**
 * The cross-field rules of `aggregator` and `adversaries` that need nothing but the config (the
 * aggregator's memory needs the model's size: shared/pipeline/robust-config.ts checks it with the other
 * model-dependent rules). Each problem names its field and says what would work.
 */
export interface RobustnessConfigView {
  readonly clients: number;
  readonly sampling?: { readonly fraction?: number | undefined; readonly perRound?: number | undefined } | undefined;
  readonly round: { readonly minClients?: number | undefined };
  readonly strategy: { readonly name: string };
  readonly partition: { readonly kind: string; readonly clients?: readonly string[] | undefined };
  readonly personalization?: unknown;
  readonly aggregator?: AggregatorConfig | undefined;
  readonly adversaries?: AdversariesConfig | undefined;
}

export function robustnessProblems(config: RobustnessConfigView): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const sampled = sampledPerRound(config);
  // A value that broke its own rule was reported already; the cross-field rules only compare sane values.
  if (sampled === undefined) return problems;
  const { aggregator, adversaries } = config;

  if (aggregator && aggregator.kind !== 'mean') {
    problems.push(...robustProblems(aggregator, { clientsPerRound: sampled, minClients: config.round.minClients }));
    if (config.strategy.name === 'scaffold') {
      problems.push({
        path: ['aggregator', 'kind'],
        message: `"${aggregator.kind}" cannot be combined with strategy "scaffold": its control variates are averaged with the plain mean, so one attacker could still steer every client's correction; use "mean" or another strategy`,
      });
    }
  }

  if (adversaries) {
    const ids = knownClientIds(config);
    if (ids) problems.push(...adversaryProblems(adversaries, ids));
    if (adversaries.kind === 'alie' && config.personalization !== undefined) {
      problems.push({
        path: ['adversaries', 'kind'],
        message: '"alie" cannot be combined with personalization: the attackers recompute each other\'s honest updates from the global model, which personalized clients do not start from',
      });
    }
  }

  return problems;
}

function sampledPerRound(config: RobustnessConfigView): number | undefined {
  if (!Number.isSafeInteger(config.clients) || config.clients < 1) return undefined;
  if (config.sampling === undefined) return config.clients;
  try {
    return clientsPerRound(config.sampling, config.clients);
  } catch {
    return undefined;
  }
}

/** The experiment's client ids when the config alone says them (a natural partition without a list does not). */
function knownClientIds(config: RobustnessConfigView): readonly string[] | undefined {
  if (config.partition.kind === 'natural') return config.partition.clients;
  return Array.from({ length: config.clients }, (_, index) => clientIdFor(index));
}
