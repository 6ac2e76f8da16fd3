import type { ObjectStore } from '../cloud/ports.js';
import type { AggregateMessage, Delivery } from '../protocol/messages.js';
import { keys } from '../protocol/keys.js';
import type { RoundState } from '../protocol/records.js';
import { partitionStatsSchema } from '../metrics/schema.js';
import { PipelineRecordError, requireRecord, writeRecord, type PipelineContext } from './context.js';
import { readResolvedConfig, readRoundState, readVerdict } from './experiment.js';
import { datasetModelInput } from './datasets.js';
import { updateLayoutFor, type UpdateLayout } from './inspect-update.js';
import type { RoundEvent, RoundOutcome } from './round-machine.js';
import { RoundRunner, type ExperimentView, type RoundStateWriter, type VerdictWrites } from './round-runner.js';
import { startExperiment, type StartOutcome } from './start.js';
import { handleSecAggMessage, type SecAggOutcome } from './secagg-round.js';
import { BatchReads } from './batch-reads.js';
import { roundMemory } from './round-memory.js';
import { keepRecent } from './keep-recent.js';
import { readGroupState } from './round-groups.js';

export type AggregateOutcome = RoundOutcome | StartOutcome | SecAggOutcome;

/** Where a round's state lives, or a group's of a split round. */
const stateKey = (state: RoundState) =>
  state.group === undefined ? keys.roundState(state.experimentId, state.round) : keys.groupState(state.experimentId, state.round, state.group);

/** A round's state, or one group's of a split round (round-groups.ts): each is read and written on its own. */
const roundKey = (experimentId: string, round: number, group?: number) => `${experimentId}\u0000${round}\u0000${group ?? ''}`;

/**
 * What an experiment's messages need that never changes while it runs (config.resolved.json, partition.json: the start
 * writes them before round 1 and refuses a second upload), kept between invocations of a warm aggregator. Keyed by the
 * round's start time as well: a restart (every object deleted, the config uploaded again) opens its rounds anew, so
 * nothing read before it is reused; per warm process (`context.warm`, else the store), so two buckets (or simulated
 * clouds) never share an entry.
 */
const warmViews = new WeakMap<object, Map<string, Promise<WarmView>>>();
type WarmView = Omit<ExperimentView, 'samplesHeld'> & { samplesHeld(reader: ObjectStore): Promise<ReadonlyMap<string, number>> };
const WARM_VIEWS_PER_STORE = 16;
/**
 * The update layout each experiment's last view had, by experiment: only a guess at the size of the next update to
 * read ahead (batch-reads.ts), which a message uses only if its round's own view says the same size.
 */
const warmLayouts = new WeakMap<object, Map<string, UpdateLayout>>();

/**
 * One invocation of the aggregator: a batch of up to EVENT_SOURCE_BATCH_SIZE.aggregate messages, handled one after
 * the other (FIFO group = experiment, so no other invocation touches the experiment meanwhile). What every message of
 * an experiment needs (its config, update layout, partition) is read once per round by a warm aggregator, and a
 * round's state is read once a batch and then kept here as this invocation last wrote it.
 *
 * A round state that only counts one more answer (`answered`) is not written at once: it is written before any other
 * effect that is not a verdict, and when the batch ends (`flush`). Every verdict it counts was written before it, so a
 * crash in between leaves verdicts whose ordinal is ahead of the state, which their redelivered messages (the whole
 * batch comes back, in order) bring the state up to — the recovery a crash between verdict and state always had.
 * A batch of n updates thus writes the round state once instead of n times.
 *
 * The verdicts themselves are written together: each write starts when its message decides it, and the next effect
 * that is not a verdict (or a read of a verdict, or the batch's end) waits for all of them first. Should one fail, the
 * state that counts it is never written and the whole batch fails (`flush` fails from then on), so every message comes
 * back in order: those whose verdicts were written bring the state up to their ordinals, the others decide again and
 * get the same ordinals (docs/protocol.md, the crash table).
 */
export class AggregateSession implements RoundStateWriter, VerdictWrites {
  /** verdict writes in flight, in the order their messages decided them */
  private verdicts: { readonly settled: Promise<unknown>; readonly remember: () => void }[] = [];
  /** a verdict write that failed: the batch must fail as a whole */
  private failedVerdict: { readonly error: unknown } | undefined;
  private readonly states = new Map<string, RoundState>();
  private readonly unwritten = new Map<string, RoundState>();
  /** round states read for the batch's reads ahead, before the first of its messages needed them */
  private readonly stateReads = new Map<string, Promise<RoundState | undefined>>();
  private readonly reads: BatchReads;

  constructor(
    private readonly context: PipelineContext,
    /** false: each verdict is written before its message's next effect (the benchmark's baseline) */
    private readonly options: { readonly verdictsTogether?: boolean } = {},
  ) {
    this.reads = new BatchReads(context);
  }

  /** Starts the reads the batch's "update ready" messages will need (batch-reads.ts); call before handling them. */
  readAhead(messages: readonly Delivery<AggregateMessage>[]): void {
    this.reads.start(
      messages,
      async (experimentId, round, group) => {
        const key = roundKey(experimentId, round, group);
        const state = this.unwritten.get(key) ?? this.states.get(key) ?? (await this.readState(experimentId, round, group));
        return state && { state, view: await this.experiment(experimentId, state) };
      },
      (experimentId) => warmLayouts.get(this.context.warm ?? this.context.store)?.get(experimentId),
    );
  }

  /** One read of a round's state per batch, shared by the reads ahead and the first message that needs it. */
  private readState(experimentId: string, round: number, group: number | undefined): Promise<RoundState | undefined> {
    const key = roundKey(experimentId, round, group);
    let read = this.stateReads.get(key);
    if (!read) {
      read = group === undefined ? readRoundState(this.context.store, experimentId, round) : readGroupState(this.context.store, experimentId, round, group);
      read.catch(() => this.stateReads.delete(key));
      this.stateReads.set(key, read);
    }
    return read;
  }

  /** `sentAt`: when the message was sent (SQS's SentTimestamp), if the event says */
  async handle(message: AggregateMessage, sentAt?: Date): Promise<AggregateOutcome> {
    if (message.type === 'start') {
      // A start may rewrite the config and the round states: nothing read before it holds after it.
      await this.flush();
      for (const key of this.states.keys()) if (key.startsWith(`${message.experimentId}\u0000`)) this.states.delete(key);
      for (const key of this.stateReads.keys()) if (key.startsWith(`${message.experimentId}\u0000`)) this.stateReads.delete(key);
      return startExperiment(this.context, message);
    }
    const { experimentId, round } = message;
    // A split round's updates and forwarded deadlines are its groups' (each in a FIFO group of its own), the rest the round's.
    const group = message.type === 'update' || message.type === 'deadline' ? message.group : undefined;
    const key = roundKey(experimentId, round, group);
    try {
      const state = this.unwritten.get(key) ?? this.states.get(key) ?? (await this.readState(experimentId, round, group));
      this.stateReads.delete(key);
      if (!state) throw new PipelineRecordError(`${group === undefined ? '' : `group ${group} of `}round ${round} of experiment ${experimentId} was never opened`);
      const experiment = await this.experiment(experimentId, state);
      if (experiment.config.secureAggregation) {
        const handled = await handleSecAggMessage(this.context, experiment, state, this, message);
        this.states.set(key, handled.state);
        return handled.outcome;
      }
      if (message.type === 'secagg') {
        // Nothing a plain round can use: logged, nothing written (as for a client that was not sampled).
        this.context.log('aggregate.unexpected-secagg', { experimentId, round, clientId: message.clientId, stage: message.stage });
        return 'stale';
      }
      const ahead = message.type === 'update' ? await this.reads.take(experimentId, round, message.clientId) : undefined;
      // A verdict read in the message's turn may be one this batch is still writing (a second copy of a message).
      if (message.type === 'update' && !ahead) await this.settleVerdicts();
      const first: RoundEvent =
        message.type === 'update'
          ? {
              type: 'update',
              clientId: message.clientId,
              known: ahead ? ahead.known : await readVerdict(this.context.store, experimentId, round, message.clientId),
              ...(sentAt && !Number.isNaN(sentAt.getTime()) ? { announcedAt: sentAt.toISOString() } : {}),
            }
          : message.type === 'deadline'
            ? { type: 'deadline', attempt: message.attempt }
            : { type: 'group-closed', group: message.group };
      let inspection = message.type === 'update' ? ahead?.inspection : undefined;
      const runner = new RoundRunner(this.context, experiment, state, this, {
        inspection: (clientId) => {
          if (message.type !== 'update' || clientId !== message.clientId) return undefined;
          const found = inspection;
          inspection = undefined;
          return found;
        },
        written: (clientId) => this.reads.forget(experimentId, round, clientId),
      }, roundMemory(this.context, state, experiment.config), this.options.verdictsTogether === false ? undefined : this);
      const outcome = await runner.run(first);
      this.states.set(key, runner.roundState);
      return outcome;
    } catch (error) {
      // What failed half-way may have written more than the state here says: read it again next time.
      this.states.delete(key);
      this.stateReads.delete(key);
      throw error;
    }
  }

  private experiment(experimentId: string, state: RoundState): Promise<ExperimentView> {
    const { store } = this.context;
    const owner = this.context.warm ?? store;
    let views = warmViews.get(owner);
    if (!views) warmViews.set(owner, (views = new Map()));
    const key = `${experimentId}\u0000${state.round}\u0000${state.startedAt}`;
    let view = views.get(key);
    if (!view) {
      view = (async () => {
        const config = await readResolvedConfig(store, experimentId);
        const layout = updateLayoutFor(config, await datasetModelInput(store, config.dataset));
        let samples: Promise<ReadonlyMap<string, number>> | undefined;
        // Each client's training-set size from partition.json (its own samples, plus its share of the public subset
        // with sharedData), read once: it bounds what a report may claim. Read through the store of the invocation
        // that first needs it, not the one that made the view, which may have failed since.
        const samplesHeld = (reader: ObjectStore) =>
          (samples ??= requireRecord(reader, keys.partition(experimentId), partitionStatsSchema).then(
            (partition) => new Map(partition.clients.map((client) => [client.clientId, client.samples + (client.sharedSamples ?? 0)])),
          )).catch((error: unknown) => {
            samples = undefined;
            throw error;
          });
        let layouts = warmLayouts.get(owner);
        if (!layouts) warmLayouts.set(owner, (layouts = new Map()));
        keepRecent(layouts, experimentId, layout, WARM_VIEWS_PER_STORE);
        return { config, layout, samplesHeld };
      })();
      const cached = views;
      view.catch(() => cached.delete(key));
      keepRecent(views, key, view, WARM_VIEWS_PER_STORE);
    }
    return view.then(({ config, layout, samplesHeld }) => ({ config, layout, samplesHeld: () => samplesHeld(this.context.store) }));
  }

  /** RoundStateWriter: a state that only counts answers, written later; any other, now (and what waited before it). */
  async save(state: RoundState): Promise<void> {
    const key = roundKey(state.experimentId, state.round, state.group);
    if (!state.closed && !state.followUpDone) {
      this.unwritten.set(key, state);
      return;
    }
    // The same round's waiting state is older than this one: this write supersedes it.
    this.unwritten.delete(key);
    await this.flush();
    await writeRecord(this.context.store, stateKey(state), state);
  }

  /** VerdictWrites: a verdict's write, started; its rejection is kept for settleVerdicts to report. */
  started(write: Promise<void>, remember: () => void): void {
    const settled = write.then(
      () => undefined,
      (error: unknown) => {
        this.failedVerdict ??= { error };
      },
    );
    this.verdicts.push({ settled, remember });
  }

  /**
   * Waits for every verdict write in flight; the process remembers each (round-memory.ts) only once it and every one
   * before it are written. Throws if any failed, now and at every later call of this invocation.
   */
  private async settleVerdicts(): Promise<void> {
    while (this.verdicts.length > 0) {
      const writes = this.verdicts;
      this.verdicts = [];
      await Promise.all(writes.map((write) => write.settled));
      if (!this.failedVerdict) for (const write of writes) write.remember();
    }
    if (this.failedVerdict) throw this.failedVerdict.error;
  }

  /** Writes every verdict and round state still waiting: before any effect that is not a verdict, and when the batch ends. */
  async flush(): Promise<void> {
    await this.settleVerdicts();
    for (const [key, state] of [...this.unwritten]) {
      await writeRecord(this.context.store, stateKey(state), state);
      if (this.unwritten.get(key) === state) this.unwritten.delete(key);
    }
  }
}
