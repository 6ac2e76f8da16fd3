import type { AggregateMessage } from '../protocol/messages.js';
import { PipelineRecordError, type PipelineContext } from './context.js';
import { readResolvedConfig, readRoundState, readVerdict } from './experiment.js';
import { datasetModelInput } from './datasets.js';
import { updateLayoutFor } from './inspect-update.js';
import type { RoundEvent, RoundOutcome } from './round-machine.js';
import { RoundRunner } from './round-runner.js';
import { startExperiment, type StartOutcome } from './start.js';

export type AggregateOutcome = RoundOutcome | StartOutcome;

/**
 * The aggregator's one entry point. Messages of one experiment arrive one at a time (FIFO group = experiment), so its
 * records can be read, changed and written back without a lock; each message is turned into an event for the round
 * machine (round-machine.ts), whose effects the runner performs in a crash-safe order. SQS delivers at least once
 * and a crashed invocation is retried with the same message, so every path is safe to repeat.
 */
export async function handleAggregateMessage(context: PipelineContext, message: AggregateMessage): Promise<AggregateOutcome> {
  if (message.type === 'start') return startExperiment(context, message);
  const { experimentId, round } = message;
  const state = await readRoundState(context.store, experimentId, round);
  if (!state) throw new PipelineRecordError(`round ${round} of experiment ${experimentId} was never opened`);
  const config = await readResolvedConfig(context.store, experimentId);
  const first: RoundEvent =
    message.type === 'update'
      ? { type: 'update', clientId: message.clientId, known: await readVerdict(context.store, experimentId, round, message.clientId) }
      : { type: 'deadline', attempt: message.attempt };
  const layout = updateLayoutFor(config, await datasetModelInput(context.store, config.dataset));
  return new RoundRunner(context, config, layout, state).run(first);
}
