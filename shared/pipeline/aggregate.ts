import type { ObjectStore } from '../cloud/ports.js';
import { resolveMinClients, type ExperimentConfig } from '../config/schema.js';
import { createWeightedMean } from '../aggregate/weighted-mean.js';
import { head } from '../data/mnist.js';
import { initBackend } from '../engine/backend.js';
import { evaluate } from '../engine/evaluate.js';
import type { ExperimentMetrics, ExperimentSummary, RoundMetrics } from '../metrics/types.js';
import { parameterCount } from '../models/index.js';
import { keys } from '../protocol/keys.js';
import type { AggregateMessage, TimerMessage } from '../protocol/messages.js';
import { partitionStatsSchema } from '../metrics/schema.js';
import { roundStateSchema, updateReportSchema, type RoundState, type UpdateReport } from '../protocol/records.js';
import { strategyFor } from '../strategies/index.js';
import { decodeModelWeights, encodeModelWeights } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import { PipelineRecordError, requireObject, requireRecord, writeRecord, type PipelineContext } from './context.js';
import { adoptClientControls, checkControlProposal, foldControlDeltas } from './control-variates.js';
import { datasetModelInput, loadTestSet } from './datasets.js';
import { readExperimentMetrics, readResolvedConfig, readRoundState } from './experiment.js';
import { decodeSharedUpdate, mergeWeights, splitWeights } from './personalization.js';
import { delayUntil, openRound, writeStatus } from './rounds.js';

export type AggregateOutcome =
  | 'recorded'
  | 'rejected'
  | 'duplicate'
  | 'ignored'
  | 'not-due'
  | 'next-round'
  | 'completed'
  | 'failed';

/**
 * The aggregator's one entry point. Messages of one experiment arrive one at a time (FIFO group = experiment), so
 * the round state can be read, changed and written back without a lock; every branch is safe to repeat, because
 * SQS delivers at least once and a crashed invocation is retried with the same message.
 */
export async function handleAggregateMessage(context: PipelineContext, message: AggregateMessage): Promise<AggregateOutcome> {
  const { experimentId, round } = message;
  const state = await readRoundState(context.store, experimentId, round);
  if (!state) throw new PipelineRecordError(`round ${round} of experiment ${experimentId} was never opened`);
  const config = await readResolvedConfig(context.store, experimentId);

  if (state.closed) {
    if (!state.followUpDone) return followUp(context, config, state);
    if (message.type === 'update' && !alreadyHeardFrom(state, message.clientId)) {
      await saveState(context, { ...state, ignored: [...state.ignored, { clientId: message.clientId, reason: 'arrived after the round closed' }] });
      context.log('aggregate.late-update', { experimentId, round, clientId: message.clientId });
      return 'ignored';
    }
    return 'duplicate';
  }

  if (message.type === 'deadline') {
    if (context.now() < new Date(state.deadlineAt)) {
      // A timer that fired early (clock skew) is re-armed, or the round could wait forever for stragglers.
      await context.queues.timer.send(
        { type: 'deadline', experimentId, round, dueAt: state.deadlineAt } satisfies TimerMessage,
        { delaySeconds: Math.max(1, delayUntil(new Date(state.deadlineAt), context.now())) },
      );
      return 'not-due';
    }
    return closeRound(context, config, state, 'deadline');
  }

  const { clientId } = message;
  if (alreadyHeardFrom(state, clientId)) return 'duplicate';
  if (!state.expected.includes(clientId)) {
    await saveState(context, { ...state, ignored: [...state.ignored, { clientId, reason: 'not selected for this round' }] });
    return 'ignored';
  }

  const verdict = await inspectUpdate(context, config, state, clientId);
  const next: RoundState = verdict.ok
    ? { ...state, reported: { ...state.reported, [clientId]: verdict.report } }
    : { ...state, rejected: { ...state.rejected, [clientId]: verdict.reason } };
  await saveState(context, next);
  context.log(verdict.ok ? 'aggregate.update-accepted' : 'aggregate.update-rejected', {
    experimentId, round, clientId, ...(verdict.ok ? {} : { reason: verdict.reason }),
  });

  const answered = Object.keys(next.reported).length + Object.keys(next.rejected).length;
  if (answered === next.expected.length) return closeRound(context, config, next, 'all-reported');
  return verdict.ok ? 'recorded' : 'rejected';
}

/** Counted, rejected or already recorded as ignored: a redelivered message changes nothing. */
function alreadyHeardFrom(state: RoundState, clientId: string): boolean {
  return clientId in state.reported || clientId in state.rejected || state.ignored.some((entry) => entry.clientId === clientId);
}

type Verdict = { ok: true; report: UpdateReport } | { ok: false; reason: string };

/**
 * Corrupt, wrong-shape, non-finite or implausible updates are recorded as rejected, never averaged. With
 * personalization an update must hold exactly the shared layers: one carrying a local layer is rejected too.
 */
async function inspectUpdate(context: PipelineContext, config: ExperimentConfig, state: RoundState, clientId: string): Promise<Verdict> {
  const { store } = context;
  const { experimentId, round } = state;
  try {
    const report = await requireRecord(store, keys.updateReport(experimentId, round, clientId), updateReportSchema);
    const partition = await requireRecord(store, keys.partition(experimentId), partitionStatsSchema);
    const shardSamples = partition.clients.find((client) => client.clientId === clientId)?.samples;
    const claimed = report.samples + (report.holdoutSamples ?? 0);
    if (shardSamples === undefined || claimed > shardSamples) {
      const held = report.holdoutSamples ? ` (${report.samples} trained on + ${report.holdoutSamples} held out)` : '';
      return { ok: false, reason: `claims ${claimed} samples${held} but its shard holds ${shardSamples ?? 0}` };
    }
    const global = await readAveragedGlobal(store, config, experimentId, round - 1);
    const updateBytes = await requireObject(store, keys.update(experimentId, round, clientId));
    if (global.localLayers) decodeSharedUpdate(updateBytes, global.model, global.localLayers);
    else decodeModelWeights(updateBytes, global.averaged);
    if (strategyFor(config.strategy).controlVariates) await checkControlProposal(store, experimentId, round, clientId, global.averaged);
    return { ok: true, report };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

/**
 * The global model after round r, and the part of it the server averages: all of it, or with personalization its
 * shared layers only. The local layers of the global model are never averaged; they stay as they were at round 0.
 */
async function readAveragedGlobal(store: ObjectStore, config: ExperimentConfig, experimentId: string, round: number) {
  const model = decodeModelWeights(await requireObject(store, keys.globalModel(experimentId, round)));
  const localLayers = config.personalization?.localLayers;
  const { shared, local } = localLayers ? splitWeights(model, localLayers) : { shared: model, local: [] };
  return { model, averaged: shared, local, localLayers };
}


async function closeRound(
  context: PipelineContext,
  config: ExperimentConfig,
  state: RoundState,
  reason: 'all-reported' | 'deadline',
): Promise<AggregateOutcome> {
  const { store } = context;
  const { experimentId, round } = state;
  const closedAt = context.now();
  const accepted = state.expected.filter((clientId) => clientId in state.reported);
  const missing = state.expected.filter((clientId) => !(clientId in state.reported) && !(clientId in state.rejected));
  const needed = Math.min(resolveMinClients(config), state.expected.length);

  if (accepted.length < needed) {
    const rejected = Object.entries(state.rejected).map(([clientId, why]) => `${clientId} (${why})`);
    const errors = [
      `round ${round} closed (${reason === 'deadline' ? `deadline of ${config.round.deadlineSeconds} s passed` : 'every client answered'}) ` +
        `with ${accepted.length} usable update(s) of ${state.expected.length}; round.minClients requires ${needed}`,
      ...(missing.length ? [`missing clients: ${missing.join(', ')}`] : []),
      ...(rejected.length ? [`rejected updates: ${rejected.join('; ')}`] : []),
    ];
    await saveState(context, { ...state, closed: { at: closedAt.toISOString(), reason, outcome: 'failed' }, followUpDone: true });
    await writeStatus(context, { experimentId, state: 'failed', round, rounds: config.rounds, errors });
    context.log('experiment.failed', { experimentId, round, errors });
    return 'failed';
  }

  const strategy = strategyFor(config.strategy);
  const previous = await readAveragedGlobal(store, config, experimentId, round - 1);
  const global = previous.averaged;
  const mean = createWeightedMean(global);
  let bytesUp = 0;
  for (const clientId of accepted) {
    const report = state.reported[clientId]!;
    mean.add(decodeModelWeights(await requireObject(store, keys.update(experimentId, round, clientId)), global), report.samples);
    bytesUp += report.updateBytes;
  }
  const previousServerState = await store.get(keys.serverState(experimentId, round - 1));
  const step = strategy.serverStep({
    round,
    global,
    mean: mean.result(),
    state: previousServerState ? decodeModelWeights(previousServerState) : undefined,
    ...(strategy.controlVariates
      ? { controlVariates: await foldControlDeltas(store, experimentId, round, accepted, global, config.clients) }
      : {}),
  });
  const next = previous.local.length ? mergeWeights(previous.model, step.weights, previous.local) : step.weights;
  await store.put(keys.globalModel(experimentId, round), encodeModelWeights(next));
  if (step.state) await store.put(keys.serverState(experimentId, round), encodeModelWeights(step.state));
  if (strategy.controlVariates) await adoptClientControls(store, experimentId, round, accepted);

  const evaluation = await evaluateGlobal(context, config, next);
  const aggregateMs = context.now().getTime() - closedAt.getTime();
  const roundMs = closedAt.getTime() - new Date(state.startedAt).getTime();
  const trainMs = Math.max(0, ...accepted.map((clientId) => state.reported[clientId]!.trainMs));
  const personalizedAccuracy = pooledPersonalizedAccuracy(accepted.map((clientId) => state.reported[clientId]!));
  const metrics: RoundMetrics = {
    round,
    accuracy: evaluation.accuracy,
    loss: evaluation.loss,
    perClassAccuracy: evaluation.perClassAccuracy,
    confusion: evaluation.confusion,
    ...(personalizedAccuracy !== undefined ? { personalizedAccuracy } : {}),
    clients: accepted.map((clientId) => {
      const report = state.reported[clientId]!;
      return {
        clientId,
        samples: report.samples,
        trainLoss: report.trainLoss,
        trainAccuracy: report.trainAccuracy,
        trainMs: report.trainMs,
        backend: report.backend.backend,
        ...(report.personalizedAccuracy !== undefined
          ? { personalizedAccuracy: report.personalizedAccuracy, holdoutSamples: report.holdoutSamples }
          : {}),
      };
    }),
    missingClients: missing,
    rejectedClients: Object.entries(state.rejected).map(([clientId, why]) => ({ clientId, reason: why })),
    timing: {
      startedAt: state.startedAt,
      closedAt: closedAt.toISOString(),
      roundMs,
      trainMs,
      waitMs: Math.max(0, roundMs - trainMs),
      aggregateMs,
    },
    bytes: { down: state.globalModelBytes * state.expected.length, up: bytesUp },
  };
  await writeRecord(store, keys.roundMetrics(experimentId, round), metrics);
  await appendRoundMetrics(context, config, metrics, state.reported[accepted[0]!]!);

  const closed: RoundState = { ...state, closed: { at: closedAt.toISOString(), reason, outcome: 'aggregated' } };
  await saveState(context, closed);
  context.log('round.closed', { experimentId, round, reason, accuracy: evaluation.accuracy, accepted: accepted.length, missing });
  return followUp(context, config, closed);
}

/** Σ accuracyᵢ·heldOutᵢ / Σ heldOutᵢ over the clients that measured one; undefined when none did. */
function pooledPersonalizedAccuracy(reports: readonly UpdateReport[]): number | undefined {
  let correct = 0;
  let heldOut = 0;
  for (const { personalizedAccuracy, holdoutSamples } of reports) {
    if (personalizedAccuracy === undefined || holdoutSamples === undefined) continue;
    correct += personalizedAccuracy * holdoutSamples;
    heldOut += holdoutSamples;
  }
  return heldOut > 0 ? correct / heldOut : undefined;
}

async function evaluateGlobal(context: PipelineContext, config: ExperimentConfig, weights: ModelWeights) {
  await initBackend();
  const testSet = await loadTestSet(context.store, config.dataset);
  return evaluate({
    model: config.model,
    weights,
    testSet: config.testSamples === null ? testSet : head(testSet, config.testSamples),
  });
}

/** metrics.json gathers every round; replacing round r (rather than appending) keeps a retried aggregation idempotent. */
async function appendRoundMetrics(
  context: PipelineContext,
  config: ExperimentConfig,
  metrics: RoundMetrics,
  firstReport: UpdateReport,
): Promise<void> {
  const { store } = context;
  const { experimentId } = firstReport;
  const existing = await readExperimentMetrics(context.store, experimentId);
  const partition = existing?.partition ?? (await requireRecord(store, keys.partition(experimentId), partitionStatsSchema));
  const record: ExperimentMetrics = {
    experimentId,
    config,
    backend: existing?.backend ?? firstReport.backend,
    partition,
    rounds: [...(existing?.rounds ?? []).filter((r) => r.round !== metrics.round), metrics].sort((a, b) => a.round - b.round),
    ...(existing?.summary ? { summary: existing.summary } : {}),
  };
  await writeRecord(store, keys.metrics(experimentId), record);
}

/** After a round closes: open the next one, or write the final model and summary. Repeats safely after a crash. */
async function followUp(context: PipelineContext, config: ExperimentConfig, state: RoundState): Promise<AggregateOutcome> {
  const { store } = context;
  const { experimentId, round } = state;
  const globalModel = await requireObject(store, keys.globalModel(experimentId, round));
  const metrics = await readExperimentMetrics(context.store, experimentId);
  const roundMetrics = metrics?.rounds.find((r) => r.round === round);
  if (!metrics || !roundMetrics) throw new PipelineRecordError(`metrics of round ${round} of ${experimentId} are missing`);

  let outcome: AggregateOutcome;
  if (round < config.rounds) {
    await openRound(context, experimentId, config, round + 1, globalModel.byteLength, roundMetrics.accuracy);
    outcome = 'next-round';
  } else {
    await store.put(keys.finalModel(experimentId), globalModel);
    const firstRound = await requireRecord(store, keys.roundState(experimentId, 1), roundStateSchema);
    const finishedAt = new Date(roundMetrics.timing.closedAt);
    const accuracies = metrics.rounds.map((r) => r.accuracy);
    const summary: ExperimentSummary = {
      experimentId,
      name: config.name,
      state: 'completed',
      rounds: config.rounds,
      finalAccuracy: roundMetrics.accuracy,
      finalLoss: roundMetrics.loss,
      bestAccuracy: Math.max(...accuracies),
      startedAt: firstRound.startedAt,
      finishedAt: finishedAt.toISOString(),
      wallMs: finishedAt.getTime() - new Date(firstRound.startedAt).getTime() + roundMetrics.timing.aggregateMs,
      backend: metrics.backend,
      parameters: parameterCount(config.model, await datasetModelInput(store, config.dataset)),
    };
    await writeRecord(store, keys.summary(experimentId), summary);
    await writeRecord(store, keys.metrics(experimentId), { ...metrics, summary });
    await writeStatus(context, {
      experimentId, state: 'completed', round, rounds: config.rounds, lastAccuracy: roundMetrics.accuracy,
    });
    context.log('experiment.completed', { experimentId, accuracy: roundMetrics.accuracy });
    outcome = 'completed';
  }
  await saveState(context, { ...state, followUpDone: true });
  return outcome;
}

function saveState(context: PipelineContext, state: RoundState): Promise<void> {
  return writeRecord(context.store, keys.roundState(state.experimentId, state.round), state);
}
