import { describe, expect, it } from 'vitest';
import type { RoundState, UpdateReport, VerdictRecord } from '../shared/protocol/records.js';
import { transition, type Closing, type Discovered, type RoundEffect, type RoundEvent, type Verdict } from '../shared/pipeline/round-machine.js';

/** The round machine is pure: every branch is checked here by its next state, its effects (in order) and its outcome. */

const opened = new Date('2026-11-26T12:00:00.000Z');
const beforeDeadline = new Date('2026-11-26T12:05:00.000Z');
const afterDeadline = new Date('2026-11-26T12:16:00.000Z');

function roundState(change: Partial<RoundState> = {}): RoundState {
  return {
    experimentId: 'exp',
    round: 2,
    expected: ['client-000', 'client-001', 'client-002'],
    startedAt: opened.toISOString(),
    deadlineAt: new Date(opened.getTime() + 900_000).toISOString(),
    globalModelBytes: 1000,
    minClients: 3,
    lastRound: false,
    answered: 0,
    followUpDone: false,
    ...change,
  };
}

function report(clientId: string, samples = 10): UpdateReport {
  return {
    experimentId: 'exp', round: 2, clientId, samples, trainLoss: 0.5, trainAccuracy: 0.8, trainMs: 100, updateBytes: 1000,
    backend: { backend: 'wasm', tfjsVersion: '4.22.0', details: {} },
  };
}
const accepted = (clientId: string, ordinal: number): VerdictRecord => ({ clientId, ordinal, outcome: 'accepted', report: report(clientId) });
const rejected = (clientId: string, ordinal: number, reason = 'bad weights'): VerdictRecord => ({ clientId, ordinal, outcome: 'rejected', reason });
const types = (effects: readonly RoundEffect[]) => effects.filter((effect) => effect.type !== 'log').map((effect) => effect.type);
const step = (state: RoundState, event: RoundEvent, now = beforeDeadline) => transition(state, event, now);
const closing = (verdicts: readonly VerdictRecord[], reason: Closing['reason'] = 'all-reported'): Closing => ({ reason, closedAt: beforeDeadline.toISOString(), verdicts });
const evaluation = { accuracy: 0.9, loss: 0.3, perClassAccuracy: [0.9], confusion: [[9]] };

describe('round machine: updates', () => {
  it('asks to inspect the update of an expected client it has not heard from', () => {
    const result = step(roundState(), { type: 'update', clientId: 'client-001', known: undefined });
    expect(result.effects).toEqual([{ type: 'inspect-update', clientId: 'client-001' }]);
    expect(result.outcome).toBeUndefined();
  });

  it('records an accepted update: the verdict before the state that counts it', () => {
    const verdict: Verdict = { outcome: 'accepted', report: report('client-001') };
    const result = step(roundState({ answered: 1 }), { type: 'inspected', clientId: 'client-001', verdict, reportedAt: undefined });
    expect(result.outcome).toBe('recorded');
    expect(result.state.answered).toBe(2);
    expect(types(result.effects)).toEqual(['record-verdict', 'save-state']);
    expect(result.effects[0]).toEqual({ type: 'record-verdict', verdict: { clientId: 'client-001', ordinal: 2, ...verdict } });
  });

  it('records a rejected update with its reason', () => {
    const result = step(roundState(), { type: 'inspected', clientId: 'client-002', verdict: { outcome: 'rejected', reason: 'NaN' }, reportedAt: beforeDeadline.toISOString() });
    expect(result.outcome).toBe('rejected');
    expect(result.effects[0]).toEqual({ type: 'record-verdict', verdict: rejected('client-002', 1, 'NaN') });
  });

  it('starts the close when the last expected client is recorded', () => {
    const result = step(roundState({ answered: 2 }), { type: 'inspected', clientId: 'client-002', verdict: { outcome: 'accepted', report: report('client-002') }, reportedAt: undefined });
    expect(types(result.effects)).toEqual(['record-verdict', 'save-state', 'gather-answers']);
    expect(result.effects.at(-1)).toEqual({ type: 'gather-answers', reason: 'all-reported' });
  });

  it('answers a duplicate with nothing while the round still waits for others', () => {
    const result = step(roundState({ answered: 1 }), { type: 'update', clientId: 'client-000', known: accepted('client-000', 1) });
    expect(result).toEqual({ state: roundState({ answered: 1 }), effects: [], outcome: 'duplicate' });
  });

  it('closes on a duplicate when every client has answered but the round is not closed (a crash after the last verdict)', () => {
    const result = step(roundState({ answered: 3 }), { type: 'update', clientId: 'client-002', known: accepted('client-002', 3) });
    expect(result.outcome).toBe('duplicate');
    expect(result.effects).toEqual([{ type: 'gather-answers', reason: 'all-reported' }]);
  });

  it('brings the state up to a verdict recorded by an invocation that crashed before saving it', () => {
    const result = step(roundState({ answered: 2 }), { type: 'update', clientId: 'client-002', known: accepted('client-002', 3) });
    expect(result.outcome).toBe('recovered');
    expect(result.state.answered).toBe(3);
    expect(result.effects).toEqual([{ type: 'save-state', state: roundState({ answered: 3 }) }, { type: 'gather-answers', reason: 'all-reported' }]);
  });

  it('records an update whose report was written after the deadline as late, never counting it, and closes the round', () => {
    const verdict: Verdict = { outcome: 'accepted', report: report('client-001') };
    const result = step(roundState({ answered: 1 }), { type: 'inspected', clientId: 'client-001', verdict, reportedAt: afterDeadline.toISOString() }, afterDeadline);
    expect(result.outcome).toBe('late');
    expect(result.state.answered).toBe(1);
    expect(types(result.effects)).toEqual(['record-verdict', 'gather-answers']);
    expect(result.effects[0]).toEqual({ type: 'record-verdict', verdict: { clientId: 'client-001', ordinal: 0, outcome: 'late', reason: "its report was written after the round's deadline" } });
    expect(result.effects.at(-1)).toEqual({ type: 'gather-answers', reason: 'deadline' });
  });

  it('closes a round whose deadline has passed on any update, without waiting for the deadline message', () => {
    const result = step(roundState({ answered: 1 }), { type: 'update', clientId: 'client-000', known: accepted('client-000', 1) }, afterDeadline);
    expect(result.effects).toEqual([{ type: 'gather-answers', reason: 'deadline' }]);
  });

  it('logs an update from a client that was not sampled and writes nothing', () => {
    const result = step(roundState(), { type: 'update', clientId: 'client-777', known: undefined });
    expect(result.outcome).toBe('unsampled');
    expect(types(result.effects)).toEqual([]);
  });

  it('records a late update of an expected client after the round closed, and counts nothing', () => {
    const closed = roundState({ answered: 2, closed: { at: beforeDeadline.toISOString(), reason: 'deadline', outcome: 'aggregated' }, followUpDone: true });
    const result = step(closed, { type: 'update', clientId: 'client-002', known: undefined });
    expect(result.outcome).toBe('late');
    expect(result.state).toEqual(closed);
    expect(result.effects[0]).toEqual({ type: 'record-verdict', verdict: { clientId: 'client-002', ordinal: 0, outcome: 'late', reason: 'arrived after the round closed' } });
  });

  it('answers a duplicate after the round closed with nothing', () => {
    const closed = roundState({ answered: 3, closed: { at: beforeDeadline.toISOString(), reason: 'all-reported', outcome: 'aggregated' }, followUpDone: true });
    expect(step(closed, { type: 'update', clientId: 'client-000', known: accepted('client-000', 1) })).toEqual({ state: closed, effects: [], outcome: 'duplicate' });
  });

  it('redoes the follow-up for any message of a closed round whose follow-up was not recorded', () => {
    const closed = roundState({ answered: 3, closed: { at: beforeDeadline.toISOString(), reason: 'all-reported', outcome: 'aggregated' } });
    const result = step(closed, { type: 'update', clientId: 'client-000', known: accepted('client-000', 1) });
    expect(result.outcome).toBe('next-round');
    expect(result.effects).toEqual([{ type: 'open-next-round' }, { type: 'save-state', state: { ...closed, followUpDone: true } }]);
    const last = step({ ...closed, lastRound: true }, { type: 'deadline', attempt: 0 });
    expect(last.outcome).toBe('completed');
    expect(types(last.effects)).toEqual(['complete-experiment', 'save-state']);
  });
});

describe('round machine: deadlines', () => {
  it('re-arms a deadline that fired early as the next attempt', () => {
    const result = step(roundState(), { type: 'deadline', attempt: 2 });
    expect(result.outcome).toBe('not-due');
    expect(types(result.effects)).toEqual(['arm-deadline']);
    expect(result.effects[0]).toEqual({ type: 'arm-deadline', dueAt: roundState().deadlineAt, attempt: 3 });
  });

  it('closes when due, looking for every answer first', () => {
    const result = step(roundState({ answered: 1 }), { type: 'deadline', attempt: 0 }, afterDeadline);
    expect(result.outcome).toBe('closing');
    expect(result.effects).toEqual([{ type: 'gather-answers', reason: 'deadline' }]);
  });

  it('closes an early deadline instead of re-arming it when every client has answered', () => {
    expect(step(roundState({ answered: 3 }), { type: 'deadline', attempt: 0 }).effects).toEqual([{ type: 'gather-answers', reason: 'all-reported' }]);
  });

  it('closes a due round whose clients all answered as a round closed by its last answer (a close that was cut short)', () => {
    expect(step(roundState({ answered: 3 }), { type: 'deadline', attempt: 0 }, afterDeadline).effects).toEqual([{ type: 'gather-answers', reason: 'all-reported' }]);
  });

  it('ignores a deadline of a closed round', () => {
    const closed = roundState({ closed: { at: beforeDeadline.toISOString(), reason: 'all-reported', outcome: 'aggregated' }, followUpDone: true });
    expect(step(closed, { type: 'deadline', attempt: 0 }, afterDeadline)).toEqual({ state: closed, effects: [], outcome: 'stale' });
  });
});

describe('round machine: closing', () => {
  const answers = (verdicts: VerdictRecord[], discovered: Discovered[] = [], reason: Closing['reason'] = 'deadline'): RoundEvent =>
    ({ type: 'answers', reason, verdicts, discovered });

  it('aggregates the accepted updates when the quorum is met, counting reports found for clients never heard from', () => {
    const state = roundState({ answered: 2 });
    const found = { clientId: 'client-002', verdict: { outcome: 'accepted', report: report('client-002', 30) } as const, reportedAt: beforeDeadline.toISOString() };
    const result = step(state, answers([accepted('client-000', 1), accepted('client-001', 2)], [found]), afterDeadline);
    expect(types(result.effects)).toEqual(['record-verdict', 'aggregate']);
    expect(result.effects[0]).toEqual({ type: 'record-verdict', verdict: { clientId: 'client-002', ordinal: 3, ...found.verdict } });
    const aggregate = result.effects.at(-1) as Extract<RoundEffect, { type: 'aggregate' }>;
    expect(aggregate.accepted).toEqual([{ clientId: 'client-000', samples: 10 }, { clientId: 'client-001', samples: 10 }, { clientId: 'client-002', samples: 30 }]);
    expect(aggregate.closing).toMatchObject({ reason: 'deadline', closedAt: afterDeadline.toISOString() });
  });

  it('does not count a report found at close time that was written after the deadline', () => {
    const state = roundState({ answered: 2, minClients: 2 });
    const late = { clientId: 'client-002', verdict: { outcome: 'accepted', report: report('client-002') } as const, reportedAt: afterDeadline.toISOString() };
    const result = step(state, answers([accepted('client-000', 1), accepted('client-001', 2)], [late]), afterDeadline);
    expect(types(result.effects)).toEqual(['record-verdict', 'aggregate']);
    expect(result.effects[0]).toMatchObject({ verdict: { clientId: 'client-002', outcome: 'late', ordinal: 0 } });
    const aggregate = result.effects.at(-1) as Extract<RoundEffect, { type: 'aggregate' }>;
    expect(aggregate.accepted.map((update) => update.clientId)).toEqual(['client-000', 'client-001']);
  });

  it('fails the experiment when the quorum is missed: the status before the closed round state', () => {
    const state = roundState({ answered: 2 });
    const result = step(state, answers([accepted('client-000', 1), rejected('client-002', 2)]), afterDeadline);
    expect(result.outcome).toBe('failed');
    expect(types(result.effects)).toEqual(['fail-experiment', 'save-state']);
    const failure = result.effects[0] as Extract<RoundEffect, { type: 'fail-experiment' }>;
    expect(failure.errors).toEqual([
      'round 2 closed (deadline of 900 s passed) with 1 usable update(s) of 3; round.minClients requires 3',
      'missing clients: client-001',
      'rejected updates: client-002 (bad weights)',
    ]);
    expect(result.state.closed).toEqual({ at: afterDeadline.toISOString(), reason: 'deadline', outcome: 'failed' });
    expect(result.state.followUpDone).toBe(true);
  });

  it('goes on to evaluate once the aggregation succeeded', () => {
    const verdicts = [accepted('client-000', 1), accepted('client-001', 2), accepted('client-002', 3)];
    const result = step(roundState({ answered: 3 }), { type: 'aggregated', closing: closing(verdicts), result: { ok: true } });
    expect(result.effects).toEqual([{ type: 'evaluate', closing: closing(verdicts) }]);
  });

  it('fails the experiment, naming why, when the accepted updates cannot be aggregated', () => {
    const result = step(roundState({ answered: 3 }), { type: 'aggregated', closing: closing([]), result: { ok: false, problem: 'weights: truncated' } });
    expect(result.outcome).toBe('failed');
    expect(result.effects[0]).toEqual({ type: 'fail-experiment', errors: ['round 2 could not be aggregated: weights: truncated'] });
    expect(types(result.effects)).toEqual(['fail-experiment', 'save-state']);
  });

  it('after evaluating: metrics, then closed, then the next round, then follow-up done', () => {
    const verdicts = [accepted('client-000', 1), rejected('client-001', 2)];
    const result = step(roundState({ answered: 2, minClients: 1 }), { type: 'evaluated', closing: closing(verdicts, 'deadline'), evaluation, finishedAt: afterDeadline.toISOString() });
    expect(types(result.effects)).toEqual(['write-round-metrics', 'save-state', 'open-next-round', 'save-state']);
    const metrics = (result.effects[0] as Extract<RoundEffect, { type: 'write-round-metrics' }>).metrics;
    expect(metrics.clients.map((client) => client.clientId)).toEqual(['client-000']);
    expect(metrics.rejectedClients).toEqual([{ clientId: 'client-001', reason: 'bad weights' }]);
    expect(metrics.missingClients).toEqual(['client-002']);
    expect(metrics.bytes).toEqual({ down: 3000, up: 1000 });
    expect((result.effects[1] as Extract<RoundEffect, { type: 'save-state' }>).state).toMatchObject({ closed: { reason: 'deadline', outcome: 'aggregated' }, followUpDone: false });
    expect(result.state.followUpDone).toBe(true);
    expect(result.outcome).toBe('next-round');
  });

  it('completes the experiment after its last round', () => {
    const result = step(roundState({ answered: 3, lastRound: true }), { type: 'evaluated', closing: closing([accepted('client-000', 1)]), evaluation, finishedAt: afterDeadline.toISOString() });
    expect(types(result.effects)).toEqual(['write-round-metrics', 'save-state', 'complete-experiment', 'save-state']);
    expect(result.outcome).toBe('completed');
  });
});

describe('round machine: the moments the orchestration time is measured from', () => {
  const at = (minutes: number) => new Date(opened.getTime() + minutes * 60_000).toISOString();
  const verdict: Verdict = { outcome: 'accepted', report: report('client-001') };

  it('hands the announcement time from the update to its inspection, and keeps the latest counted one in the state', () => {
    const asked = step(roundState(), { type: 'update', clientId: 'client-001', known: undefined, announcedAt: at(3) });
    expect(asked.effects).toEqual([{ type: 'inspect-update', clientId: 'client-001', announcedAt: at(3) }]);
    const first = step(roundState({ lastUpdateAt: at(4) }), { type: 'inspected', clientId: 'client-001', verdict, reportedAt: at(1), announcedAt: at(3) });
    // an earlier announcement than one already counted leaves the latest in place
    expect(first.state.lastUpdateAt).toBe(at(4));
    const later = step(first.state, { type: 'inspected', clientId: 'client-002', verdict, reportedAt: at(1), announcedAt: at(5) });
    expect(later.state.lastUpdateAt).toBe(at(5));
    // without an announcement (a message without SentTimestamp), the report's time
    const fallback = step(roundState(), { type: 'inspected', clientId: 'client-000', verdict, reportedAt: at(2) });
    expect(fallback.state.lastUpdateAt).toBe(at(2));
  });

  it('counts reports found at the close by their S3 time, and puts both moments into the round metrics', () => {
    const found: Discovered = { clientId: 'client-002', verdict: { outcome: 'accepted', report: report('client-002') }, reportedAt: at(6) };
    const answers = step(roundState({ answered: 2, lastUpdateAt: at(4) }), {
      type: 'answers',
      reason: 'deadline',
      verdicts: [accepted('client-000', 1), accepted('client-001', 2)],
      discovered: [found],
    }, afterDeadline);
    const aggregate = answers.effects.find((effect) => effect.type === 'aggregate') as Extract<RoundEffect, { type: 'aggregate' }>;
    expect(aggregate.closing.lastUpdateAt).toBe(at(6));
    const evaluated = step(roundState({ answered: 3 }), { type: 'evaluated', closing: aggregate.closing, evaluation, finishedAt: afterDeadline.toISOString(), computeMs: 1234 });
    const metrics = (evaluated.effects[0] as Extract<RoundEffect, { type: 'write-round-metrics' }>).metrics;
    expect(metrics.timing).toMatchObject({ lastUpdateAt: at(6), computeMs: 1234 });
  });
});
