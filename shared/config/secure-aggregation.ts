import { z } from 'zod';
import { clientsPerRound, type SamplingSize } from '../sampling/count.js';
import { maxQuantizationBits } from '../secagg/quantize.js';
import { DISTRIBUTED_SAMPLING_MESSAGE } from './distributed-privacy.js';

/**
 * The `secureAggregation` config section and the cross-field rules it needs; experimentConfigSchema (schema.ts)
 * reports secureAggregationProblems(config) from its superRefine.
 */
export const secureAggregationSchema = z
  .strictObject({
    threshold: z
      .int()
      .min(1)
      .max(10_000)
      .describe(
        "t: how many of a client's neighbours must answer to remove its masks. More than half of k and at most k; a round survives up to k − t dropouts in any client's neighbourhood.",
      ),
    neighbours: z
      .int()
      .min(2)
      .max(10_000)
      .optional()
      .describe(
        'k: how many neighbours each client shares its masks and secrets with (SecAgg+, Bell et al. 2020), an even number. Omit it for the complete graph (SecAgg, Bonawitz et al. 2017): O(n) work and bytes per client instead of O(k).',
      ),
    clippingRange: z.number().positive().max(1e6).describe('c: every coordinate of a masked update is clipped to [−c, c] before it is quantized. With privacy, at least C + 8·σ·C/√m (m: the larger of threshold and round.minClients), so that the clients\' noise shares fit.'),
    quantizationBits: z
      .int()
      .min(1)
      .max(31)
      .describe('Each coordinate becomes an integer of this many bits; clients per round × 2^bits must stay below 2^32 so the masked sum cannot wrap.'),
    rounding: z
      .enum(['stochastic', 'nearest'])
      .default('stochastic')
      .describe('stochastic: unbiased rounding (the error averages out over clients); nearest: at most half a step off, deterministic.'),
    stageDeadlineSeconds: z
      .int()
      .min(1)
      .max(3600)
      .default(120)
      .describe(
        'Seconds each key stage (advertise keys, share keys, unmask) waits for the clients; a client that has not answered by then drops out. The masked-input stage, where clients train, waits round.deadlineSeconds.',
      ),
  })
  .superRefine(({ neighbours }, ctx) => {
    if (neighbours !== undefined && Number.isSafeInteger(neighbours) && neighbours % 2 !== 0) {
      ctx.addIssue({ code: 'custom', path: ['neighbours'], message: `must be an even number: each client is joined to k/2 clients on either side of a random cycle (got ${neighbours})` });
    }
  })
  .describe('Secure aggregation (SecAgg/SecAgg+): clients mask their updates so that the server learns only their sum. Omit it to send updates in the clear.');

export type SecureAggregationConfig = z.output<typeof secureAggregationSchema>;
export type SecureAggregationConfigInput = z.input<typeof secureAggregationSchema>;

/**
 * Aggregators that need each client's own update (distances, medians, norms): under secure aggregation the server has
 * only the sum. Names as issue 12 proposes them; the integration keeps this list in step with the real ones.
 */
export const AGGREGATORS_NEEDING_INDIVIDUAL_UPDATES = ['median', 'trimmed-mean', 'krum', 'multi-krum', 'bulyan', 'centered-clipping', 'norm-bounded', 'geometric-median'] as const;

/** The parts of an experiment config secure aggregation depends on (ExperimentConfig satisfies it once wired). */
export interface SecureAggregationContext {
  readonly clients: number;
  readonly strategy: { readonly name: string };
  readonly sampling?: (SamplingSize & { readonly method?: string | undefined }) | undefined;
  /** with secureAggregation, DP is distributed: its rules (privacyProblems in privacy.ts) check the combination */
  readonly privacy?: unknown;
  /** sections the masked pipeline does not carry yet: present means refused */
  readonly compression?: unknown;
  readonly adversaries?: unknown;
  /** a robust aggregator, wherever the config ends up naming it */
  readonly aggregator?: { readonly name?: string | undefined; readonly kind?: string | undefined } | undefined;
  readonly secureAggregation?: SecureAggregationConfig | undefined;
}

export interface ConfigProblem {
  readonly path: readonly (string | number)[];
  /** what is allowed and what was given, for a line `path: message` */
  readonly message: string;
}

function sampledClients(config: SecureAggregationContext): number | undefined {
  try {
    return config.sampling === undefined ? config.clients : clientsPerRound(config.sampling, config.clients);
  } catch {
    return undefined; // an invalid sampling section is reported by its own rules
  }
}

/**
 * Every reason this config cannot run with secure aggregation; empty when it can (or when the section is absent).
 * FedPer is not refused: its local layers never leave the client, so they simply stay out of the masked vector
 * (flattenWeights' `include` in shared/secagg/weights-adapter.ts). Server optimizers (FedAvgM, FedAdam, …) and FedProx
 * need only the mean, which is what unmasking yields.
 */
export function secureAggregationProblems(config: SecureAggregationContext): ConfigProblem[] {
  const section = config.secureAggregation;
  if (section === undefined) return [];
  const problems: ConfigProblem[] = [];
  const at = (...path: (string | number)[]) => ['secureAggregation', ...path];
  const n = sampledClients(config);
  if (n !== undefined) {
    if (n < 2) {
      problems.push({ path: at(), message: `needs at least 2 clients per round: the sum of one client's update is that update (got ${n})` });
    } else {
      const complete = section.neighbours === undefined || section.neighbours >= n - 1;
      const k = complete ? n - 1 : section.neighbours!;
      const graph = complete ? `the complete graph of ${n} clients per round` : `${k} neighbours`;
      const t = section.threshold;
      if (t > k) {
        problems.push({ path: at('threshold'), message: `must be at most k = ${k}, the neighbours each client shares its secrets with (${graph}) (got ${t})` });
      } else if (2 * t <= k) {
        problems.push({
          path: at('threshold'),
          message: `must be more than half of k = ${k} (${graph}), i.e. at least ${Math.floor(k / 2) + 1}, so that no server can collect both shares of a client (got ${t})`,
        });
      }
      const maxBits = maxQuantizationBits(n);
      if (section.quantizationBits > maxBits) {
        problems.push({
          path: at('quantizationBits'),
          message: `must be at most ${maxBits} for ${n} clients per round: clients × 2^bits must stay below 2^32 so that the masked sum cannot wrap (got ${section.quantizationBits})`,
        });
      }
    }
  }
  if (config.strategy.name === 'scaffold' || config.strategy.name === 'feddyn') {
    const state = config.strategy.name === 'scaffold' ? "SCAFFOLD's server reads and stores each client's own control variate" : "FedDyn's server stores each client's own state g_k";
    problems.push({
      path: ['strategy', 'name'],
      message: `cannot be "${config.strategy.name}" with secureAggregation: ${state}, which secure aggregation exists to hide (got "${config.strategy.name}")`,
    });
  }
  if (config.strategy.name === 'fednova') {
    problems.push({
      path: ['strategy', 'name'],
      message: `cannot be "fednova" with secureAggregation: FedNova weighs each client by its own number of local steps, and masked updates are weighted by samples only (got "fednova")`,
    });
  }
  if (config.privacy !== undefined && config.sampling !== undefined) {
    // The same sentence as privacyProblems (distributed-privacy.ts): one answer, not "use uniform" here and "use poisson" there.
    problems.push({ path: ['sampling'], message: DISTRIBUTED_SAMPLING_MESSAGE });
  } else if (config.sampling?.method === 'poisson') {
    problems.push({
      path: ['sampling', 'method'],
      message: 'cannot be "poisson" with secureAggregation: the threshold and the quantization range are fixed for a known number of clients per round; use "uniform" or "stratified" (got "poisson")',
    });
  }
  const notCarried: [string, unknown, string][] = [
    ['compression', config.compression, 'a masked vector is uniform words mod 2^32 and does not compress; quantization is secureAggregation.quantizationBits'],
    ['adversaries', config.adversaries, 'the simulated attacks shape plain uploads and are not wired into the masked pipeline'],
  ];
  for (const [field, value, why] of notCarried) {
    if (value !== undefined) problems.push({ path: [field], message: `cannot be combined with secureAggregation: ${why}; remove one of the two sections` });
  }
  const robust: [readonly (string | number)[], string | undefined][] = [
    [['strategy', 'name'], config.strategy.name],
    [['aggregator', 'name'], config.aggregator?.name],
    [['aggregator', 'kind'], config.aggregator?.kind],
  ];
  for (const [path, name] of robust) {
    if (name !== undefined && (AGGREGATORS_NEEDING_INDIVIDUAL_UPDATES as readonly string[]).includes(name)) {
      problems.push({
        path,
        message: `cannot be "${name}" with secureAggregation: it needs every client's individual update (medians, distances or norms), and the server sees only their sum; use an averaging strategy such as "fedavg" (got "${name}")`,
      });
    }
  }
  return problems;
}
