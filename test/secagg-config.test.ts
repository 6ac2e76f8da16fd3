import { describe, expect, it } from 'vitest';
import { parseExperimentConfig } from '../shared/config/parse.js';
import { secureAggregationProblems, secureAggregationSchema, type SecureAggregationContext } from '../shared/config/secure-aggregation.js';
import { createRoundSetup, roundSetupProblems } from '../shared/secagg/setup.js';

const section = (input: Record<string, unknown>) => secureAggregationSchema.parse(input);
type ContextInput = Omit<Partial<SecureAggregationContext>, 'secureAggregation'> & { secureAggregation: Record<string, unknown> };
const context = (overrides: ContextInput): SecureAggregationContext => ({
  clients: 100,
  strategy: { name: 'fedavg' },
  ...overrides,
  secureAggregation: section(overrides.secureAggregation),
});

describe('secureAggregation config section', () => {
  it('parses with stochastic rounding by default and refuses unknown fields and odd neighbour counts', () => {
    expect(section({ threshold: 8, neighbours: 14, clippingRange: 0.5, quantizationBits: 16 })).toEqual({
      threshold: 8,
      neighbours: 14,
      clippingRange: 0.5,
      quantizationBits: 16,
      rounding: 'stochastic',
      stageDeadlineSeconds: 120,
    });
    expect(secureAggregationSchema.safeParse({ threshold: 8, clippingRange: 1, quantizationBits: 16, treshold: 3 }).success).toBe(false);
    const odd = secureAggregationSchema.safeParse({ threshold: 4, neighbours: 7, clippingRange: 1, quantizationBits: 16 });
    expect(odd.success).toBe(false);
    expect(odd.error?.issues[0]).toMatchObject({ path: ['neighbours'], message: expect.stringContaining('must be an even number') });
  });

  it('accepts a workable SecAgg+ round and a workable complete graph', () => {
    expect(secureAggregationProblems(context({ secureAggregation: { threshold: 8, neighbours: 14, clippingRange: 1, quantizationBits: 20 } }))).toEqual([]);
    expect(secureAggregationProblems(context({ clients: 10, secureAggregation: { threshold: 6, clippingRange: 1, quantizationBits: 24 } }))).toEqual([]);
    expect(secureAggregationProblems({ clients: 10, strategy: { name: 'scaffold' } })).toEqual([]);
  });

  it('refuses t > k and t ≤ k/2, naming k and the graph it comes from', () => {
    expect(secureAggregationProblems(context({ secureAggregation: { threshold: 15, neighbours: 14, clippingRange: 1, quantizationBits: 16 } }))).toEqual([
      { path: ['secureAggregation', 'threshold'], message: 'must be at most k = 14, the neighbours each client shares its secrets with (14 neighbours) (got 15)' },
    ]);
    expect(secureAggregationProblems(context({ secureAggregation: { threshold: 7, neighbours: 14, clippingRange: 1, quantizationBits: 16 } }))).toEqual([
      {
        path: ['secureAggregation', 'threshold'],
        message: 'must be more than half of k = 14 (14 neighbours), i.e. at least 8, so that no server can collect both shares of a client (got 7)',
      },
    ]);
    // With sampling, k is counted on the clients per round: 20 of 100 → the complete graph has k = 19.
    expect(
      secureAggregationProblems(context({ sampling: { perRound: 20 }, secureAggregation: { threshold: 20, clippingRange: 1, quantizationBits: 16 } }))[0]?.message,
    ).toBe('must be at most k = 19, the neighbours each client shares its secrets with (the complete graph of 20 clients per round) (got 20)');
  });

  it('refuses quantization that could wrap the sum for the round\'s clients', () => {
    expect(secureAggregationProblems(context({ clients: 1000, secureAggregation: { threshold: 12, neighbours: 20, clippingRange: 1, quantizationBits: 23 } }))).toEqual([
      {
        path: ['secureAggregation', 'quantizationBits'],
        message: 'must be at most 22 for 1000 clients per round: clients × 2^bits must stay below 2^32 so that the masked sum cannot wrap (got 23)',
      },
    ]);
  });

  it('refuses a round of one client, SCAFFOLD, and aggregators that need individual updates', () => {
    const ok = { threshold: 1, clippingRange: 1, quantizationBits: 16 };
    expect(secureAggregationProblems(context({ clients: 1, secureAggregation: ok }))).toEqual([
      { path: ['secureAggregation'], message: "needs at least 2 clients per round: the sum of one client's update is that update (got 1)" },
    ]);
    const good = { threshold: 8, neighbours: 14, clippingRange: 1, quantizationBits: 16 };
    expect(secureAggregationProblems(context({ strategy: { name: 'scaffold' }, secureAggregation: good })).map((p) => p.path)).toEqual([['strategy', 'name']]);
    const krum = secureAggregationProblems(context({ aggregator: { name: 'krum' }, secureAggregation: good }));
    expect(krum).toEqual([
      {
        path: ['aggregator', 'name'],
        message:
          'cannot be "krum" with secureAggregation: it needs every client\'s individual update (medians, distances or norms), and the server sees only their sum; use an averaging strategy such as "fedavg" (got "krum")',
      },
    ]);
    expect(secureAggregationProblems(context({ strategy: { name: 'median' }, secureAggregation: good })).map((p) => p.path)).toEqual([['strategy', 'name']]);
    expect(secureAggregationProblems(context({ strategy: { name: 'fedadam' }, secureAggregation: good }))).toEqual([]);
  });
});

describe('the same rules on the round actually sampled (roundSetupProblems)', () => {
  const round = { clippingRange: 1, quantizationBits: 16, rounding: 'stochastic' as const, vectorLength: 10, maxWeight: 100 };
  const clients = (n: number) => Array.from({ length: n }, (_, i) => `client-${String(i).padStart(3, '0')}`);

  it('accepts a workable round and lists every problem of a broken one', () => {
    expect(roundSetupProblems({ ...round, clients: clients(10), threshold: 6 })).toEqual([]);
    expect(roundSetupProblems({ ...round, clients: clients(1), threshold: 1 })).toEqual([
      'secure aggregation needs at least 2 clients in a round: the sum of one client is its update (got 1)',
    ]);
    expect(roundSetupProblems({ ...round, clients: clients(20), neighbours: 5, threshold: 3, quantizationBits: 28 })).toEqual([
      'neighbours must be an even integer of at least 2 (got 5)',
      'quantizationBits must be an integer from 1 to 27 for 20 clients per round: clients × 2^bits must stay below 2^32 so that the masked sum cannot wrap (got 28)',
    ]);
    expect(() => createRoundSetup({ ...round, experimentId: 'e', round: 1, clients: clients(10), threshold: 4 })).toThrow(
      'setup: threshold must be more than half of k = 9 (the complete graph of 10 clients), i.e. at least 5, or the server could collect both shares of a client (got 4)',
    );
  });
});

describe('secureAggregation in the experiment config', () => {
  const sa = { threshold: 3, clippingRange: 1, quantizationBits: 16 };
  const errorsOf = (config: Record<string, unknown>) => {
    const result = parseExperimentConfig(config);
    return result.ok ? [] : result.errors;
  };

  it('accepts the example config, and FedPer and the server optimizers with it', async () => {
    const { readFile } = await import('node:fs/promises');
    const example = parseExperimentConfig(await readFile('examples/mnist-iid-secagg.json', 'utf8'));
    expect(example.ok && example.config.secureAggregation).toMatchObject({ threshold: 3, clippingRange: 1, quantizationBits: 16, stageDeadlineSeconds: 120 });
    expect(errorsOf({ clients: 5, secureAggregation: sa, strategy: { name: 'fedadam' } })).toEqual([]);
    expect(errorsOf({ clients: 5, secureAggregation: sa, personalization: { localLayers: ['logits'] } })).toEqual([]);
  });

  it('refuses at start, naming the field: an impossible threshold, robust aggregators, SCAFFOLD, and the sections the masked pipeline does not carry', () => {
    expect(errorsOf({ clients: 5, secureAggregation: { ...sa, threshold: 5 } }).join('\n')).toMatch(/secureAggregation\.threshold.*must be at most k = 4/);
    expect(errorsOf({ clients: 5, secureAggregation: { ...sa, threshold: 2 } }).join('\n')).toMatch(/secureAggregation\.threshold.*more than half of k = 4/);
    expect(errorsOf({ clients: 5, secureAggregation: sa, aggregator: { kind: 'median' } }).join('\n')).toMatch(/aggregator\.kind.*needs every client's individual update/);
    expect(errorsOf({ clients: 5, secureAggregation: sa, strategy: { name: 'scaffold' } }).join('\n')).toMatch(/strategy\.name.*SCAFFOLD/);
    expect(errorsOf({ clients: 5, secureAggregation: sa, strategy: { name: 'fednova' } }).join('\n')).toMatch(/strategy\.name.*FedNova/);
    expect(errorsOf({ clients: 5, secureAggregation: sa, compression: { kind: 'topk', ratio: 0.1 } }).join('\n')).toMatch(/compression.*cannot be combined with secureAggregation/);
    expect(errorsOf({ clients: 5, secureAggregation: sa, sampling: { fraction: 0.8, method: 'poisson' } }).join('\n')).toMatch(/sampling\.method.*poisson/);
  });
});
