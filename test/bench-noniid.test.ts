import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configLabel, configValues } from '../bench/noniid/labels.js';
import { renderPage, type PageInput } from '../bench/noniid/page.js';
import { BASELINE_FILE, BASELINE_KEY, BenchError, derive, readSource, type Planned, type SourceConfig } from '../bench/noniid/plan.js';
import type { Outcome } from '../bench/noniid/run.js';
import { checkGoal, firstRoundReaching, sampleSd, summarise } from '../bench/noniid/stats.js';
import { parseExperimentConfig } from '../shared/config/parse.js';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import { fabricateMetrics } from './report-fixtures.js';

/** bench:noniid's own logic: seed statistics, the goal check, derived configs, labels, and a page from known results. */

let out: string;
beforeAll(async () => {
  out = await mkdtemp(path.join(os.tmpdir(), 'bench-noniid-'));
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

const seedResult = (seed: number, accuracy: number[]) => ({ seed, accuracy, wallMs: 60_000 });

describe('seed statistics', () => {
  it('mean, sample standard deviation, worst seed and the per-round spread', () => {
    const summary = summarise([seedResult(42, [0.5, 0.9]), seedResult(43, [0.7, 0.92]), seedResult(44, [0.6, 0.94])])!;
    expect(summary.mean).toBeCloseTo(0.92, 12);
    expect(summary.sd).toBeCloseTo(0.02, 12);
    expect(summary.worst.seed).toBe(42);
    expect(summary.perRound[0]).toEqual({ mean: expect.closeTo(0.6, 12), min: 0.5, max: 0.7 });
    expect(sampleSd([1])).toBeNaN();
    expect(summarise([])).toBeUndefined();
    expect(firstRoundReaching([0.5, 0.96, 0.94], 0.95)).toBe(2);
    expect(firstRoundReaching([0.5, 0.6], 0.95)).toBeUndefined();
  });

  it('the goal: mean within 2 points of the baseline\'s, no seed more than 3 below', () => {
    const baseline = summarise([seedResult(1, [0.99]), seedResult(2, [0.99])])!;
    const close = summarise([seedResult(1, [0.975]), seedResult(2, [0.98])])!;
    expect(checkGoal(close, baseline, 2, 3)).toMatchObject({ meanMet: true, worstMet: true, met: true, meanGap: expect.closeTo(-1.25, 9) });
    // A mean inside 2 points with one seed 3.5 below fails on the worst seed alone.
    const uneven = summarise([seedResult(1, [0.955]), seedResult(2, [0.995]), seedResult(3, [0.99])])!;
    expect(checkGoal(uneven, baseline, 2, 3)).toMatchObject({ meanMet: true, worstMet: false, met: false, worstGap: expect.closeTo(-3.5, 9) });
  });
});

describe('derived configs', () => {
  let fedlc: SourceConfig;
  beforeAll(async () => {
    fedlc = await readSource('fedlc', 'examples/noniid/fedlc.json');
  });

  it('runs the config file itself at its own seed, and a validated copy at other seeds and partitions', async () => {
    const own = await derive(fedlc, { out, prefix: 'noniid', scenario: { kind: 'main' }, seed: fedlc.config.seed, cap: undefined });
    expect(own.file).toBe('examples/noniid/fedlc.json');
    expect(own.id).toBe(`noniid-fedlc-s${fedlc.config.seed}`);
    const next = await derive(fedlc, { out, prefix: 'noniid', scenario: { kind: 'main' }, seed: 43, cap: undefined });
    expect(next.file).toBe(path.join(out, 'configs', 'noniid-fedlc-s43.json'));
    expect(next.config).toMatchObject({ seed: 43, name: 'noniid-fedlc-s43', local: { objective: fedlc.config.local.objective } });
    const dirichlet = await derive(fedlc, { out, prefix: 'noniid', scenario: { kind: 'dirichlet', alpha: 0.1 }, seed: 42, cap: undefined });
    expect(dirichlet.config.partition).toEqual({ kind: 'dirichlet', alpha: 0.1 });
    expect(dirichlet.id).toBe('noniid-dir0.1-fedlc-s42');
  });

  it('merges a tuning candidate into the config, and shares the run when the candidate is the config\'s own value', async () => {
    const tau = (value: number) => ({ kind: 'tuning' as const, patch: { local: { objective: { tau: value } } } });
    const other = await derive(fedlc, { out, prefix: 'noniid', scenario: tau(2), seed: 42, cap: undefined });
    expect(other.config.local.objective).toEqual({ kind: 'fedlc', tau: 2 });
    expect(other.id).toBe('noniid-tune-fedlc-tau2-s42');
    const same = await derive(fedlc, { out, prefix: 'noniid', scenario: tau(1), seed: 42, cap: undefined });
    expect(same.file).toBe(fedlc.file);
    // The same id as the config's own run, so the run is stored once and found by both tables.
    expect(same.id).toBe('noniid-fedlc-s42');
    await expect(derive(fedlc, { out, prefix: 'noniid', scenario: tau(-1), seed: 42, cap: undefined })).rejects.toThrow(BenchError);
  });
});

describe('row labels', () => {
  const config = (input: unknown) => {
    const parsed = parseExperimentConfig(input);
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    return parsed.config;
  };

  it('names the strategy, the objective and the partition from the config', () => {
    const combined = config({ partition: { kind: 'shards' }, strategy: { name: 'scaffold' }, local: { objective: { kind: 'fedlc', tau: 2 } } });
    expect(configLabel(combined, false)).toBe('SCAFFOLD + FedLC');
    expect(configValues(combined)).toBe('η 1 · τ 2');
    expect(configLabel(config({ local: { objective: { kind: 'masked' } } }), false)).toBe('IID FedAvg + masked softmax');
    expect(configLabel(config({}), true)).toBe('IID FedAvg');
    // A shared-data config is marked as such, with its values.
    const shared = config({ partition: { kind: 'shards' }, sharedData: { fraction: 0.05 }, local: { objective: { kind: 'fedlc' } } });
    expect(configLabel(shared, false)).toBe('FedAvg + FedLC + shared data');
    expect(configValues(shared)).toBe('τ 1 · shared fraction 0.05, per client 1');
  });
});

describe('the page from known results', () => {
  /** A completed run whose rounds end at the given accuracies. */
  function outcome(planned: Planned, accuracy: readonly number[]): Outcome {
    const metrics = fabricateMetrics({ rounds: accuracy.length, partition: planned.config.partition.kind === 'iid' ? 'iid' : 'shards', seed: planned.seed });
    const rounds = metrics.rounds.map((round, i) => ({ ...round, accuracy: accuracy[i]! }));
    return { planned, metrics: { ...metrics, rounds } as ExperimentMetrics, reused: true, load: { start: 1, end: 2 } };
  }

  /** The page's input for these runs on a fixed test host. */
  function pageInput(baseline: SourceConfig, sources: SourceConfig[], planning: PageInput['planning'], outcomes: PageInput['outcomes']): PageInput {
    return {
      baseline,
      sources,
      planning,
      outcomes,
      torch: [],
      tuningGrid: {},
      seeds: 3,
      quick: false,
      host: { cpuModel: 'Test CPU', cores: 2, memoryGiB: 4, os: 'Test OS', nodeVersion: 'v20', loadAverage: { start: 1, end: 2 } },
      totalMs: 1000,
      command: 'npm run bench:noniid',
    };
  }

  it('ranks complete rows, checks the goal, and marks what is pending', async () => {
    const baseline = await readSource(BASELINE_KEY, BASELINE_FILE);
    const fedavg = await readSource('fedavg', 'examples/noniid/fedavg.json');
    const fedlc = await readSource('fedlc', 'examples/noniid/fedlc.json');
    const masked = await readSource('masked', 'examples/noniid/masked.json');
    const seeds = [42, 43, 44];
    const main = await Promise.all(
      seeds.flatMap((seed) => [baseline, fedavg, fedlc, masked].map((source) => derive(source, { out, prefix: 'page', scenario: { kind: 'main' }, seed, cap: undefined }))),
    );
    const finals: Record<string, number[]> = { [BASELINE_KEY]: [0.99, 0.991, 0.989], fedavg: [0.93, 0.94, 0.92], fedlc: [0.975, 0.98, 0.972], masked: [0.99] };
    const outcomes = main.flatMap((planned) => {
      const values = finals[planned.source.key]!;
      const index = seeds.indexOf(planned.seed);
      return index < values.length ? [outcome(planned, [0.5, 0.8, 0.9, 0.94, values[index]!])] : [];
    });
    const { markdown, images } = renderPage(pageInput(baseline, [fedavg, fedlc, masked], { main, tuning: [], dirichlet: [] }, { main: outcomes, tuning: [], dirichlet: [] }));
    expect(markdown).toContain('| IID FedAvg | [`examples/mnist-iid.json`](../examples/mnist-iid.json) | — | 99.00 ± 0.10 % |');
    expect(markdown).toContain('The best here, FedAvg + FedLC (τ 1), averages 97.57 ± 0.40 %: -1.43 points from IID FedAvg, its worst seed -1.80.');
    expect(markdown).toContain('**The goal is met.**');
    expect(markdown).toContain('| FedAvg | [`examples/noniid/fedavg.json`](../examples/noniid/fedavg.json) | — | 93.00 ± 1.00 % | 92.00 % (seed 44) | 93.00 / 94.00 / 92.00 | -6.00 | -7.00 | — / — / — |');
    // One of three seeds: shown, but not ranked, even though its single seed is the highest.
    expect(markdown).toContain('99.00 % (pending: 1 of 3 seeds)');
    expect(markdown).toMatch(/Not ranked because not every seed has run yet: FedAvg \+ masked softmax\./);
    expect(markdown).toContain('FedAvg + FedLC closes 76 % of that gap');
    expect(Object.keys(images).sort()).toEqual(['noniid-accuracy.svg', 'noniid-spread.svg']);
    expect((images['noniid-spread.svg']!.match(/<circle data-point/g) ?? []).length).toBe(3 + 3 + 3 + 1);
  });

  it('reports the best result with shared data and the best without it apart, each with its distance to IID FedAvg', async () => {
    const baseline = await readSource(BASELINE_KEY, BASELINE_FILE);
    const fedavg = await readSource('fedavg', 'examples/noniid/fedavg.json');
    const fedlc = await readSource('fedlc', 'examples/noniid/fedlc.json');
    const sharedFedavg = await readSource('fedavg-shared-data', 'examples/noniid/fedavg-shared-data.json');
    const seeds = [42, 43, 44];
    const sources = [baseline, fedavg, fedlc, sharedFedavg];
    const main = await Promise.all(seeds.flatMap((seed) => sources.map((source) => derive(source, { out, prefix: 'shared', scenario: { kind: 'main' }, seed, cap: undefined }))));
    const finals: Record<string, number[]> = { [BASELINE_KEY]: [0.99, 0.991, 0.989], fedavg: [0.93, 0.94, 0.92], fedlc: [0.94, 0.95, 0.93], 'fedavg-shared-data': [0.975, 0.98, 0.965] };
    const outcomes = main.map((planned) => outcome(planned, [0.5, 0.8, 0.9, 0.94, finals[planned.source.key]![seeds.indexOf(planned.seed)]!]));
    const { markdown } = renderPage(pageInput(baseline, [fedavg, fedlc, sharedFedavg], { main, tuning: [], dirichlet: [] }, { main: outcomes, tuning: [], dirichlet: [] }));
    expect(markdown).toContain('The best here, FedAvg + shared data (shared fraction 0.05, per client 1), averages 97.33 ± 0.76 %: -1.67 points from IID FedAvg, its worst seed -2.50.');
    expect(markdown).toContain('**Without shared data** (pure federated learning), the best is FedAvg + FedLC (τ 1) at 94.00 ± 1.00 %: -5.00 points from IID FedAvg, worst seed -6.00 (the mean 3.00 points short, the worst seed 3.00 points short).');
    expect(markdown).toContain('**With shared data** (not pure FL: a public, class-balanced 5 % of the training set goes from the server to every client; see [Shared data](#shared-data)), the best is FedAvg + shared data (shared fraction 0.05, per client 1) at 97.33 ± 0.76 %: -1.67 points from IID FedAvg, worst seed -2.50 (within the goal).');
    expect(markdown).toContain('Shared data against plain FedAvg (difference of means, points): FedAvg + shared data +4.33.');
    expect(markdown).toContain('Local objectives against plain FedAvg (difference of means, points): FedAvg + FedLC +1.00.');
    expect(markdown).toContain('## Shared data');
    expect(markdown).toContain('**Privacy trade-off.**');
  });

  it('weighs the best local objective as a default by its IID check and the seed spread, and shows a one-seed Dirichlet table as one seed', async () => {
    const baseline = await readSource(BASELINE_KEY, BASELINE_FILE);
    const fedavg = await readSource('fedavg', 'examples/noniid/fedavg.json');
    const fedlc = await readSource('fedlc', 'examples/noniid/fedlc.json');
    const fedlcIid = await readSource('fedlc-iid', 'examples/noniid/fedlc-iid.json');
    const seeds = [42, 43, 44];
    const main = await Promise.all(seeds.flatMap((seed) => [baseline, fedavg, fedlc, fedlcIid].map((source) => derive(source, { out, prefix: 'default', scenario: { kind: 'main' }, seed, cap: undefined }))));
    const dirichlet = await Promise.all([fedavg, fedlc].map((source) => derive(source, { out, prefix: 'default', scenario: { kind: 'dirichlet', alpha: 0.1 }, seed: 42, cap: undefined })));
    const finals = (spread: number): Record<string, number[]> => ({
      [BASELINE_KEY]: [0.99, 0.991, 0.989],
      fedavg: [0.9, 0.9 - spread, 0.9 + spread],
      fedlc: [0.95, 0.951, 0.949],
      'fedlc-iid': [0.99, 0.991, 0.989],
    });
    const render = (spread: number) =>
      renderPage(
        pageInput(baseline, [fedavg, fedlc, fedlcIid], { main, tuning: [], dirichlet }, {
          main: main.map((planned) => outcome(planned, [0.5, finals(spread)[planned.source.key]![seeds.indexOf(planned.seed)]!])),
          tuning: [],
          dirichlet: dirichlet.map((planned) => outcome(planned, [0.5, planned.source.key === 'fedlc' ? 0.96 : 0.95])),
        }),
      ).markdown;

    // FedLC gains 5 points of FedAvg's 9-point gap (56 %), well beyond FedAvg's seed sd of 1, and costs nothing on IID.
    const steady = render(0.01);
    expect(steady).toContain('gains +5.00 points over plain FedAvg on label skew, 56 % of FedAvg\'s gap to IID, and changes IID FedAvg by 0.00 points (within the seed spread, 0.10 points)');
    expect(steady).toContain('We recommend it for label-skewed configs (`examples/noniid/fedlc.json`), but the schema\'s default stays plain cross-entropy');
    expect(steady).toContain(', and on its own it leaves 4.00 points of the gap.');
    // The same means with FedAvg's seeds 6 points apart: the gain no longer stands out from the spread.
    const noisy = render(0.06);
    expect(noisy).toContain('So it should not be a default: its gain is smaller than the larger seed standard deviation on label skew (6.00 points), so 3 seeds do not establish it.');
    expect(noisy).toContain('worst seed +10.90 points');

    expect(steady).toContain('at seed 42 only (`--dirichlet-seeds`, default 1)');
    expect(steady).toContain('| configuration | α = 0.1: final accuracy (seed 42) | gap (points) |');
    expect(steady).toMatch(/\| FedAvg \+ FedLC \| 96\.00 % \| -3\.00 \|/);
  });
});

