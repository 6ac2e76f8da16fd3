import type { ConfigProblem } from '../robust/problems.js';
import { clientsPerRound, type SamplingSize } from '../sampling/count.js';

/** At most this many aggregator groups a round: √10,000, the largest round the model in docs/scale.md looks at. */
export const MAX_ROUND_GROUPS = 100;

/**
 * Strategies whose server half adopts client state or reads per-client side uploads at the close (SCAFFOLD's c_i,
 * FedDyn's g_k): a group's partial sum cannot carry those, so their rounds stay in one group. test/round-groups.test.ts
 * checks this list against the strategies' own declarations.
 */
export const STRATEGIES_WITH_CLIENT_STATE = ['scaffold', 'feddyn'] as const;

interface GroupedConfig {
  readonly clients: number;
  readonly strategy: { readonly name: string };
  readonly round: { readonly groups: number };
  readonly sampling?: (SamplingSize & { readonly method?: string | undefined }) | undefined;
  readonly privacy?: unknown;
  readonly secureAggregation?: unknown;
  readonly compression?: unknown;
  readonly aggregator?: { readonly kind: string } | undefined;
}

/**
 * A round split into groups adds partial sums (Σ wᵢ·xᵢ, Σ wᵢ): only a close that is such a sum may be split. Each
 * problem says what stands in the way, so the person can drop one or the other.
 */
export function groupingProblems(config: GroupedConfig): ConfigProblem[] {
  const { groups } = config.round;
  if (!(groups > 1)) return [];
  const path = ['round', 'groups'];
  const because = (what: string): ConfigProblem => ({ path, message: `must be 1 with ${what}: the close is not a sum of the updates that groups could add up (got ${groups})` });
  const problems: ConfigProblem[] = [];
  if (config.privacy !== undefined) problems.push(because('privacy (the noise and the clipping bound are set for the whole round)'));
  if (config.secureAggregation !== undefined) problems.push(because('secureAggregation (the masks cancel over the whole round only)'));
  if (config.compression !== undefined) problems.push(because('compression (updates are decoded at the close)'));
  if (config.aggregator !== undefined && config.aggregator.kind !== 'mean') problems.push(because(`aggregator "${config.aggregator.kind}" (it needs every update at once)`));
  if ((STRATEGIES_WITH_CLIENT_STATE as readonly string[]).includes(config.strategy.name)) {
    problems.push(because(`strategy "${config.strategy.name}" (the server adopts each accepted client's state at the close)`));
  }
  const sampling = config.sampling;
  const fixedSize = sampling === undefined || sampling.method !== 'poisson';
  let sampled = config.clients;
  try {
    if (sampling) sampled = clientsPerRound(sampling, config.clients);
  } catch {
    return problems; // the sampling's own rule reports it
  }
  if (fixedSize && groups > sampled) {
    problems.push({ path, message: `must be at most the clients asked to train each round, ${sampled} (got ${groups})` });
  }
  return problems;
}
