import { describe, expect, it } from 'vitest';
import { createWeightedMean } from '../shared/aggregate/weighted-mean.js';
import { STRATEGIES_WITH_CLIENT_STATE } from '../shared/config/grouping.js';
import { parseExperimentConfig } from '../shared/config/parse.js';
import { STRATEGY_NAMES, parseStrategyConfig } from '../shared/config/schema.js';
import { experimentStrategy } from '../shared/strategies/index.js';
import { decodeGroupPartial, encodeGroupPartial, type GroupPartial } from '../shared/pipeline/group-partial.js';
import { addPartials, answersFromPartials } from '../shared/pipeline/group-close.js';
import { newGroupState, roundGroups } from '../shared/pipeline/round-groups.js';
import { roundMemory } from '../shared/pipeline/round-memory.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { parseExperimentConfig as parse } from '../shared/config/parse.js';
import { transition, type RoundEffect } from '../shared/pipeline/round-machine.js';
import type { RoundState, VerdictRecord } from '../shared/protocol/records.js';
import { WeightsError } from '../shared/weights/codec.js';
import type { ModelWeights } from '../shared/weights/types.js';

/** A tree of sums (config round.groups): who belongs to which group, the partial sums, and the split round's machine. */

const errorsOf = (input: unknown) => {
  const result = parseExperimentConfig(input);
  return result.ok ? [] : result.errors;
};

describe('round.groups in the config', () => {
  it('defaults to 1 and accepts groups for a plain weighted mean, a server optimizer included', () => {
    const parsed = parseExperimentConfig({});
    expect(parsed.ok && parsed.config.round.groups).toBe(1);
    expect(errorsOf({ clients: 100, round: { groups: 10 } })).toEqual([]);
    expect(errorsOf({ clients: 100, strategy: { name: 'fedadam' }, round: { groups: 10 } })).toEqual([]);
  });

  it.each([
    ['privacy', { privacy: { clipping: { kind: 'fixed', norm: 1 }, noiseMultiplier: 1, delta: 1e-5 } }, 'privacy'],
    ['secure aggregation', { secureAggregation: { threshold: 2, clippingRange: 1, quantizationBits: 16 } }, 'secureAggregation'],
    ['compression', { compression: { kind: 'topk', ratio: 0.1 } }, 'compression'],
    ['a robust aggregator', { aggregator: { kind: 'median' } }, 'aggregator "median"'],
    ['SCAFFOLD', { strategy: { name: 'scaffold' }, local: { optimizer: 'sgd' } }, 'strategy "scaffold"'],
  ])('refuses groups with %s, naming it', (_, extra, named) => {
    const errors = errorsOf({ clients: 10, ...extra, round: { groups: 2 } });
    expect(errors.filter((error) => error.startsWith('round.groups'))).toEqual([expect.stringContaining(named)]);
    expect(errorsOf({ clients: 10, ...extra, round: { groups: 1 } }).filter((error) => error.startsWith('round.groups'))).toEqual([]);
  });

  it('refuses more groups than clients asked to train each round', () => {
    expect(errorsOf({ clients: 10, sampling: { perRound: 3 }, round: { groups: 4 } })).toEqual([
      'round.groups: must be at most the clients asked to train each round, 3 (got 4)',
    ]);
    expect(errorsOf({ clients: 10, sampling: { perRound: 3 }, round: { groups: 3 } })).toEqual([]);
  });

  it('lists exactly the strategies that adopt client state or read side uploads at the close', () => {
    const withState = STRATEGY_NAMES.filter((name) => {
      const local = { epochs: 1, batchSize: 32, learningRate: 0.01, optimizer: 'sgd' } as const;
      const strategy = experimentStrategy({ strategy: parseStrategyConfig({ name }), local: local as never, clients: 2 });
      return strategy.client.adoptedState.length > 0 || strategy.client.sideUploads.length > 0;
    });
    expect([...STRATEGIES_WITH_CLIENT_STATE].sort()).toEqual(withState.sort());
  });
});

const opened = new Date('2026-11-26T12:00:00.000Z');
const beforeDeadline = new Date('2026-11-26T12:05:00.000Z');
const afterDeadline = new Date('2026-11-26T12:16:00.000Z');

function splitRound(change: Partial<RoundState> = {}): RoundState {
  return {
    experimentId: 'exp',
    round: 2,
    expected: ['c0', 'c1', 'c2', 'c3', 'c4'],
    startedAt: opened.toISOString(),
    deadlineAt: new Date(opened.getTime() + 900_000).toISOString(),
    globalModelBytes: 1000,
    minClients: 4,
    lastRound: false,
    answered: 0,
    followUpDone: false,
    groups: 2,
    groupsClosed: [],
    ...change,
  };
}
const types = (effects: readonly RoundEffect[]) => effects.filter((effect) => effect.type !== 'log').map((effect) => effect.type);

describe('groups of a round', () => {
  it('deals the clients in turn: every client in exactly one group, sizes within one, no quorum of their own', () => {
    const round = splitRound({ expected: Array.from({ length: 7 }, (_, i) => `c${i}`), groups: 3 });
    const groups = [0, 1, 2].map((group) => newGroupState(round, group));
    expect(groups.map((group) => group.expected)).toEqual([['c0', 'c3', 'c6'], ['c1', 'c4'], ['c2', 'c5']]);
    expect(groups.every((group) => group.minClients === 0 && group.groups === undefined && group.deadlineAt === round.deadlineAt)).toBe(true);
    expect(groups.flatMap((group) => group.expected).sort()).toEqual([...round.expected].sort());
    expect(() => newGroupState(round, 3)).toThrow(RangeError);
  });

  it('lets a warm aggregator remember the running sums of 32 groups of a round at once, each its own', () => {
    const warm = {};
    const context = { warm } as unknown as PipelineContext;
    const parsed = parse({ clients: 64, round: { groups: 32 } });
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    const round = splitRound({ expected: Array.from({ length: 64 }, (_, i) => `c${i}`), groups: 32 });
    const first = Array.from({ length: 32 }, (_, group) => roundMemory(context, newGroupState(round, group), parsed.config));
    expect(new Set(first).size).toBe(32);
    const again = Array.from({ length: 32 }, (_, group) => roundMemory(context, newGroupState(round, group), parsed.config));
    expect(again).toEqual(first);
    expect(again.every((memory, group) => memory === first[group])).toBe(true);
  });

  it('never splits a round into more groups than clients, nor one into a single group', () => {
    expect(roundGroups({ round: { groups: 4 } } as never, 3)).toBe(3);
    expect(roundGroups({ round: { groups: 4 } } as never, 0)).toBe(1);
    expect(roundGroups({ round: { groups: 1 } } as never, 50)).toBe(1);
  });
});

function partial(group: number, values: number[][], verdicts: VerdictRecord[] = [], count = 1, totalSamples = 10): GroupPartial {
  return {
    group,
    reason: 'all-reported',
    verdicts,
    layout: values.map((tensor, index) => ({ name: `t${index}`, shape: [tensor.length] })),
    count,
    totalSamples,
    sums: values.map((tensor) => Float64Array.from(tensor)),
  };
}

describe('a group\'s partial sum', () => {
  it('round-trips through its bytes exactly, float64 sums included', () => {
    const written = partial(1, [[0.1 + 0.2, -1e-300, 3], [Math.PI]], [{ clientId: 'c1', ordinal: 1, outcome: 'rejected', reason: 'NaN' }], 2, 17.5);
    const read = decodeGroupPartial(encodeGroupPartial(written), 'p');
    expect(read).toEqual(written);
    expect(read.sums[0]![0]).toBe(0.1 + 0.2);
  });

  it('refuses bytes that are not one: another format, a truncated body, a header that lies', () => {
    const bytes = encodeGroupPartial(partial(0, [[1, 2, 3]]));
    expect(() => decodeGroupPartial(new Uint8Array([1, 2, 3]), 'p')).toThrow(/p: not a group's partial sum \(no FLGP header\)/);
    expect(() => decodeGroupPartial(bytes.subarray(0, bytes.length - 8), 'p')).toThrow(/bytes where its layout needs/);
    const tampered = new TextDecoder().decode(bytes).replace('"count":1', '"count":-1');
    expect(() => decodeGroupPartial(new TextEncoder().encode(tampered), 'p')).toThrow(WeightsError);
  });

  it('adds up, in group order, to the weighted mean of every update', () => {
    const updates: ModelWeights[] = [[1, 2], [3, 5], [-2, 7], [0.5, 0.25]].map((values) => [{ name: 'w', shape: [2], values: Float32Array.from(values) }]);
    const samples = [10, 20, 5, 1];
    const whole = createWeightedMean(updates[0]!);
    updates.forEach((update, index) => whole.add(update, samples[index]!));
    const groups = [0, 1].map((group) => {
      const mean = createWeightedMean(updates[0]!);
      updates.forEach((update, index) => index % 2 === group && mean.add(update, samples[index]!));
      return { ...partial(group, []), layout: [{ name: 'w', shape: [2] }], count: mean.count, totalSamples: mean.totalSamples, sums: mean.sums };
    });
    const accepted = updates.map((_, index) => ({ clientId: `c${index}`, samples: samples[index]! }));
    const added = addPartials(groups, accepted, [{ name: 'w', shape: [2] }]);
    expect(added.count).toBe(4);
    expect(Array.from(added.mean.result()[0]!.values)).toEqual(Array.from(whole.result()[0]!.values));
    expect(() => addPartials(groups, accepted.slice(1), [{ name: 'w', shape: [2] }])).toThrow(/hold 4 update\(s\), their verdicts accept 3/);
    expect(() => addPartials(groups, accepted, [{ name: 'v', shape: [2] }])).toThrow(WeightsError);
  });

  it('gives the round its answers: every group\'s verdicts, the latest update, a deadline if any group closed by one', () => {
    const verdict = (clientId: string): VerdictRecord => ({ clientId, ordinal: 1, outcome: 'rejected', reason: 'x' });
    const answers = answersFromPartials([
      { ...partial(0, [], [verdict('c0')]), lastUpdateAt: '2026-11-26T12:01:00.000Z' },
      { ...partial(1, [], [verdict('c1')]), reason: 'deadline', lastUpdateAt: '2026-11-26T12:03:00.000Z' },
    ]);
    expect(answers).toEqual({ type: 'answers', reason: 'deadline', verdicts: [verdict('c0'), verdict('c1')], discovered: [], lastUpdateAt: '2026-11-26T12:03:00.000Z' });
  });
});

describe('round machine: a split round', () => {
  it('counts each group once and closes from the partial sums when the last one is in', () => {
    const first = transition(splitRound(), { type: 'group-closed', group: 1 }, beforeDeadline);
    expect(first.outcome).toBe('recorded');
    expect(first.state.groupsClosed).toEqual([1]);
    expect(types(first.effects)).toEqual(['save-state']);
    const again = transition(first.state, { type: 'group-closed', group: 1 }, beforeDeadline);
    expect(again.outcome).toBe('duplicate');
    expect(types(again.effects)).toEqual([]);
    const last = transition(first.state, { type: 'group-closed', group: 0 }, beforeDeadline);
    expect(types(last.effects)).toEqual(['save-state', 'gather-answers']);
    expect(transition(splitRound(), { type: 'group-closed', group: 2 }, beforeDeadline).outcome).toBe('stale');
  });

  it('passes a due deadline on to the groups still open, and re-arms an early one', () => {
    const state = splitRound({ groups: 3, groupsClosed: [1] });
    const due = transition(state, { type: 'deadline', attempt: 0 }, afterDeadline);
    expect(due.effects.filter((effect) => effect.type !== 'log')).toEqual([{ type: 'forward-deadline', groups: [0, 2], attempt: 0 }]);
    expect(types(transition(state, { type: 'deadline', attempt: 0 }, beforeDeadline).effects)).toEqual(['arm-deadline']);
    expect(types(transition(splitRound({ groupsClosed: [0, 1] }), { type: 'deadline', attempt: 0 }, afterDeadline).effects)).toEqual(['gather-answers']);
  });

  it('leaves an "update ready" without its group to that group, writing nothing', () => {
    const result = transition(splitRound(), { type: 'update', clientId: 'c1', known: undefined }, beforeDeadline);
    expect(result.outcome).toBe('stale');
    expect(types(result.effects)).toEqual([]);
  });

  it('closes a group by writing its partial sum, then marks it closed and tells the round', () => {
    const group = { ...newGroupState(splitRound(), 0), answered: 3 };
    const answered = transition(group, { type: 'answers', reason: 'all-reported', verdicts: [], discovered: [] }, beforeDeadline);
    expect(types(answered.effects)).toEqual(['write-partial']);
    const closing = { reason: 'all-reported' as const, closedAt: beforeDeadline.toISOString(), verdicts: [] };
    const written = transition(group, { type: 'aggregated', closing, result: { ok: true } }, beforeDeadline);
    expect(written.outcome).toBe('group-closed');
    expect(types(written.effects)).toEqual(['announce-group-closed', 'save-state']);
    expect(written.state).toMatchObject({ closed: { outcome: 'aggregated' }, followUpDone: true });
    // A message for the group after a crash between its close and its announcement announces it again.
    const unannounced = { ...written.state, followUpDone: false };
    expect(types(transition(unannounced, { type: 'deadline', attempt: 0 }, afterDeadline).effects)).toEqual(['announce-group-closed', 'save-state']);
  });
});
