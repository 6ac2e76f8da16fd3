import { describe, expect, it } from 'vitest';
import { createWeightedMean } from '../shared/aggregate/weighted-mean.js';
import { parseExperimentConfig } from '../shared/config/parse.js';
import type { RoundState, UpdateReport, VerdictRecord } from '../shared/protocol/records.js';
import { transition, type AcceptedUpdate, type RoundEffect } from '../shared/pipeline/round-machine.js';
import { foldsPlainUpdates, RoundMemory } from '../shared/pipeline/round-memory.js';
import type { ModelWeights } from '../shared/weights/types.js';

/**
 * What a warm aggregator remembers of a round is used by the close only when it is exactly the start of what the
 * close would fold from scratch: these checks feed it verdicts as the runner does and compare with a cold fold.
 */

const layout = [
  { name: 'dense/kernel', shape: [3, 2] },
  { name: 'dense/bias', shape: [2] },
];

/** Weights whose float64 sums depend on the order they are added in (values spanning many binary orders). */
function weightsOf(seed: number): ModelWeights {
  return layout.map(({ name, shape }, tensor) => {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = Math.fround(Math.sin(seed * 7.1 + i * 1.3 + tensor) * 10 ** ((seed + i) % 9 - 4));
    return { name, shape, values };
  });
}

function report(clientId: string, samples: number): UpdateReport {
  return {
    experimentId: 'exp', round: 1, clientId, samples, trainLoss: 0.5, trainAccuracy: 0.8, trainMs: 100, updateBytes: 1000,
    backend: { backend: 'wasm', tfjsVersion: '4.22.0', details: {} },
  };
}
const accepted = (clientId: string, ordinal: number, samples = 10 + ordinal): VerdictRecord => ({ clientId, ordinal, outcome: 'accepted', report: report(clientId, samples) });
const bySamples = (update: AcceptedUpdate) => update.samples;
const asAccepted = (verdicts: readonly VerdictRecord[]): AcceptedUpdate[] =>
  verdicts.flatMap((verdict) => (verdict.outcome === 'accepted' ? [{ clientId: verdict.clientId, samples: verdict.report.samples }] : []));

/** The close's fold: from the remembered sum if it is handed out, else from scratch; the weights each client sent. */
function close(memory: RoundMemory, order: readonly AcceptedUpdate[], verdicts: readonly VerdictRecord[], sent: ReadonlyMap<string, ModelWeights>) {
  const folded = memory.takeFolded(order, verdicts, layout);
  const mean = folded?.mean ?? createWeightedMean(weightsOf(0));
  for (const update of order.slice(folded?.count ?? 0)) mean.add(sent.get(update.clientId)!, bySamples(update));
  return { weights: mean.result(), reused: folded?.count ?? 0 };
}

function cold(order: readonly AcceptedUpdate[], sent: ReadonlyMap<string, ModelWeights>) {
  const mean = createWeightedMean(weightsOf(0));
  for (const update of order) mean.add(sent.get(update.clientId)!, bySamples(update));
  return mean.result();
}

const clients = ['c0', 'c1', 'c2', 'c3', 'c4'];
const sent = new Map(clients.map((clientId, index) => [clientId, weightsOf(index + 1)]));

describe('a round remembered by a warm aggregator', () => {
  it('folds the accepted updates as their verdicts are written, and the close starting from that sum writes the bytes a cold close writes', () => {
    const memory = new RoundMemory(true);
    // recorded in the order c3, c1, c4 (rejected), c0, c2
    const verdicts: VerdictRecord[] = [
      accepted('c3', 1),
      accepted('c1', 2),
      { clientId: 'c4', ordinal: 3, outcome: 'rejected', reason: 'bad' },
      accepted('c0', 4),
      accepted('c2', 5),
    ];
    for (const verdict of verdicts) memory.remember(verdict, verdict.outcome === 'accepted' ? sent.get(verdict.clientId) : undefined, bySamples);
    expect(memory.verdicts.get('c4')).toEqual(verdicts[2]);
    const order = asAccepted(verdicts);
    const warm = close(memory, order, verdicts, sent);
    expect(warm.reused).toBe(4);
    expect(warm.weights).toEqual(cold(order, sent));
    // handed out once: the close goes on adding to it
    expect(memory.takeFolded(order, verdicts, layout)).toBeUndefined();
  });

  it('stops folding at an ordinal out of turn, and the close folds the rest from what it reads', () => {
    const memory = new RoundMemory(true);
    memory.remember(accepted('c0', 1), sent.get('c0'), bySamples);
    // ordinal 2 was recorded by another container: this one folds no further
    memory.remember(accepted('c2', 3), sent.get('c2'), bySamples);
    const verdicts = [accepted('c0', 1), accepted('c1', 2), accepted('c2', 3)];
    const order = asAccepted(verdicts);
    const warm = close(memory, order, verdicts, sent);
    expect(warm.reused).toBe(1);
    expect(warm.weights).toEqual(cold(order, sent));
  });

  it('is not used when the round\'s verdicts say otherwise: another accepted verdict among its ordinals, other samples', () => {
    const stray = new RoundMemory(true);
    stray.remember(accepted('c0', 1), sent.get('c0'), bySamples);
    stray.remember(accepted('c1', 2), sent.get('c1'), bySamples);
    // a crashed invocation elsewhere also wrote ordinal 2, for c2: the close's order holds c2 among the fold's ordinals
    const strayVerdicts = [accepted('c0', 1), accepted('c1', 2), accepted('c2', 2)];
    expect(stray.takeFolded(asAccepted(strayVerdicts), strayVerdicts, layout)).toBeUndefined();

    const other = new RoundMemory(true);
    other.remember(accepted('c0', 1, 20), sent.get('c0'), bySamples);
    const otherVerdicts = [accepted('c0', 1, 21)];
    expect(other.takeFolded(asAccepted(otherVerdicts), otherVerdicts, layout)).toBeUndefined();

    const elsewhere = new RoundMemory(true);
    elsewhere.remember(accepted('c0', 1), sent.get('c0'), bySamples);
    const wrongLayout = [{ name: 'dense/kernel', shape: [2, 3] }, layout[1]!];
    expect(elsewhere.takeFolded(asAccepted([accepted('c0', 1)]), [accepted('c0', 1)], wrongLayout)).toBeUndefined();
  });

  it('keeps the sum unchanged when an update cannot be folded, and folds nothing for a close that reads its updates itself', () => {
    const memory = new RoundMemory(true);
    memory.remember(accepted('c0', 1), sent.get('c0'), bySamples);
    // accepted without decoded weights (e.g. found by a close): the sum stays the start of the fold
    memory.remember(accepted('c1', 2), undefined, bySamples);
    memory.remember(accepted('c2', 3), sent.get('c2'), bySamples);
    const verdicts = [accepted('c0', 1), accepted('c1', 2), accepted('c2', 3)];
    expect(close(memory, asAccepted(verdicts), verdicts, sent).reused).toBe(1);

    const robust = parseExperimentConfig({ clients: 5, rounds: 1, aggregator: { kind: 'median' } });
    const plain = parseExperimentConfig({ clients: 5, rounds: 1 });
    if (!robust.ok || !plain.ok) throw new Error('config');
    expect(foldsPlainUpdates(plain.config)).toBe(true);
    expect(foldsPlainUpdates(robust.config)).toBe(false);
    const unfoldable = new RoundMemory(false);
    unfoldable.remember(accepted('c0', 1), sent.get('c0'), bySamples);
    expect(unfoldable.takeFolded(asAccepted([accepted('c0', 1)]), [accepted('c0', 1)], layout)).toBeUndefined();
    expect(unfoldable.verdicts.size).toBe(1);
  });
});

describe('the close\'s order', () => {
  it('folds the accepted updates by their verdicts\' ordinals, the expected clients\' order breaking ties', () => {
    const state: RoundState = {
      experimentId: 'exp', round: 1, expected: ['c0', 'c1', 'c2', 'c3'], startedAt: '2026-11-26T12:00:00.000Z', deadlineAt: '2026-11-26T12:15:00.000Z',
      globalModelBytes: 1000, minClients: 1, lastRound: false, answered: 3, followUpDone: false,
    };
    const verdicts = [accepted('c0', 3), accepted('c1', 2), accepted('c2', 1), accepted('c3', 2)];
    const step = transition(state, { type: 'answers', reason: 'all-reported', verdicts, discovered: [] }, new Date('2026-11-26T12:05:00.000Z'));
    const aggregate = step.effects.find((effect): effect is Extract<RoundEffect, { type: 'aggregate' }> => effect.type === 'aggregate');
    expect(aggregate?.accepted.map((update) => update.clientId)).toEqual(['c2', 'c1', 'c3', 'c0']);
    // the metrics keep the expected clients' order
    expect(aggregate?.closing.verdicts.map((verdict) => verdict.clientId)).toEqual(['c0', 'c1', 'c2', 'c3']);
  });
});
