import { describe, expect, it } from 'vitest';
import { closeStage, dropoutReason, onStageAnswer, onStageDeadline, openStage, stageMetrics, type SecAggState } from '../shared/pipeline/secagg-stages.js';

const t0 = new Date('2026-12-01T00:00:00Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const clients = ['client-000', 'client-001', 'client-002'];
const fresh = (): SecAggState => ({
  experimentId: 'e',
  round: 1,
  stages: [openStage('advertise-keys', clients, t0, 60, { 'client-000': 10, 'client-001': 10, 'client-002': 10 })],
  outcome: 'running',
});

describe("the aggregator's stage machine (pure)", () => {
  it('counts each client once per stage and closes when the last one answers', () => {
    let state = fresh();
    const first = onStageAnswer(state, 'client-001', 'advertise-keys', at(1));
    expect(first).toMatchObject({ save: true, outcome: 'recorded' });
    expect(first.close).toBeUndefined();
    state = first.state;
    // A replayed or duplicated announcement changes nothing.
    const again = onStageAnswer(state, 'client-001', 'advertise-keys', at(2));
    expect(again).toMatchObject({ state, save: false, outcome: 'duplicate' });
    // An answer to another stage, or from a client not asked, neither counts nor closes.
    expect(onStageAnswer(state, 'client-000', 'unmask', at(2))).toMatchObject({ state, save: false, outcome: 'stale' });
    expect(onStageAnswer(state, 'client-999', 'advertise-keys', at(2))).toMatchObject({ state, save: false, outcome: 'unsampled' });
    state = onStageAnswer(state, 'client-000', 'advertise-keys', at(3)).state;
    const last = onStageAnswer(state, 'client-002', 'advertise-keys', at(4));
    expect(last).toMatchObject({ save: true, close: 'all-answered', outcome: 'recorded' });
    expect(last.state.stages[0]!.answered).toEqual(['client-001', 'client-000', 'client-002']);
    // A close cut short by a crash is redone by the next copy of any message.
    expect(onStageAnswer(last.state, 'client-002', 'advertise-keys', at(5))).toMatchObject({ close: 'all-answered', save: false });
  });

  it("closes at its own deadline only: an early one is armed again, another stage's is stale", () => {
    const state = onStageAnswer(fresh(), 'client-000', 'advertise-keys', at(1)).state;
    const deadlineAt = state.stages[0]!.deadlineAt;
    expect(onStageDeadline(state, deadlineAt, at(30))).toMatchObject({ rearm: true, outcome: 'not-due' });
    expect(onStageDeadline(state, at(10).toISOString(), at(30))).toMatchObject({ outcome: 'stale' });
    expect(onStageDeadline(state, at(10).toISOString(), at(30)).close).toBeUndefined();
    expect(onStageDeadline(state, deadlineAt, at(60))).toMatchObject({ close: 'deadline', outcome: 'closing' });
    // any deadline message once the open stage is due closes it (the timer's copy may carry another dueAt)
    expect(onStageDeadline(state, undefined, at(61))).toMatchObject({ close: 'deadline' });
  });

  it('records who dropped out where, and time and bytes per stage for the metrics', () => {
    let state = onStageAnswer(fresh(), 'client-000', 'advertise-keys', at(1)).state;
    state = onStageAnswer(state, 'client-001', 'advertise-keys', at(2)).state;
    state = closeStage(state, 'deadline', at(60), { 'client-000': 120, 'client-001': 121 });
    state = { ...state, stages: [...state.stages, openStage('share-keys', ['client-000', 'client-001'], at(60), 60, { 'client-000': 300, 'client-001': 300 })] };
    expect(dropoutReason(state, 'client-002')).toContain('at the advertise-keys stage');
    expect(dropoutReason(state, 'client-001')).toContain('at the share-keys stage');
    const metrics = stageMetrics(state);
    expect(metrics.stages[0]).toMatchObject({ stage: 'advertise-keys', ms: 60_000, closedBy: 'deadline', asked: 3, answered: 2, upBytes: { 'client-000': 120 } });
    expect(metrics.stages[1]).toMatchObject({ stage: 'share-keys', asked: 2, answered: 0 });
    expect(onStageAnswer({ ...state, outcome: 'failed' }, 'client-000', 'share-keys', at(61))).toMatchObject({ outcome: 'stale', save: false });
  });
});
