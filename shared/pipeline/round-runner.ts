import type { ExperimentConfig } from '../config/schema.js';
import { head } from '../data/mnist.js';
import { initBackend } from '../engine/backend.js';
import { evaluate } from '../engine/evaluate.js';
import { roundMetricsSchema } from '../metrics/schema.js';
import type { ExperimentSummary } from '../metrics/types.js';
import { parameterCount } from '../models/index.js';
import { StrategyError } from '../strategies/index.js';
import { RobustAggregationError } from '../robust/types.js';
import { keys } from '../protocol/keys.js';
import { roundStateSchema, type RoundState } from '../protocol/records.js';
import { decodeModelWeights, WeightsError } from '../weights/codec.js';
import type { ModelWeights } from '../weights/types.js';
import { aggregateRound } from './aggregate-round.js';
import { PipelineRecordError, requireObject, requireRecord, writeRecord, type PipelineContext } from './context.js';
import { loadTestSet } from './datasets.js';
import { assembleExperimentMetrics, readVerdict, writeStatus } from './experiment.js';
import { inspectUpdate, isClientFault, printable, type Inspection, type UpdateLayout } from './inspect-update.js';
import { QUERY_EFFECTS, transition, type Discovered, type RoundEffect, type RoundEvent, type RoundOutcome } from './round-machine.js';
import { armDeadline, openRound } from './rounds.js';
import { withAttackers } from './attack-metrics.js';
import { PrivacyBudgetError, privacySummary, withPrivacyMetrics } from './privacy-round.js';
import { withSecAggMetrics } from './secagg-metrics.js';
import { mapInOrder } from './ordered-reads.js';
import type { RoundMemory } from './round-memory.js';
import { addPartials, answersFromPartials, readGroupPartials, writeGroupPartial } from './group-close.js';
import type { GroupPartial } from './group-partial.js';
import { notifyDeadline, notifyGroupClosed } from './notify.js';

/** What every message of an experiment needs, read once per batch of messages (shared/pipeline/aggregate.ts). */
export interface ExperimentView {
  readonly config: ExperimentConfig;
  readonly layout: UpdateLayout;
  /** each client's sample count, as partition.json records it */
  samplesHeld(): Promise<ReadonlyMap<string, number>>;
}

/** Where round states go: at once, or (a state that only counts one more answer) before the next effect that is not a verdict. */
export interface RoundStateWriter {
  save(state: RoundState): Promise<void>;
  /** writes whatever `save` left waiting */
  flush(): Promise<void>;
}

/** What the invocation read ahead for its batch (batch-reads.ts), and what it must forget once it wrote a verdict. */
export interface RunnerReads {
  /** the inspection of this client's update read ahead, at most once; undefined when there is none */
  inspection(clientId: string): Promise<Inspection> | undefined;
  /** this runner wrote the client's verdict */
  written(clientId: string): void;
}

/**
 * Where a batch's verdict writes go while they are in flight (aggregate.ts): each is started at once, and `flush` waits
 * for all of them, in their order, before anything is written that depends on them (a round state that counts them,
 * any other effect) and before the batch ends. `remember` runs once its write is durable, in the order of the writes.
 */
export interface VerdictWrites {
  started(write: Promise<void>, remember: () => void): void;
}

/** Effects that may run while a counted answer's round state waits to be written: the verdicts it counts, reads of one update. */
const BEFORE_STATE_WRITE: readonly RoundEffect['type'][] = ['record-verdict', 'log', 'inspect-update', 'save-state'];

/**
 * Performs what the round machine decides, in the order it decides it: the only place the aggregator writes. Effects
 * that read hand their result back to the machine as the next event, until a transition asks for nothing more.
 */
export class RoundRunner {
  /** a split round's partial sums, as its close gathered them */
  private partials: GroupPartial[] | undefined;
  /** the global model this invocation aggregated, so the evaluation need not read it back */
  private aggregated: ModelWeights | undefined;
  /** time spent in the aggregation and the evaluation of this close, for the round's metrics */
  private computeMs = 0;
  private readonly config: ExperimentConfig;
  private readonly layout: UpdateLayout;
  /** the update the last inspection decoded, until its verdict is written (then it joins the memory's running sum) */
  private inspected: { readonly clientId: string; readonly weights: ModelWeights } | undefined;

  constructor(
    private readonly context: PipelineContext,
    private readonly experiment: ExperimentView,
    private state: RoundState,
    private readonly writer: RoundStateWriter,
    private readonly reads?: RunnerReads,
    /** what this warm process remembers of the round (round-memory.ts); none: the close reads everything back */
    private readonly memory?: RoundMemory,
    /** verdicts written together with the rest of the batch's; none: each one before the next effect */
    private readonly verdictWrites?: VerdictWrites,
  ) {
    this.config = experiment.config;
    this.layout = experiment.layout;
  }

  /** the round's state as the last transition left it (written, or waiting in the writer) */
  get roundState(): RoundState {
    return this.state;
  }

  async run(first: RoundEvent): Promise<RoundOutcome> {
    let outcome: RoundOutcome | undefined;
    let event: RoundEvent | undefined = first;
    while (event) {
      const step = transition(this.state, event, this.context.now());
      this.state = step.state;
      outcome = step.outcome ?? outcome;
      event = undefined;
      for (const [index, effect] of step.effects.entries()) {
        const isQuery = (QUERY_EFFECTS as readonly string[]).includes(effect.type);
        if (isQuery && index !== step.effects.length - 1) throw new Error(`round machine: ${effect.type} must be the last effect of its step`);
        event = await this.perform(effect);
      }
    }
    return outcome ?? 'stale';
  }

  private get where() {
    return { experimentId: this.state.experimentId, round: this.state.round };
  }

  private async perform(effect: RoundEffect): Promise<RoundEvent | undefined> {
    const { store } = this.context;
    const { experimentId, round } = this.where;
    if (!BEFORE_STATE_WRITE.includes(effect.type)) await this.writer.flush();
    switch (effect.type) {
      case 'inspect-update': {
        // Read ahead with the batch, if so; a read that failed there is made again here, where its failure counts.
        const ahead = this.reads?.inspection(effect.clientId);
        const { verdict, reportedAt, weights } = ahead ? await ahead.catch(() => this.inspect(effect.clientId)) : await this.inspect(effect.clientId);
        this.inspected = weights && { clientId: effect.clientId, weights };
        return { type: 'inspected', clientId: effect.clientId, verdict, reportedAt, ...(effect.announcedAt ? { announcedAt: effect.announcedAt } : {}) };
      }
      case 'gather-answers':
        if (this.state.groups !== undefined) {
          this.partials = await readGroupPartials(this.context, this.state);
          return answersFromPartials(this.partials);
        }
        return this.gatherAnswers(effect.reason);
      case 'aggregate': {
        const started = performance.now();
        try {
          const { accepted, closing } = effect;
          const partials = this.state.groups !== undefined ? (this.partials ?? (await readGroupPartials(this.context, this.state))) : undefined;
          this.aggregated = await aggregateRound(store, this.config, experimentId, round, accepted, (global) =>
            partials ? addPartials(partials, accepted, global) : this.memory?.takeFolded(accepted, closing.verdicts, global),
          );
          return { type: 'aggregated', closing: effect.closing, result: { ok: true } };
        } catch (error) {
          if (!isUnusable(error)) throw error;
          return { type: 'aggregated', closing: effect.closing, result: { ok: false, problem: printable(error.message) } };
        } finally {
          this.computeMs += performance.now() - started;
        }
      }
      case 'write-partial':
        try {
          const { accepted, closing } = effect;
          await writeGroupPartial(this.context, this.config, this.state, closing, accepted, (global) => this.memory?.takeFolded(accepted, closing.verdicts, global));
          return { type: 'aggregated', closing, result: { ok: true } };
        } catch (error) {
          if (!isUnusable(error)) throw error;
          return { type: 'aggregated', closing: effect.closing, result: { ok: false, problem: printable(error.message) } };
        }
      case 'announce-group-closed':
        await notifyGroupClosed(this.context, experimentId, round, this.state.group!);
        return undefined;
      case 'forward-deadline':
        await mapInOrder(effect.groups, (group) => notifyDeadline(this.context, experimentId, round, this.state.deadlineAt, effect.attempt, group));
        return undefined;
      case 'evaluate': {
        const started = performance.now();
        const evaluation = await this.evaluate();
        this.computeMs += performance.now() - started;
        return {
          type: 'evaluated',
          closing: effect.closing,
          evaluation,
          finishedAt: this.context.now().toISOString(),
          computeMs: Math.round(this.computeMs),
        };
      }
      case 'record-verdict': {
        this.reads?.written(effect.verdict.clientId);
        const write = writeRecord(store, keys.verdict(experimentId, round, effect.verdict.clientId), effect.verdict);
        const inspected = this.inspected?.clientId === effect.verdict.clientId ? this.inspected.weights : undefined;
        this.inspected = undefined;
        const remember = () => this.memory?.remember(effect.verdict, inspected, (update) => this.layout.strategy.server.combineWeight(update));
        if (this.verdictWrites) {
          this.verdictWrites.started(write, remember);
        } else {
          await write;
          remember();
        }
        return undefined;
      }
      case 'save-state':
        await this.writer.save(effect.state);
        return undefined;
      case 'write-round-metrics':
        await writeRecord(
          store,
          keys.roundMetrics(experimentId, round),
          await withSecAggMetrics(store, this.config, this.state, withAttackers(this.config, this.state, this.config.privacy ? await withPrivacyMetrics(store, experimentId, effect.metrics) : effect.metrics)),
        );
        // Poisson sampling can leave round 1 empty: then the first round with an update records the backend.
        if (effect.backend && (round === 1 || (this.config.sampling?.method === 'poisson' && !(await store.head(keys.backend(experimentId)))))) {
          await writeRecord(store, keys.backend(experimentId), effect.backend);
        }
        return undefined;
      case 'fail-experiment':
        await this.failExperiment(effect.errors);
        return undefined;
      case 'open-next-round':
        await this.openNextRound();
        return undefined;
      case 'complete-experiment':
        await this.completeExperiment();
        return undefined;
      case 'arm-deadline':
        await armDeadline(this.context, { experimentId, round, deadlineAt: effect.dueAt }, effect.attempt);
        return undefined;
      case 'log':
        this.context.log(effect.event, effect.fields);
        return undefined;
    }
  }

  private async inspect(clientId: string): Promise<Inspection> {
    return inspectUpdate(this.context.store, this.layout, { ...this.where, clientId }, (await this.experiment.samplesHeld()).get(clientId));
  }

  /**
   * Every expected client's verdict; for a client never heard from, its report if it wrote one (the message was lost).
   * The clients' reads overlap (bounded), the answers keep the expected clients' order: the ordinals the machine gives
   * discovered clients are the same on every retry.
   */
  private async gatherAnswers(reason: Extract<RoundEffect, { type: 'gather-answers' }>['reason']): Promise<RoundEvent> {
    const { store } = this.context;
    const { experimentId, round } = this.where;
    const verdicts = [];
    const discovered: Discovered[] = [];
    const answers = await mapInOrder(this.state.expected, async (clientId) => {
      // A verdict this process wrote is the one S3 holds: no one rewrites a verdict before the round closes.
      const verdict = this.memory?.verdicts.get(clientId) ?? (await readVerdict(store, experimentId, round, clientId));
      if (verdict) return { verdict };
      if (!(await store.head(keys.updateReport(experimentId, round, clientId)))) return {};
      return { found: { clientId, ...(await this.inspect(clientId)) } };
    });
    for (const answer of answers) {
      if (answer.verdict) verdicts.push(answer.verdict);
      else if (answer.found) discovered.push(answer.found);
    }
    return { type: 'answers', reason, verdicts, discovered };
  }

  private async evaluate() {
    const weights = this.aggregated ?? decodeModelWeights(await requireObject(this.context.store, keys.globalModel(this.state.experimentId, this.state.round)));
    await initBackend();
    const testSet = await loadTestSet(this.context.store, this.config.dataset);
    const { accuracy, loss, perClassAccuracy, confusion } = await evaluate({
      model: this.config.model,
      weights,
      testSet: this.config.testSamples === null ? testSet : head(testSet, this.config.testSamples),
    });
    return { accuracy, loss, perClassAccuracy, confusion };
  }

  private roundMetrics() {
    return requireRecord(this.context.store, keys.roundMetrics(this.state.experimentId, this.state.round), roundMetricsSchema);
  }

  /** metrics.json (the rounds closed so far, if any), then status.json: a reader that sees "failed" finds the metrics. */
  private async failExperiment(errors: readonly string[]): Promise<void> {
    const { store } = this.context;
    const { experimentId, round } = this.where;
    if (await store.head(keys.backend(experimentId))) {
      await writeRecord(store, keys.metrics(experimentId), await assembleExperimentMetrics(store, experimentId, this.config));
    }
    await writeStatus(this.context, { experimentId, state: 'failed', round, rounds: this.config.rounds, errors: [...errors] });
  }

  private async openNextRound(): Promise<void> {
    const { experimentId, round } = this.where;
    const global = await this.context.store.head(keys.globalModel(experimentId, round));
    if (!global) throw new PipelineRecordError(`s3://${this.context.store.bucket}/${keys.globalModel(experimentId, round)} does not exist`);
    const { accuracy } = await this.roundMetrics();
    await openRound(this.context, experimentId, this.config, round + 1, global, { lastAccuracy: accuracy });
  }

  /** The final model, summary and metrics.json, then status.json: "completed" is written last. Repeats safely. */
  private async completeExperiment(): Promise<void> {
    const { store } = this.context;
    const { experimentId, round } = this.where;
    await store.put(keys.finalModel(experimentId), await requireObject(store, keys.globalModel(experimentId, round)));
    const last = await this.roundMetrics();
    const firstRound = await requireRecord(store, keys.roundState(experimentId, 1), roundStateSchema);
    const assembled = await assembleExperimentMetrics(store, experimentId, this.config, undefined, this.context.now().toISOString());
    const finishedAt = new Date(last.timing.closedAt);
    const summary: ExperimentSummary = {
      experimentId,
      name: this.config.name,
      state: 'completed',
      rounds: this.config.rounds,
      finalAccuracy: last.accuracy,
      finalLoss: last.loss,
      bestAccuracy: Math.max(...assembled.rounds.map((r) => r.accuracy)),
      startedAt: firstRound.startedAt,
      finishedAt: finishedAt.toISOString(),
      wallMs: finishedAt.getTime() - new Date(firstRound.startedAt).getTime() + last.timing.aggregateMs,
      backend: assembled.backend,
      parameters: parameterCount(this.config.model, this.layout.input),
      ...privacySummary(this.config, assembled.rounds),
    };
    await writeRecord(store, keys.summary(experimentId), summary);
    await writeRecord(store, keys.metrics(experimentId), { ...assembled, summary });
    await writeStatus(this.context, { experimentId, state: 'completed', round, rounds: this.config.rounds, lastAccuracy: last.accuracy });
    this.context.log('experiment.completed', { experimentId, accuracy: last.accuracy });
  }
}

/** What makes a close impossible rather than merely failed this time: retrying would only fail again. */
function isUnusable(error: unknown): error is Error {
  return (
    isClientFault(error) || error instanceof WeightsError || error instanceof StrategyError || error instanceof PipelineRecordError ||
    error instanceof RobustAggregationError || error instanceof PrivacyBudgetError
  );
}
