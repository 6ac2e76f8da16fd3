import { z } from 'zod';
import { SECAGG_CLIENT_STAGES, type SecAggClientStage } from '../protocol/keys.js';

/**
 * The aggregator's bookkeeping of a secure-aggregation round's stages, and its decisions as pure functions: which
 * stage is open, who was asked, who answered, when it closes. Each stage is a fan-out of "train" messages naming the
 * stage and a fan-in of "secagg" messages on the aggregate queue; it closes when every client asked has answered, or
 * at its own deadline (the same timer as a round's). The runner (secagg-round.ts) performs the I/O of a close.
 */

const bytesPerClient = z.record(z.string(), z.int().min(0));

export const stageRecordSchema = z.object({
  stage: z.enum(SECAGG_CLIENT_STAGES),
  startedAt: z.iso.datetime(),
  deadlineAt: z.iso.datetime(),
  /** the clients sent this stage's request */
  asked: z.array(z.string()),
  /** clients whose answer was announced, in arrival order */
  answered: z.array(z.string()),
  closed: z.object({ at: z.iso.datetime(), reason: z.enum(['all-answered', 'deadline']) }).optional(),
  /** what each client received (its request) and sent (its answer; for masked-input, the vector and the notice) */
  downBytes: bytesPerClient,
  upBytes: bytesPerClient.optional(),
});
export type StageRecord = z.infer<typeof stageRecordSchema>;

export const secaggStateSchema = z.object({
  experimentId: z.string(),
  round: z.int().min(1),
  /** the stages opened so far, the open one last */
  stages: z.array(stageRecordSchema).min(1),
  outcome: z.enum(['running', 'unmasked', 'failed']),
  failure: z.object({ stage: z.string(), reason: z.string() }).optional(),
});
export type SecAggState = z.infer<typeof secaggStateSchema>;

export type StageOutcome = 'recorded' | 'duplicate' | 'stale' | 'unsampled' | 'not-due' | 'closing';

export interface StageDecision {
  readonly state: SecAggState;
  /** the open stage closes now, for this reason */
  readonly close?: 'all-answered' | 'deadline';
  /** the deadline message came early: arm it again */
  readonly rearm?: boolean;
  /** the state changed and must be written */
  readonly save: boolean;
  readonly outcome: StageOutcome;
}

export function openStage(stage: SecAggClientStage, asked: readonly string[], now: Date, seconds: number, downBytes: Record<string, number>): StageRecord {
  return { stage, startedAt: now.toISOString(), deadlineAt: new Date(now.getTime() + seconds * 1000).toISOString(), asked: [...asked], answered: [], downBytes };
}

export const openStageOf = (state: SecAggState): StageRecord => state.stages[state.stages.length - 1]!;

function dueNow(stage: StageRecord, now: Date): StageDecision['close'] {
  if (stage.asked.every((clientId) => stage.answered.includes(clientId))) return 'all-answered';
  return now.getTime() >= Date.parse(stage.deadlineAt) ? 'deadline' : undefined;
}

/**
 * A client announced its answer to `stage`. Counted once per client and stage: a replay or duplicate is a
 * `duplicate`, an answer to a stage already closed (or not asked of the client) changes nothing. A stage every client
 * answered, or whose deadline has passed, closes on any message for it (so a close cut short by a crash is redone).
 */
export function onStageAnswer(state: SecAggState, clientId: string, stage: SecAggClientStage, now: Date): StageDecision {
  if (state.outcome !== 'running') return { state, save: false, outcome: 'stale' };
  const open = openStageOf(state);
  const close = (next: SecAggState) => dueNow(openStageOf(next), now);
  if (stage !== open.stage) return withClose(state, close(state), false, 'stale');
  if (!open.asked.includes(clientId)) return withClose(state, close(state), false, 'unsampled');
  if (open.answered.includes(clientId)) return withClose(state, close(state), false, 'duplicate');
  const next: SecAggState = { ...state, stages: [...state.stages.slice(0, -1), { ...open, answered: [...open.answered, clientId] }] };
  return withClose(next, close(next), true, 'recorded');
}

/** A deadline message: it closes the open stage if it is that stage's deadline and due; an early one is armed again. */
export function onStageDeadline(state: SecAggState, dueAt: string | undefined, now: Date): StageDecision {
  if (state.outcome !== 'running') return { state, save: false, outcome: 'stale' };
  const open = openStageOf(state);
  const close = dueNow(open, now);
  if (close) return withClose(state, close, false, 'closing');
  if (dueAt !== undefined && Date.parse(dueAt) === Date.parse(open.deadlineAt)) return { state, save: false, rearm: true, outcome: 'not-due' };
  return { state, save: false, outcome: 'stale' };
}

function withClose(state: SecAggState, close: StageDecision['close'], save: boolean, outcome: StageOutcome): StageDecision {
  return close ? { state, save, close, outcome: outcome === 'recorded' ? 'recorded' : 'closing' } : { state, save, outcome };
}

/** The open stage marked closed, with the bytes each answering client sent. */
export function closeStage(state: SecAggState, reason: 'all-answered' | 'deadline', now: Date, upBytes: Record<string, number>): SecAggState {
  const open = openStageOf(state);
  return { ...state, stages: [...state.stages.slice(0, -1), { ...open, closed: { at: now.toISOString(), reason }, upBytes }] };
}

/** Why a client is not among the contributors: the first stage it was asked and did not answer in time. */
export function dropoutReason(state: SecAggState, clientId: string): string {
  for (const stage of state.stages) {
    if (!stage.asked.includes(clientId)) return `dropped out of secure aggregation before the ${stage.stage} stage (the core excluded or refused it)`;
    if (!(stage.upBytes && clientId in stage.upBytes)) return `dropped out of secure aggregation at the ${stage.stage} stage (no answer by its close)`;
  }
  return 'dropped out of secure aggregation';
}

/** The round's stages for metrics.json: time per stage and bytes per client per stage. */
export function stageMetrics(state: SecAggState) {
  return {
    outcome: state.outcome,
    ...(state.failure ? { failure: state.failure } : {}),
    stages: state.stages.map((stage) => ({
      stage: stage.stage,
      startedAt: stage.startedAt,
      ...(stage.closed ? { closedAt: stage.closed.at, closedBy: stage.closed.reason, ms: Math.max(0, Date.parse(stage.closed.at) - Date.parse(stage.startedAt)) } : {}),
      asked: stage.asked.length,
      answered: Object.keys(stage.upBytes ?? {}).length,
      downBytes: stage.downBytes,
      upBytes: stage.upBytes ?? {},
    })),
  };
}
export type SecAggRoundMetrics = ReturnType<typeof stageMetrics>;
