import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { aggregatorSchema, parseAggregatorConfig, type AggregatorConfigInput } from '../shared/config/robust.js';
import { parameterCount } from '../shared/models/index.js';
import { formatProblem, maxUpdatesThatFit, robustMemoryBytes, robustProblems } from '../shared/robust/index.js';
import { DEFAULT_AGGREGATOR_BASELINE_BYTES, workingSetBytes } from '../shared/robust/memory.js';

const problems = (input: AggregatorConfigInput, clientsPerRound: number, minClients?: number) =>
  robustProblems(parseAggregatorConfig(input), { clientsPerRound, minClients }).map(formatProblem);

describe('aggregator config section', () => {
  it('fills in defaults and keeps the paper parameters', () => {
    expect(parseAggregatorConfig({ kind: 'trimmed-mean' })).toEqual({ kind: 'trimmed-mean', beta: 0.1 });
    expect(parseAggregatorConfig({ kind: 'multi-krum', f: 2 })).toEqual({ kind: 'multi-krum', f: 2, weighting: 'uniform' });
    expect(parseAggregatorConfig({ kind: 'centered-clipping', tau: 0.5 })).toEqual({ kind: 'centered-clipping', tau: 0.5, iterations: 1, weighting: 'uniform' });
  });

  it('rejects typos, missing scale parameters and out-of-range values, naming the field', () => {
    const issues = (input: unknown) => aggregatorSchema.safeParse(input).error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.code}`) ?? [];
    expect(issues({ kind: 'krum', f: 1, m: 2 })).toEqual([': unrecognized_keys']);
    expect(issues({ kind: 'krum' })).toEqual(['f: invalid_type']);
    expect(issues({ kind: 'norm-bounded' })).toEqual(['maxNorm: invalid_type']);
    expect(issues({ kind: 'trimmed-mean', beta: 0.5 })).toEqual(['beta: too_big']);
    expect(issues({ kind: 'geomed' })).toEqual(['kind: invalid_union']);
  });

  it('describes every kind in the JSON Schema the config docs are generated from', () => {
    const schema = z.toJSONSchema(aggregatorSchema, { io: 'input' }) as { oneOf?: { properties: { kind: { const: string } } }[]; anyOf?: unknown[] };
    const kinds = (schema.oneOf ?? (schema.anyOf as typeof schema.oneOf))!.map((variant) => variant.properties.kind.const);
    expect(kinds).toEqual(['mean', 'median', 'trimmed-mean', 'krum', 'multi-krum', 'norm-bounded', 'centered-clipping']);
  });
});

describe('robustProblems', () => {
  it('accepts workable parameters', () => {
    expect(problems({ kind: 'median' }, 3)).toEqual([]);
    expect(problems({ kind: 'krum', f: 2 }, 7)).toEqual([]);
    expect(problems({ kind: 'multi-krum', f: 2, m: 5 }, 7)).toEqual([]);
    expect(problems({ kind: 'trimmed-mean', beta: 0.1 }, 10)).toEqual([]);
    expect(problems({ kind: 'centered-clipping', tau: 1 }, 2)).toEqual([]);
  });

  it('refuses Krum with n < 2f + 3, saying which n and how large f may be', () => {
    expect(problems({ kind: 'krum', f: 2 }, 6)).toEqual([
      'aggregator.f: Krum tolerates f attackers only with n ≥ 2f + 3 = 7 updates, but 6 clients are sampled per round; f must be at most ⌊(n − 3)/2⌋ = 1 (got 2)',
    ]);
    // A round may close with round.minClients updates: that is the n that counts.
    expect(problems({ kind: 'multi-krum', f: 2 }, 10, 6)[0]).toMatch(/^aggregator\.f: .*a round can close with round\.minClients = 6 updates/);
    expect(problems({ kind: 'krum', f: 0 }, 2)[0]).toMatch(/Krum needs at least 3 updates per round \(got 0\)/);
  });

  it('refuses f ≥ the sampled clients and an m that would average an attacker in', () => {
    expect(problems({ kind: 'krum', f: 5 }, 5)).toEqual(['aggregator.f: must be less than the 5 clients sampled per round (got 5)']);
    expect(problems({ kind: 'multi-krum', f: 2, m: 9 }, 10)).toEqual([
      'aggregator.m: must be at most n − f = 10 − 2 = 8 so that no attacker is averaged in when 10 clients are sampled per round (got 9)',
    ]);
  });

  it('refuses a trimmed mean that trims nothing or everything', () => {
    expect(problems({ kind: 'trimmed-mean', beta: 0.1 }, 5)).toEqual([
      'aggregator.beta: trims ⌊β·n⌋ = 0 updates per side when 5 clients are sampled per round, so it is the plain mean; beta must be at least 1/5 = 0.2 (got 0.1)',
    ]);
    expect(robustProblems({ kind: 'trimmed-mean', beta: 0.5 }, { clientsPerRound: 10 }).map(formatProblem)).toEqual([
      'aggregator.beta: must be at least 0 and less than 0.5: trimming β·n updates from each side of n must leave some (got 0.5)',
    ]);
  });

  it('refuses rounds whose updates do not fit the aggregator\'s memory, saying how many fit', () => {
    const parameters = parameterCount('cnn-mcmahan');
    const memory = { memoryMb: 1769, parameters };
    const fit = maxUpdatesThatFit('median', parameters, memory);
    expect(robustProblems({ kind: 'median' }, { clientsPerRound: fit, memory })).toEqual([]);
    const [problem] = robustProblems({ kind: 'median' }, { clientsPerRound: fit + 1, memory }).map(formatProblem);
    expect(problem).toMatch(new RegExp(`^aggregator\\.kind: "median" holds every update of a round at once: ${fit + 1} updates of ${parameters} values need about \\d+ MiB .* only ${fit} fit in its 1769 MB`));
    expect(robustProblems({ kind: 'mean' }, { clientsPerRound: 1000, memory })).toEqual([]);
  });
});

describe('memory formula', () => {
  const P = parameterCount('cnn-small');

  it('is the held updates plus the method\'s working set plus slack, growing with n (quadratically for Krum)', () => {
    expect(robustMemoryBytes('median', P, 10)).toBe(4 * P * 10 + workingSetBytes('median', P, 10) + 4 * 2 ** 20);
    expect(robustMemoryBytes('krum', P, 200) - robustMemoryBytes('krum', P, 100)).toBe(4 * P * 100 + 16 * (200 ** 2 - 100 ** 2));
    expect(workingSetBytes('centered-clipping', P, 5)).toBe(20 * P);
  });

  it('finds the largest n that fits: n fits and n + 1 does not', () => {
    for (const method of ['median', 'krum', 'multi-krum', 'centered-clipping'] as const) {
      for (const memoryMb of [512, 1769, 10240]) {
        const parameters = parameterCount('cnn-mcmahan');
        const fit = maxUpdatesThatFit(method, parameters, { memoryMb });
        const budget = memoryMb * 2 ** 20 - DEFAULT_AGGREGATOR_BASELINE_BYTES - (4 * parameters + 64 * 1024);
        expect(fit).toBeGreaterThan(0);
        expect(robustMemoryBytes(method, parameters, fit)).toBeLessThanOrEqual(budget);
        expect(robustMemoryBytes(method, parameters, fit + 1)).toBeGreaterThan(budget);
      }
    }
    expect(maxUpdatesThatFit('median', P, { memoryMb: 400 })).toBe(0);
  });
});
