import type { ExperimentConfig } from '../config/schema.js';
import type { ExperimentStatus } from '../metrics/types.js';
import { keys, clientIdFor } from '../protocol/keys.js';
import type { TimerMessage, TrainMessage } from '../protocol/messages.js';
import { partitionStatsSchema } from '../metrics/schema.js';
import { roundStateSchema, type RoundState } from '../protocol/records.js';
import { selectClients } from '../sampling/select.js';
import { readRecord, requireRecord, writeRecord, type PipelineContext } from './context.js';

/** SQS caps a single message's delay at 15 minutes; longer deadlines hop through the timer queue again. */
export const MAX_SQS_DELAY_SECONDS = 900;

export function clientIds(config: ExperimentConfig): string[] {
  // A natural partition's clients keep the ids they were imported under (the start step resolves the list).
  if (config.partition.kind === 'natural' && config.partition.clients) return [...config.partition.clients];
  return Array.from({ length: config.clients }, (_, index) => clientIdFor(index));
}

/** The clients asked to train in a round: all of them, or the seeded sample `config.sampling` asks for. */
async function sampledClients(context: PipelineContext, experimentId: string, config: ExperimentConfig, round: number): Promise<string[]> {
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
 * Opens round `round`: records who is expected and when the deadline falls, then sends the train messages and the
 * deadline timer. Safe to repeat: an existing round state is kept (reports may already be in it) and duplicate
 * train messages are absorbed by the trainer's and aggregator's idempotency.
 */
export async function openRound(
  context: PipelineContext,
  experimentId: string,
  config: ExperimentConfig,
  round: number,
  globalModelBytes: number,
  lastAccuracy?: number,
): Promise<RoundState> {
  const now = context.now();
  const existing = await readRecord(context.store, keys.roundState(experimentId, round), roundStateSchema);
  const state: RoundState = existing ?? {
    experimentId,
    round,
    expected: await sampledClients(context, experimentId, config, round),
    startedAt: now.toISOString(),
    deadlineAt: new Date(now.getTime() + config.round.deadlineSeconds * 1000).toISOString(),
    globalModelBytes,
    reported: {},
    rejected: {},
    ignored: [],
    followUpDone: false,
  };
  if (!existing) await writeRecord(context.store, keys.roundState(experimentId, round), state);

  for (const clientId of state.expected) {
    const message: TrainMessage = { type: 'train', experimentId, round, clientId };
    await context.queues.train.send(message);
  }
  const timer: TimerMessage = { type: 'deadline', experimentId, round, dueAt: state.deadlineAt };
  await context.queues.timer.send(timer, { delaySeconds: delayUntil(new Date(state.deadlineAt), now) });

  await writeStatus(context, { experimentId, state: 'running', round, rounds: config.rounds, lastAccuracy });
  context.log('round.opened', { experimentId, round, clients: state.expected.length, deadlineAt: state.deadlineAt });
  return state;
}

export function writeStatus(
  context: PipelineContext,
  status: Omit<ExperimentStatus, 'updatedAt'>,
): Promise<void> {
  const record: ExperimentStatus = { ...status, updatedAt: context.now().toISOString() };
  return writeRecord(context.store, keys.status(status.experimentId), record);
}
