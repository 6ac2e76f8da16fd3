import { resolveMinClients, type ExperimentConfig } from '../config/schema.js';
import type { ObjectInfo } from '../cloud/ports.js';
import { keys, clientIdFor } from '../protocol/keys.js';
import type { TimerMessage, TrainMessage } from '../protocol/messages.js';
import { partitionStatsSchema } from '../metrics/schema.js';
import type { RoundState } from '../protocol/records.js';
import { selectClients } from '../sampling/select.js';
import { requireRecord, writeRecord, type PipelineContext } from './context.js';
import { privateRoundClients } from './privacy-round.js';
import { readRoundState, writeStatus } from './experiment.js';
import { openSecAggRound } from './secagg-round.js';
import { groupOfIndex, roundGroups, writeGroupStates } from './round-groups.js';

/** SQS caps a single message's delay at 15 minutes; longer deadlines hop through the timer queue again. */
export const MAX_SQS_DELAY_SECONDS = 900;

export function clientIds(config: ExperimentConfig): string[] {
  // A natural partition's clients keep the ids they were imported under (the start step resolves the list).
  if (config.partition.kind === 'natural' && config.partition.clients) return [...config.partition.clients];
  return Array.from({ length: config.clients }, (_, index) => clientIdFor(index));
}

/** The clients asked to train in a round: all of them, or the seeded sample `config.sampling` asks for. */
async function sampledClients(context: PipelineContext, experimentId: string, config: ExperimentConfig, round: number): Promise<string[]> {
  if (config.privacy) return privateRoundClients(config, clientIds(config), round);
  const partition = config.sampling?.method === 'stratified'
    ? await requireRecord(context.store, keys.partition(experimentId), partitionStatsSchema)
    : undefined;
  return selectClients({ clientIds: clientIds(config), round, seed: config.seed, sampling: config.sampling, partition });
}

export function delayUntil(dueAt: Date, now: Date): number {
  const seconds = Math.ceil((dueAt.getTime() - now.getTime()) / 1000);
  return Math.max(0, Math.min(MAX_SQS_DELAY_SECONDS, seconds));
}

/**
 * Arms a round's deadline: the one place a deadline timer is sent, when a round opens (attempt 0) and when one fired
 * early (the next attempt). An early one waits at least a second, so a skewed clock cannot make it spin.
 */
export function armDeadline(context: PipelineContext, state: Pick<RoundState, 'experimentId' | 'round' | 'deadlineAt'>, attempt: number): Promise<void> {
  const message: TimerMessage = { type: 'deadline', experimentId: state.experimentId, round: state.round, dueAt: state.deadlineAt, attempt };
  const delaySeconds = delayUntil(new Date(state.deadlineAt), context.now());
  return context.queues.timer.send(message, { delaySeconds: attempt > 0 ? Math.max(1, delaySeconds) : delaySeconds });
}

/** A new round's state: who is expected, when the deadline falls, how many usable updates it needs. */
export function newRoundState(
  config: ExperimentConfig,
  experimentId: string,
  round: number,
  expected: readonly string[],
  globalModelBytes: number,
  now: Date,
): RoundState {
  const groups = roundGroups(config, expected.length);
  return {
    experimentId,
    round,
    expected: [...expected],
    startedAt: now.toISOString(),
    deadlineAt: new Date(now.getTime() + config.round.deadlineSeconds * 1000).toISOString(),
    globalModelBytes,
    minClients: Math.min(resolveMinClients(config), expected.length),
    lastRound: round >= config.rounds,
    answered: 0,
    followUpDone: false,
    ...(groups > 1 ? { groups, groupsClosed: [] } : {}),
  };
}

/**
 * Opens round `round` on `global` (the global model of round − 1, as a HEAD found it): records who is expected and
 * when the deadline falls, sends the train messages and the deadline timer, then says so in status.json. Safe to repeat: an existing round state is kept (verdicts may already
 * count against it) and duplicate train messages are absorbed by the trainer's and aggregator's idempotency.
 */
export async function openRound(
  context: PipelineContext,
  experimentId: string,
  config: ExperimentConfig,
  round: number,
  global: ObjectInfo,
  status: { readonly lastAccuracy?: number; readonly configETag?: string } = {},
): Promise<RoundState> {
  const existing = await readRoundState(context.store, experimentId, round);
  const state = existing ?? newRoundState(config, experimentId, round, await sampledClients(context, experimentId, config, round), global.size, context.now());
  if (!existing) {
    await writeGroupStates(context, state);
    await writeRecord(context.store, keys.roundState(experimentId, round), state);
  }

  if (config.secureAggregation) {
    // Secure aggregation: the round runs as stages, each with its own requests and deadline (secagg-round.ts).
    await openSecAggRound(context, config, state);
  } else {
    // Ten a call (SendMessageBatch): the fan-out of 1,000 clients is 100 calls, not 1,000 one after another.
    const { groups } = state;
    await context.queues.train.sendBatch(
      state.expected.map((clientId, index) => ({
        body: { type: 'train', experimentId, round, clientId, ...(groups !== undefined ? { group: groupOfIndex(index, groups) } : {}) } satisfies TrainMessage,
      })),
    );
    // A round nobody was sampled for (Poisson sampling) has nothing to wait for: it closes now, releasing noise only.
    await armDeadline(context, state.expected.length === 0 ? { ...state, deadlineAt: context.now().toISOString() } : state, 0);
  }
  // Last, as the mark that the round's messages are out (a retried start that finds it opens nothing again). It names
  // the version of the global model the round trains from: a warm trainer reuses the copy it read for an earlier
  // client (shared/pipeline/trainer-reads.ts); one that reads an older status reads the model as before.
  await writeStatus(context, { experimentId, state: 'running', round, rounds: config.rounds, ...(global.eTag ? { globalModelETag: global.eTag } : {}), ...status });
  context.log('round.opened', { experimentId, round, clients: state.expected.length, deadlineAt: state.deadlineAt });
  return state;
}
