import type { z } from 'zod';
import type { ExperimentConfig } from '../config/schema.js';
import { partitionStatsSchema } from '../metrics/schema.js';
import { keys, type SecAggClientStage } from '../protocol/keys.js';
import type { AggregateMessage, TrainMessage } from '../protocol/messages.js';
import { updateReportSchema, type RoundState, type VerdictRecord } from '../protocol/records.js';
import {
  addMaskedInput,
  advertiseKeysSchema,
  closeAdvertiseKeys,
  closeMaskedInput,
  closeShareKeys,
  createRoundSetup,
  decodeMaskedInput,
  emptyMaskedSum,
  graphSeedFor,
  loadRoundSetup,
  maskedInputClosedSchema,
  maskedInputNoticeSchema,
  maskedInputProblem,
  maskedInputRequestSchema,
  rosterSchema,
  roundSetupSchema,
  shareKeysSchema,
  unflattenWeights,
  unmaskResponseSchema,
  unmaskSum,
  type RoundSetup,
  type SecAggFailure,
} from '../secagg/index.js';
import { experimentStrategy } from '../strategies/index.js';
import { decodeModelWeights, encodeModelWeights } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import { readRecord, requireObject, requireRecord, writeRecord, type PipelineContext } from './context.js';
import type { RoundOutcome } from './round-machine.js';
import { RoundRunner, type ExperimentView, type RoundStateWriter } from './round-runner.js';
import { armDeadline } from './rounds.js';
import { PrivacyBudgetError } from './privacy-round.js';
import { distributedMinContributors } from '../config/distributed-privacy.js';
import { accountDistributedRound, recordDistributedRelease } from './secagg-privacy.js';
import {
  closeStage,
  dropoutReason,
  onStageAnswer,
  onStageDeadline,
  openStage,
  openStageOf,
  secaggStateSchema,
  stageMetrics,
  type SecAggState,
  type StageOutcome,
} from './secagg-stages.js';

/**
 * The aggregator's half of a secure-aggregation round (docs/secure-aggregation.md, "Pipeline integration"). A round
 * opens with the setup and the advertise-keys stage; each stage's close runs the core's pure close over the answers
 * in the bucket, writes the next stage's requests, sends them and arms that stage's deadline, then saves the stage
 * state. The unmask close removes the masks from the fold of the masked inputs and writes only the weighted mean;
 * the round machine then closes the round as usual (verdicts → aggregate → evaluate → next round), the strategy's
 * server step applying to that mean. The aggregator reads setup, requests, answers and masked vectors: never a
 * client's secret (it has no grant there) nor an unmasked update (none is ever written).
 */

const stageSeconds = (config: ExperimentConfig, stage: SecAggClientStage) =>
  stage === 'masked-input' ? config.round.deadlineSeconds : config.secureAggregation!.stageDeadlineSeconds;

const recordBytes = (record: unknown) => Buffer.byteLength(JSON.stringify(record, null, 1), 'utf8');

/** The averaged part of global model r − 1: what the clients' updates are the change of. */
async function averagedGlobal(context: PipelineContext, config: ExperimentConfig, experimentId: string, round: number): Promise<ModelWeights> {
  const model = decodeModelWeights(await requireObject(context.store, keys.globalModel(experimentId, round - 1)));
  return [...experimentStrategy(config).server.averagedPart(model)];
}

/** Round `round` opens: its setup (public, deterministic from the config), the advertise-keys stage, its requests. */
export async function openSecAggRound(context: PipelineContext, config: ExperimentConfig, state: RoundState): Promise<void> {
  const { store } = context;
  const { experimentId, round, expected } = state;
  const section = config.secureAggregation!;
  let setupRecord = await readRecord(store, keys.secaggSetup(experimentId, round), roundSetupSchema);
  if (!setupRecord) {
    const partition = await requireRecord(store, keys.partition(experimentId), partitionStatsSchema);
    const held = new Map(partition.clients.map((client) => [client.clientId, client.samples + (client.sharedSamples ?? 0)]));
    const averaged = await averagedGlobal(context, config, experimentId, round);
    setupRecord = createRoundSetup(
      {
        experimentId,
        round,
        clients: expected,
        threshold: section.threshold,
        neighbours: section.neighbours,
        clippingRange: section.clippingRange,
        quantizationBits: section.quantizationBits,
        rounding: section.rounding,
        vectorLength: averaged.reduce((total, tensor) => total + tensor.values.length, 0),
        maxWeight: Math.max(1, ...expected.map((clientId) => held.get(clientId) ?? 0)),
        // Distributed DP sizes the noise shares for this many contributors, so no round may unmask with fewer.
        minContributors: config.privacy ? distributedMinContributors(section.threshold, config.round.minClients, expected.length) : undefined,
      },
      graphSeedFor(config.seed, experimentId, round),
    );
    await writeRecord(store, keys.secaggSetup(experimentId, round), setupRecord);
  }
  let secagg = await readRecord(store, keys.secaggState(experimentId, round), secaggStateSchema);
  if (!secagg) {
    const setupBytes = recordBytes(setupRecord);
    const first = openStage('advertise-keys', expected, context.now(), stageSeconds(config, 'advertise-keys'), Object.fromEntries(expected.map((id) => [id, setupBytes])));
    secagg = { experimentId, round, stages: [first], outcome: 'running' };
    await writeRecord(store, keys.secaggState(experimentId, round), secagg);
  }
  await sendStage(context, secagg);
}

/** The open stage's requests go out (again, if this is a retry: trainers and the stage state absorb copies). */
async function sendStage(context: PipelineContext, secagg: SecAggState): Promise<void> {
  const { experimentId, round } = secagg;
  const open = openStageOf(secagg);
  await context.queues.train.sendBatch(open.asked.map((clientId) => ({ body: { type: 'train', experimentId, round, clientId, stage: open.stage } satisfies TrainMessage })));
  await armDeadline(context, { experimentId, round, deadlineAt: open.deadlineAt }, 0);
  context.log('secagg.stage-opened', { experimentId, round, stage: open.stage, clients: open.asked.length, deadlineAt: open.deadlineAt });
}

export type SecAggOutcome = RoundOutcome | StageOutcome;

/**
 * One aggregate-queue message of a secure-aggregation experiment ("secagg" answers and stage deadlines; an "update"
 * has no place in such a round and changes nothing). Returns how it was answered and the round state it left.
 */
export async function handleSecAggMessage(
  context: PipelineContext,
  experiment: ExperimentView,
  roundState: RoundState,
  writer: RoundStateWriter,
  message: Exclude<AggregateMessage, { type: 'start' }>,
): Promise<{ outcome: SecAggOutcome; state: RoundState }> {
  const { store } = context;
  const { experimentId, round } = roundState;
  const runner = new RoundRunner(context, experiment, roundState, writer);
  const finish = async (outcome: SecAggOutcome | Promise<SecAggOutcome>) => ({ outcome: await outcome, state: runner.roundState });
  // A closed round: the round machine finishes its follow-up if a crash cut it short, or calls the message stale.
  if (roundState.closed) return finish(runner.run({ type: 'deadline', attempt: 0 }));
  const secagg = await requireRecord(store, keys.secaggState(experimentId, round), secaggStateSchema);
  if (secagg.outcome !== 'running') return finish(handOff(context, runner, roundState, secagg));
  const now = context.now();
  const decision =
    message.type === 'secagg'
      ? onStageAnswer(secagg, message.clientId, message.stage, now)
      : message.type === 'deadline'
        ? onStageDeadline(secagg, message.dueAt, now)
        : { state: secagg, save: false, outcome: 'stale' as const };
  if (message.type === 'update') context.log('secagg.plain-update-ignored', { experimentId, round, clientId: message.clientId });
  if (decision.save) await writeRecord(store, keys.secaggState(experimentId, round), decision.state);
  if (decision.rearm && message.type === 'deadline') {
    await armDeadline(context, { experimentId, round, deadlineAt: openStageOf(decision.state).deadlineAt }, message.attempt + 1);
  }
  if (!decision.close) return finish(decision.outcome);
  const after = await closeOpenStage(context, experiment.config, decision.state, decision.close);
  if (after.outcome === 'running') return finish(decision.outcome);
  return finish(handOff(context, runner, roundState, after));
}

/** The answers of the clients asked, in arrival order (those found without an announcement last), with their size. */
async function readAnswers<T extends z.ZodType>(context: PipelineContext, secagg: SecAggState, schema: T) {
  const { experimentId, round } = secagg;
  const open = openStageOf(secagg);
  const order = [...open.answered, ...open.asked.filter((id) => !open.answered.includes(id))];
  const answers: z.output<T>[] = [];
  const upBytes: Record<string, number> = {};
  for (const clientId of order) {
    const key = keys.secaggAnswer(experimentId, round, open.stage, clientId);
    const text = await context.store.getText(key);
    if (text === undefined) continue;
    const parsed = schema.safeParse(safeJson(text));
    if (!parsed.success) {
      context.log('secagg.answer-malformed', { experimentId, round, stage: open.stage, clientId });
      continue;
    }
    answers.push(parsed.data);
    upBytes[clientId] = Buffer.byteLength(text, 'utf8');
  }
  return { answers, upBytes };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Closes the open stage: the core's close over the answers, then the next stage's requests, messages and deadline,
 * then the stage state (last: a crash before it redoes the close from the same answers). Returns the state saved.
 */
async function closeOpenStage(context: PipelineContext, config: ExperimentConfig, secagg: SecAggState, reason: 'all-answered' | 'deadline'): Promise<SecAggState> {
  const { store } = context;
  const { experimentId, round } = secagg;
  const now = context.now();
  const setup = loadRoundSetup(await requireRecord(store, keys.secaggSetup(experimentId, round), roundSetupSchema));
  const open = openStageOf(secagg);
  const logVerdicts = (verdicts: readonly { clientId: string; verdict: string; reason?: string }[]) => {
    for (const v of verdicts) if (v.verdict !== 'accepted') context.log('secagg.verdict', { experimentId, round, stage: open.stage, ...v });
  };
  const save = async (state: SecAggState) => {
    await writeRecord(store, keys.secaggState(experimentId, round), state);
    return state;
  };
  const fail = (closed: SecAggState, failure: SecAggFailure) => save({ ...closed, outcome: 'failed', failure: { stage: failure.stage, reason: failure.reason } });
  const next = async (closed: SecAggState, stage: SecAggClientStage, requests: readonly { clientId: string }[], keyOf: (clientId: string) => string) => {
    const downBytes: Record<string, number> = {};
    for (const request of requests) {
      await writeRecord(store, keyOf(request.clientId), request);
      downBytes[request.clientId] = recordBytes(request);
    }
    const opened: SecAggState = { ...closed, stages: [...closed.stages, openStage(stage, requests.map((r) => r.clientId), now, stageSeconds(config, stage), downBytes)] };
    await sendStage(context, opened);
    return save(opened);
  };

  if (open.stage === 'advertise-keys') {
    const { answers, upBytes } = await readAnswers(context, secagg, advertiseKeysSchema);
    const closed = closeStage(secagg, reason, now, upBytes);
    const result = closeAdvertiseKeys(setup, answers);
    logVerdicts(result.verdicts);
    if (!result.ok) return fail(closed, result.failure);
    await writeRecord(store, keys.secaggRoster(experimentId, round), result.value.roster);
    return next(closed, 'share-keys', result.value.requests, (id) => keys.secaggRequest(experimentId, round, 'share-keys', id));
  }
  if (open.stage === 'share-keys') {
    const { answers, upBytes } = await readAnswers(context, secagg, shareKeysSchema);
    const closed = closeStage(secagg, reason, now, upBytes);
    const roster = await requireRecord(store, keys.secaggRoster(experimentId, round), rosterSchema);
    const result = closeShareKeys(setup, roster, answers);
    logVerdicts(result.verdicts);
    if (!result.ok) return fail(closed, result.failure);
    return next(closed, 'masked-input', result.value.requests, (id) => keys.secaggRequest(experimentId, round, 'masked-input', id));
  }
  if (open.stage === 'masked-input') {
    const { answers, upBytes } = await readAnswers(context, secagg, maskedInputNoticeSchema);
    for (const notice of answers) upBytes[notice.clientId] = (upBytes[notice.clientId] ?? 0) + 4 * notice.words;
    const closed = closeStage(secagg, reason, now, upBytes);
    const requests = [];
    for (const clientId of open.asked) requests.push(await requireRecord(store, keys.secaggRequest(experimentId, round, 'masked-input', clientId), maskedInputRequestSchema));
    const result = closeMaskedInput(setup, requests, answers);
    logVerdicts(result.verdicts);
    if (!result.ok) return fail(closed, result.failure);
    // Distributed DP: the accountant runs before any client is asked for a share, so an over-budget round is never unmasked.
    const overBudget = config.privacy ? await budgetProblem(store, experimentId, round) : undefined;
    if (overBudget !== undefined) return fail(closed, { stage: 'masked-input', reason: overBudget });
    await writeRecord(store, keys.secaggMaskedInputClosed(experimentId, round), result.value.closed);
    return next(closed, 'unmask', result.value.requests, (id) => keys.secaggRequest(experimentId, round, 'unmask', id));
  }
  const { answers, upBytes } = await readAnswers(context, secagg, unmaskResponseSchema);
  const closed = closeStage(secagg, reason, now, upBytes);
  const roster = await requireRecord(store, keys.secaggRoster(experimentId, round), rosterSchema);
  const maskedClosed = await requireRecord(store, keys.secaggMaskedInputClosed(experimentId, round), maskedInputClosedSchema);
  const sum = await foldMaskedInputs(context, setup, maskedClosed);
  if (typeof sum === 'string') return fail(closed, { stage: 'unmask', reason: sum });
  const history = config.privacy ? await accountDistributedRound(store, experimentId, round) : undefined;
  const result = unmaskSum(setup, roster, maskedClosed, sum, answers);
  logVerdicts(result.verdicts);
  if (!result.ok) return fail(closed, result.failure);
  const averaged = await averagedGlobal(context, config, experimentId, round);
  const mean = unflattenWeights(result.value.decoded.mean, averaged.map(({ name, shape }) => ({ name, shape })));
  if (history) {
    const contributors = result.value.contributors.length;
    await recordDistributedRelease(store, { experimentId, round, minContributors: setup.minContributors, contributors, mean: result.value.decoded.mean, history });
  }
  await store.put(keys.secaggMean(experimentId, round), encodeModelWeights(mean));
  context.log('secagg.unmasked', { experimentId, round, contributors: result.value.contributors.length, samples: result.value.decoded.samples });
  return save({ ...closed, outcome: 'unmasked' });
}

/** Why the accountant refuses this round (over the budget), or undefined. */
async function budgetProblem(store: PipelineContext['store'], experimentId: string, round: number): Promise<string | undefined> {
  try {
    await accountDistributedRound(store, experimentId, round);
    return undefined;
  } catch (error) {
    if (error instanceof PrivacyBudgetError) return error.message;
    throw error;
  }
}

/** Σ of the contributors' masked vectors, each checked against the digest its notice announced; or what is wrong. */
async function foldMaskedInputs(context: PipelineContext, setup: RoundSetup, closed: z.output<typeof maskedInputClosedSchema>): Promise<Uint32Array | string> {
  const { experimentId, round, vectorLength } = setup.record;
  const sum = emptyMaskedSum(setup);
  for (const { clientId } of closed.contributors) {
    const bytes = await context.store.get(keys.secaggMaskedVector(experimentId, round, clientId));
    if (bytes === undefined) return `${clientId}'s masked input is missing from the bucket`;
    let vector: Uint32Array;
    try {
      vector = decodeMaskedInput(bytes, vectorLength + 1);
    } catch (error) {
      return `${clientId}'s masked input: ${(error as Error).message}`;
    }
    const problem = maskedInputProblem(closed, clientId, vector);
    if (problem !== undefined) return problem;
    addMaskedInput(sum, vector);
  }
  return sum;
}

/**
 * The stages are over: the round machine takes the round from here. Unmasked: every contributor's verdict is accepted
 * (its report: samples, loss, time), every other client's rejected with the stage it dropped out at, then the round
 * closes as a plain one, its aggregation reading the unmasked mean. Failed: the round fails with the stage's reason.
 * Redone from the records alone after a crash, so it repeats safely.
 */
async function handOff(context: PipelineContext, runner: RoundRunner, roundState: RoundState, secagg: SecAggState): Promise<RoundOutcome> {
  const { store } = context;
  const { experimentId, round } = secagg;
  const closedAt = openStageOf(secagg).closed?.at ?? context.now().toISOString();
  const reason = secagg.stages.some((stage) => stage.closed?.reason === 'deadline') ? 'deadline' : 'all-reported';
  if (secagg.outcome === 'failed') {
    const problem = `secure aggregation failed at the ${secagg.failure?.stage ?? openStageOf(secagg).stage} stage: ${secagg.failure?.reason ?? 'no reason recorded'}`;
    return runner.run({ type: 'aggregated', closing: { reason, closedAt, verdicts: [] }, result: { ok: false, problem } });
  }
  const closed = await requireRecord(store, keys.secaggMaskedInputClosed(experimentId, round), maskedInputClosedSchema);
  const contributors = new Set(closed.contributors.map((c) => c.clientId));
  const verdicts: VerdictRecord[] = [];
  for (const [index, clientId] of roundState.expected.entries()) {
    const verdict: VerdictRecord = contributors.has(clientId)
      ? { clientId, ordinal: index + 1, outcome: 'accepted', report: await requireRecord(store, keys.updateReport(experimentId, round, clientId), updateReportSchema) }
      : { clientId, ordinal: index + 1, outcome: 'rejected', reason: dropoutReason(secagg, clientId) };
    await writeRecord(store, keys.verdict(experimentId, round, clientId), verdict);
    verdicts.push(verdict);
  }
  return runner.run({ type: 'answers', reason, verdicts, discovered: [] });
}

/** The unmasked mean of round r's updates as weights of the averaged part's layout (aggregate-round.ts adds it to w). */
export async function readUnmaskedMean(context: { store: PipelineContext['store'] }, experimentId: string, round: number, averaged: ModelWeights): Promise<ModelWeights> {
  return decodeModelWeights(await requireObject(context.store, keys.secaggMean(experimentId, round)), averaged);
}

/** The round's stages for its metrics (undefined for a plain round). */
export async function secaggRoundMetrics(store: PipelineContext['store'], experimentId: string, round: number) {
  const state = await readRecord(store, keys.secaggState(experimentId, round), secaggStateSchema);
  return state && stageMetrics(state);
}
