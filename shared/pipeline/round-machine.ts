import type { RoundMetrics } from '../metrics/types.js';
import type { BackendInfo } from '../engine/types.js';
import type { CloseReason, RoundState, UpdateReport, VerdictRecord } from '../protocol/records.js';
import { buildRoundMetrics, type Evaluation } from './round-metrics.js';

/**
 * The aggregator's decisions about one round, as a pure state machine: `transition(state, event, now)` returns the
 * next state and the effects to perform, in the order that keeps every crash point recoverable. It never does I/O:
 * the runner (round-runner.ts) performs the effects, and the few that read something (inspect an update, gather the
 * answers, aggregate, evaluate) come last in their list and hand their result back as the next event.
 *
 * Write order, and why each crash point is safe (docs/protocol.md has the full table):
 * - a verdict is written before the state counting it: a crash in between leaves a verdict whose `ordinal` is ahead
 *   of `answered`, which the redelivered message (or any later one) brings the state up to;
 * - a round whose clients have all answered, but which is not closed, closes on *any* message for it;
 * - a close writes the round's metrics, then `closed`, then the follow-up (next round or completion), then
 *   `followUpDone`: everything before `closed` is recomputed identically on a retry, everything after it is redone
 *   until `followUpDone` is written;
 * - a failed close writes the experiment's status before `closed`, so no crash leaves a closed round and a
 *   running experiment.
 * What to aggregate and how is one effect (`aggregate`): the machine knows only which updates were accepted.
 * A round split into groups (config round.groups, round-groups.ts) runs it twice over: each group's state as a round's
 * for its clients, closing with its partial sum (`write-partial`), and the round's, which counts closed groups instead
 * of answers and passes its deadline on to them.
 */

export type Verdict = { readonly outcome: 'accepted'; readonly report: UpdateReport } | { readonly outcome: 'rejected'; readonly reason: string };

/** What a closing round carries from one step of its close to the next. */
export interface Closing {
  readonly reason: CloseReason;
  readonly closedAt: string;
  readonly verdicts: readonly VerdictRecord[];
  /** the latest moment a counted update was written, reports found at close time included */
  readonly lastUpdateAt?: string;
}

export interface AcceptedUpdate {
  readonly clientId: string;
  readonly samples: number;
}

/** A report found at close time for a client whose "update ready" never came, and what inspecting it said. */
export interface Discovered {
  readonly clientId: string;
  readonly verdict: Verdict;
  readonly reportedAt: string | undefined;
}

export type AggregationResult = { readonly ok: true } | { readonly ok: false; readonly problem: string };

export type RoundEvent =
  /**
   * an "update ready" message; `known` is the client's verdict if one was recorded before; `announcedAt`: when the
   * message was sent (SQS's SentTimestamp), right after the client wrote its update
   */
  | { readonly type: 'update'; readonly clientId: string; readonly known: VerdictRecord | undefined; readonly announcedAt?: string }
  | { readonly type: 'deadline'; readonly attempt: number }
  /** a split round (config round.groups): one of its groups wrote its partial sum */
  | { readonly type: 'group-closed'; readonly group: number }
  /** `reportedAt`: when the client's report was written (the store's clock), if known; `announcedAt` as for 'update' */
  | {
      readonly type: 'inspected';
      readonly clientId: string;
      readonly verdict: Verdict;
      readonly reportedAt: string | undefined;
      readonly announcedAt?: string;
    }
  /** every expected client's verdict, and those found at close time for clients whose message never came */
  | {
      readonly type: 'answers';
      readonly reason: CloseReason;
      readonly verdicts: readonly VerdictRecord[];
      readonly discovered: readonly Discovered[];
      /** a split round: the latest update its groups counted, from their partial sums */
      readonly lastUpdateAt?: string;
    }
  | { readonly type: 'aggregated'; readonly closing: Closing; readonly result: AggregationResult }
  /** `computeMs`: the aggregation and the evaluation of this close, as timed by the runner */
  | { readonly type: 'evaluated'; readonly closing: Closing; readonly evaluation: Evaluation; readonly finishedAt: string; readonly computeMs?: number };

export type RoundEffect =
  | { readonly type: 'inspect-update'; readonly clientId: string; readonly announcedAt?: string }
  | { readonly type: 'gather-answers'; readonly reason: CloseReason }
  | { readonly type: 'aggregate'; readonly closing: Closing; readonly accepted: readonly AcceptedUpdate[] }
  /** a group of a split round: its accepted updates' partial sum and its verdicts, for the round's close */
  | { readonly type: 'write-partial'; readonly closing: Closing; readonly accepted: readonly AcceptedUpdate[] }
  /** a group's follow-up: the round's own FIFO group hears that its partial sum is written */
  | { readonly type: 'announce-group-closed' }
  /** a split round's deadline, passed on to the groups that have not closed */
  | { readonly type: 'forward-deadline'; readonly groups: readonly number[]; readonly attempt: number }
  | { readonly type: 'evaluate'; readonly closing: Closing }
  | { readonly type: 'record-verdict'; readonly verdict: VerdictRecord }
  | { readonly type: 'save-state'; readonly state: RoundState }
  | { readonly type: 'write-round-metrics'; readonly metrics: RoundMetrics; readonly backend: BackendInfo | undefined }
  | { readonly type: 'fail-experiment'; readonly errors: readonly string[] }
  | { readonly type: 'open-next-round' }
  | { readonly type: 'complete-experiment' }
  | { readonly type: 'arm-deadline'; readonly dueAt: string; readonly attempt: number }
  | { readonly type: 'log'; readonly event: string; readonly fields: Readonly<Record<string, unknown>> };

/** The effects that read and answer with the next event: always the last of their list. */
export const QUERY_EFFECTS = ['inspect-update', 'gather-answers', 'aggregate', 'write-partial', 'evaluate'] as const;

export type RoundOutcome =
  | 'recorded'
  | 'rejected'
  | 'duplicate'
  | 'recovered'
  | 'unsampled'
  | 'late'
  | 'not-due'
  | 'stale'
  | 'closing'
  | 'next-round'
  | 'group-closed'
  | 'completed'
  | 'failed';

export interface Transition {
  readonly state: RoundState;
  readonly effects: readonly RoundEffect[];
  /** how the message was answered, once the chain of events it started ends */
  readonly outcome?: RoundOutcome;
}

export function transition(state: RoundState, event: RoundEvent, now: Date): Transition {
  switch (event.type) {
    case 'update':
      return onUpdate(state, event, now);
    case 'deadline':
      return onDeadline(state, event.attempt, now);
    case 'group-closed':
      return onGroupClosed(state, event.group, now);
    case 'inspected':
      return onInspected(state, event, now);
    case 'answers':
      return onAnswers(state, event, now);
    case 'aggregated':
      return onAggregated(state, event.closing, event.result);
    case 'evaluated':
      return onEvaluated(state, event.closing, event.evaluation, event.finishedAt, event.computeMs);
  }
}

export function allAnswered(state: RoundState): boolean {
  return state.answered >= state.expected.length;
}

/** A split round's groups, 0 … groups − 1 (none for a round in one group). */
export function groupIndices(state: Pick<RoundState, 'groups'>): number[] {
  return Array.from({ length: state.groups ?? 0 }, (_, group) => group);
}

/** A split round's groups whose partial sums are not written yet. */
export function openGroups(state: RoundState): number[] {
  const closed = new Set(state.groupsClosed ?? []);
  return groupIndices(state).filter((group) => !closed.has(group));
}

const log = (event: string, fields: Readonly<Record<string, unknown>>): RoundEffect => ({ type: 'log', event, fields });

function where(state: RoundState) {
  return { experimentId: state.experimentId, round: state.round };
}

/**
 * A round closes on any message for it once every client has answered (a message whose invocation crashed before
 * closing, too), or once its deadline has passed: the deadline message is only the wake-up for a round nobody
 * writes to.
 */
function closeIfDue(state: RoundState, now: Date): readonly RoundEffect[] {
  if (state.closed) return [];
  // A split round closes once every group has: each closes on its own last answer or at the deadline passed on to it.
  if (state.groups !== undefined) return openGroups(state).length === 0 ? [{ type: 'gather-answers', reason: 'all-reported' }] : [];
  if (allAnswered(state)) return [{ type: 'gather-answers', reason: 'all-reported' }];
  return now.getTime() >= Date.parse(state.deadlineAt) ? [{ type: 'gather-answers', reason: 'deadline' }] : [];
}

/**
 * A round counts exactly the updates whose reports were complete by its deadline, by the store's clock: how late its
 * messages are processed (a retry, a crashed invocation, a timer held up) changes nothing about what it aggregates.
 */
export function reportedLate(state: RoundState, reportedAt: string | undefined): boolean {
  return reportedAt !== undefined && Date.parse(reportedAt) > Date.parse(state.deadlineAt);
}

const LATE_REASON = 'its report was written after the round\'s deadline';

function followUp(state: RoundState): Transition {
  if (state.group !== undefined) {
    return {
      state: { ...state, followUpDone: true },
      effects: [{ type: 'announce-group-closed' }, { type: 'save-state', state: { ...state, followUpDone: true } }],
      outcome: 'group-closed',
    };
  }
  return {
    state: { ...state, followUpDone: true },
    effects: [
      { type: state.lastRound ? 'complete-experiment' : 'open-next-round' },
      { type: 'save-state', state: { ...state, followUpDone: true } },
    ],
    outcome: state.lastRound ? 'completed' : 'next-round',
  };
}

function onClosedRound(state: RoundState, clientId: string | undefined, known: VerdictRecord | undefined): Transition {
  if (!state.followUpDone) return followUp(state);
  if (clientId === undefined) return { state, effects: [], outcome: 'stale' };
  if (known) return { state, effects: [], outcome: 'duplicate' };
  if (!state.expected.includes(clientId)) return unsampled(state, clientId);
  const verdict: VerdictRecord = { clientId, ordinal: 0, outcome: 'late', reason: 'arrived after the round closed' };
  return {
    state,
    effects: [{ type: 'record-verdict', verdict }, log('aggregate.late-update', { ...where(state), clientId })],
    outcome: 'late',
  };
}

/** A client that was not asked to train: logged only, so no stream of bogus messages can grow a record. */
function unsampled(state: RoundState, clientId: string, now?: Date): Transition {
  return {
    state,
    effects: [log('aggregate.unsampled-update', { ...where(state), clientId }), ...(now ? closeIfDue(state, now) : [])],
    outcome: 'unsampled',
  };
}

function onUpdate(state: RoundState, { clientId, known, announcedAt }: Extract<RoundEvent, { type: 'update' }>, now: Date): Transition {
  if (state.groups !== undefined) {
    // A split round's updates are its groups' to record. One that came here without its group is left to that group's
    // close, which finds its report as it finds any whose message was lost.
    return { state, effects: [log('aggregate.update-without-group', { ...where(state), clientId })], outcome: 'stale' };
  }
  if (state.closed) return onClosedRound(state, clientId, known);
  if (!state.expected.includes(clientId)) return unsampled(state, clientId, now);
  if (!known) return { state, effects: [{ type: 'inspect-update', clientId, ...(announcedAt ? { announcedAt } : {}) }] };
  if (known.ordinal > state.answered) {
    // Recorded by an invocation that crashed before saving the state that counts it.
    const next = { ...state, answered: known.ordinal };
    return { state: next, effects: [{ type: 'save-state', state: next }, ...closeIfDue(next, now)], outcome: 'recovered' };
  }
  return { state, effects: closeIfDue(state, now), outcome: 'duplicate' };
}

function onDeadline(state: RoundState, attempt: number, now: Date): Transition {
  if (state.closed) return onClosedRound(state, undefined, undefined);
  const groups = openGroups(state);
  if (state.groups !== undefined && groups.length === 0) return { state, effects: closeIfDue(state, now), outcome: 'closing' };
  if (state.groups !== undefined && now.getTime() >= Date.parse(state.deadlineAt)) {
    // Only a group writes its clients' verdicts: each closes itself, then says so here.
    return {
      state,
      effects: [{ type: 'forward-deadline', groups, attempt }, log('aggregate.deadline-forwarded', { ...where(state), groups: groups.length })],
      outcome: 'closing',
    };
  }
  if (now.getTime() < Date.parse(state.deadlineAt)) {
    if (allAnswered(state)) return { state, effects: closeIfDue(state, now), outcome: 'closing' };
    // Fired early (clock skew between timer and aggregator): armed again, as a new attempt, or the round could
    // wait forever for a straggler.
    return {
      state,
      effects: [{ type: 'arm-deadline', dueAt: state.deadlineAt, attempt: attempt + 1 }, log('aggregate.deadline-early', { ...where(state), attempt })],
      outcome: 'not-due',
    };
  }
  // Due: closes with the reason a round closed by its last answer would give, should that close have been cut short.
  return { state, effects: closeIfDue(state, now), outcome: 'closing' };
}

function onGroupClosed(state: RoundState, group: number, now: Date): Transition {
  if (state.closed) return onClosedRound(state, undefined, undefined);
  if (state.groups === undefined || group >= state.groups) {
    return { state, effects: [log('aggregate.unknown-group', { ...where(state), group })], outcome: 'stale' };
  }
  if (state.groupsClosed?.includes(group)) return { state, effects: closeIfDue(state, now), outcome: 'duplicate' };
  const next: RoundState = { ...state, groupsClosed: [...(state.groupsClosed ?? []), group] };
  return { state: next, effects: [{ type: 'save-state', state: next }, ...closeIfDue(next, now)], outcome: 'recorded' };
}

function onInspected(state: RoundState, event: Extract<RoundEvent, { type: 'inspected' }>, now: Date): Transition {
  const { clientId, verdict } = event;
  if (state.closed) return { state, effects: [], outcome: 'stale' };
  if (reportedLate(state, event.reportedAt)) {
    const late: VerdictRecord = { clientId, ordinal: 0, outcome: 'late', reason: LATE_REASON };
    return {
      state,
      effects: [{ type: 'record-verdict', verdict: late }, log('aggregate.late-update', { ...where(state), clientId }), ...closeIfDue(state, now)],
      outcome: 'late',
    };
  }
  const record: VerdictRecord = { clientId, ordinal: state.answered + 1, ...verdict };
  const next = { ...state, answered: record.ordinal, ...lastUpdate(state, event.announcedAt ?? event.reportedAt) };
  const logged =
    verdict.outcome === 'accepted'
      ? log('aggregate.update-accepted', { ...where(state), clientId })
      : log('aggregate.update-rejected', { ...where(state), clientId, reason: verdict.reason });
  return {
    state: next,
    effects: [{ type: 'record-verdict', verdict: record }, { type: 'save-state', state: next }, logged, ...closeIfDue(next, now)],
    outcome: verdict.outcome === 'accepted' ? 'recorded' : 'rejected',
  };
}

/** The latest moment a counted update was written (announced, or its report's time), for the round's orchestration time. */
function lastUpdate(state: RoundState, at: string | undefined): Pick<RoundState, 'lastUpdateAt'> {
  if (at === undefined || Number.isNaN(Date.parse(at))) return state.lastUpdateAt ? { lastUpdateAt: state.lastUpdateAt } : {};
  const latest = state.lastUpdateAt && Date.parse(state.lastUpdateAt) >= Date.parse(at) ? state.lastUpdateAt : new Date(at).toISOString();
  return { lastUpdateAt: latest };
}

function inExpectedOrder(state: RoundState, verdicts: readonly VerdictRecord[]): VerdictRecord[] {
  const byClient = new Map(verdicts.map((verdict) => [verdict.clientId, verdict]));
  return state.expected.flatMap((clientId) => {
    const verdict = byClient.get(clientId);
    return verdict && verdict.outcome !== 'late' ? [verdict] : [];
  });
}

/**
 * The order the close folds the accepted updates in: their verdicts' ordinals (the order they were recorded, which a
 * warm aggregator folds them in as it goes: round-memory.ts), then the expected clients' order for equal ordinals. It
 * depends only on the verdicts, so every retry of a close folds the same float sums.
 */
function foldOrder(verdicts: readonly VerdictRecord[]): AcceptedUpdate[] {
  return verdicts
    .flatMap((verdict) => (verdict.outcome === 'accepted' ? [{ ordinal: verdict.ordinal, update: { clientId: verdict.clientId, samples: verdict.report.samples } }] : []))
    .sort((a, b) => a.ordinal - b.ordinal)
    .map(({ update }) => update);
}

function onAnswers(state: RoundState, event: Extract<RoundEvent, { type: 'answers' }>, now: Date): Transition {
  if (state.closed) return { state, effects: [], outcome: 'stale' };
  const onTime = event.discovered.filter((found) => !reportedLate(state, found.reportedAt));
  const discovered: VerdictRecord[] = [
    ...onTime.map(({ clientId, verdict }, index): VerdictRecord => ({ clientId, ordinal: state.answered + 1 + index, ...verdict })),
    ...event.discovered
      .filter((found) => reportedLate(state, found.reportedAt))
      .map(({ clientId }): VerdictRecord => ({ clientId, ordinal: 0, outcome: 'late', reason: LATE_REASON })),
  ];
  const verdicts = inExpectedOrder(state, [...event.verdicts, ...discovered]);
  const recordDiscovered: RoundEffect[] = discovered.flatMap((verdict) => [
    { type: 'record-verdict', verdict } as const,
    log('aggregate.report-found', { ...where(state), clientId: verdict.clientId, outcome: verdict.outcome }),
  ]);
  const lastUpdateAt = onTime.reduce((latest, found) => ({ ...latest, ...lastUpdate(latest, found.reportedAt) }), { ...state, ...lastUpdate(state, event.lastUpdateAt) }).lastUpdateAt;
  const closing: Closing = { reason: event.reason, closedAt: now.toISOString(), verdicts, ...(lastUpdateAt ? { lastUpdateAt } : {}) };
  const accepted = foldOrder(verdicts);
  if (state.group !== undefined) {
    return { state, effects: [...recordDiscovered, { type: 'write-partial', closing, accepted }], outcome: 'closing' };
  }
  if (accepted.length >= state.minClients) {
    return { state, effects: [...recordDiscovered, { type: 'aggregate', closing, accepted }], outcome: 'closing' };
  }
  const answered = new Set(verdicts.map((verdict) => verdict.clientId));
  const missing = state.expected.filter((clientId) => !answered.has(clientId));
  const rejected = verdicts.flatMap((verdict) => (verdict.outcome === 'rejected' ? [`${verdict.clientId} (${verdict.reason})`] : []));
  const deadlineSeconds = Math.round((Date.parse(state.deadlineAt) - Date.parse(state.startedAt)) / 1000);
  const errors = [
    `round ${state.round} closed (${event.reason === 'deadline' ? `deadline of ${deadlineSeconds} s passed` : 'every client answered'}) ` +
      `with ${accepted.length} usable update(s) of ${state.expected.length}; round.minClients requires ${state.minClients}`,
    ...(missing.length ? [`missing clients: ${missing.join(', ')}`] : []),
    ...(rejected.length ? [`rejected updates: ${rejected.join('; ')}`] : []),
  ];
  return failRound(state, closing, errors, recordDiscovered);
}

/** The experiment's status says failed before the round says closed: no crash can leave a closed round running. */
function failRound(state: RoundState, closing: Closing, errors: readonly string[], before: readonly RoundEffect[] = []): Transition {
  const closed: RoundState = { ...state, closed: { at: closing.closedAt, reason: closing.reason, outcome: 'failed' }, followUpDone: true };
  return {
    state: closed,
    effects: [...before, { type: 'fail-experiment', errors }, { type: 'save-state', state: closed }, log('experiment.failed', { ...where(state), errors })],
    outcome: 'failed',
  };
}

function onAggregated(state: RoundState, closing: Closing, result: AggregationResult): Transition {
  if (state.closed) return { state, effects: [], outcome: 'stale' };
  if (!result.ok) return failRound(state, closing, [`round ${state.round} could not be aggregated: ${result.problem}`]);
  if (state.group !== undefined) {
    // The partial sum is written: the group is closed, and its follow-up tells the round.
    return followUp({ ...state, closed: { at: closing.closedAt, reason: closing.reason, outcome: 'aggregated' } });
  }
  return { state, effects: [{ type: 'evaluate', closing }], outcome: 'closing' };
}

function onEvaluated(state: RoundState, closing: Closing, evaluation: Evaluation, finishedAt: string, computeMs: number | undefined): Transition {
  if (state.closed) return { state, effects: [], outcome: 'stale' };
  const metrics = buildRoundMetrics(state, closing, evaluation, finishedAt, computeMs);
  const firstAccepted = closing.verdicts.find((verdict) => verdict.outcome === 'accepted');
  const closed: RoundState = { ...state, closed: { at: closing.closedAt, reason: closing.reason, outcome: 'aggregated' } };
  const next = followUp(closed);
  return {
    state: next.state,
    effects: [
      { type: 'write-round-metrics', metrics, backend: firstAccepted?.outcome === 'accepted' ? firstAccepted.report.backend : undefined },
      { type: 'save-state', state: closed },
      log('round.closed', { ...where(state), reason: closing.reason, accuracy: evaluation.accuracy, accepted: metrics.clients.length, missing: metrics.missingClients }),
      ...next.effects,
    ],
    outcome: next.outcome,
  };
}
