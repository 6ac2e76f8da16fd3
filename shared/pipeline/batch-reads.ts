import type { AggregateMessage, Delivery } from '../protocol/messages.js';
import type { RoundState, VerdictRecord } from '../protocol/records.js';
import type { PipelineContext } from './context.js';
import { readVerdict } from './experiment.js';
import { inspectUpdate, readUpdate, readUpdateReport, type Inspection, type UpdateLayout } from './inspect-update.js';
import { mapInOrder, READ_CONCURRENCY } from './ordered-reads.js';
import type { ExperimentView } from './round-runner.js';

/** What was read ahead for one "update ready" of a batch: the client's verdict, and if it had none, the inspection. */
export interface ReadAhead {
  readonly known: VerdictRecord | undefined;
  readonly inspection?: Promise<Inspection>;
}

const clientKey = (experimentId: string, round: number, clientId: string) => `${experimentId}\u0000${round}\u0000${clientId}`;

/**
 * A batch's "update ready" messages are handled one after the other (one writer per experiment), but what each needs
 * to read before it decides — the client's verdict, and if it has none, its report and update — depends on no other
 * message of the batch. So those reads are started together when the batch arrives (at most READ_CONCURRENCY at once)
 * and each message takes its own when its turn comes. Nothing is written ahead, and the writes keep their order: every
 * crash point is the one of docs/protocol.md.
 *
 * A read ahead is used at most once, and never after this invocation wrote the client's verdict (a close that found
 * its report, a duplicate message in the same batch): then the message reads again, as it would have without this.
 */
export class BatchReads {
  private readonly ahead = new Map<string, Promise<ReadAhead | undefined>>();

  constructor(private readonly context: PipelineContext) {}

  /**
   * Starts the reads for `messages`. `round` gives a round's state and its experiment's view (both read once per
   * batch anyway); a round that is closed, a secure-aggregation experiment, an unsampled client: what was read with
   * the state is dropped, and nothing more is read.
   */
  start(
    messages: readonly Delivery<AggregateMessage>[],
    /** `group`: the message's group of a split round (round-groups.ts), whose state decides it */
    round: (experimentId: string, round: number, group: number | undefined) => Promise<{ state: RoundState; view: ExperimentView } | undefined>,
    /** the update layout this process last checked the experiment's updates against, if any */
    knownLayout: (experimentId: string) => UpdateLayout | undefined = () => undefined,
  ): void {
    // A start rewrites what an experiment's updates would be checked against: its batch reads nothing ahead for it.
    const starting = new Set(messages.flatMap(({ message }) => (message.type === 'start' ? [message.experimentId] : [])));
    const firstDelivery = new Set<string>();
    const updates = messages.flatMap(({ message, receiveCount }) => {
      if (message.type !== 'update' || starting.has(message.experimentId)) return [];
      if (receiveCount === 1) firstDelivery.add(clientKey(message.experimentId, message.round, message.clientId));
      return [message];
    });
    const fresh = updates.filter((message, index) => {
      const key = clientKey(message.experimentId, message.round, message.clientId);
      return !this.ahead.has(key) && updates.findIndex((other) => clientKey(other.experimentId, other.round, other.clientId) === key) === index;
    });
    const { store } = this.context;
    const settled = new Map<string, (value: ReadAhead | undefined) => void>();
    for (const { experimentId, round: r, clientId } of fresh) {
      this.ahead.set(clientKey(experimentId, r, clientId), new Promise((resolve) => settled.set(clientKey(experimentId, r, clientId), resolve)));
    }
    void mapInOrder(
      fresh,
      async ({ experimentId, round: r, clientId, group }) => {
        const resolve = settled.get(clientKey(experimentId, r, clientId))!;
        // The verdict and the report need nothing the round's state says, so they are read with it, not after it: on
        // S3, where each request waits ~100 ms, the batch waits for one read before it decides instead of four. So is
        // the update, up to the size this process last knew the experiment's updates to have, but only on a message's
        // first delivery: a verdict is then rare (another "update ready" of the same client), while a redelivered
        // batch's are mostly recorded, and their updates would be read for nothing.
        const message = { experimentId, round: r, clientId };
        const verdictRead = readVerdict(store, experimentId, r, clientId);
        const reportRead = readUpdateReport(store, message);
        const layout = firstDelivery.has(clientKey(experimentId, r, clientId)) ? knownLayout(experimentId) : undefined;
        const updateRead = layout && readUpdate(store, layout, message);
        for (const read of [verdictRead, reportRead, updateRead?.read]) read?.catch(() => {});
        try {
          const found = await round(experimentId, r, group);
          if (!found || found.state.closed || found.view.config.secureAggregation || !found.state.expected.includes(clientId)) return resolve(undefined);
          const known = await verdictRead;
          if (known) return resolve({ known });
          const held = (await found.view.samplesHeld()).get(clientId);
          const inspection = inspectUpdate(store, found.view.layout, message, held, { report: reportRead, ...(updateRead ? { update: updateRead } : {}) });
          inspection.catch(() => {});
          // Waited for here, so that no more than READ_CONCURRENCY inspections (each reads an update) overlap.
          await inspection.catch(() => {});
          resolve({ known: undefined, inspection });
        } catch {
          // A read that failed ahead is made again in the message's turn, where its failure fails that message.
          resolve(undefined);
        }
      },
      READ_CONCURRENCY,
    );
  }

  /** The reads made ahead for this client's message, once; undefined if there are none. */
  take(experimentId: string, round: number, clientId: string): Promise<ReadAhead | undefined> | undefined {
    const key = clientKey(experimentId, round, clientId);
    const found = this.ahead.get(key);
    this.ahead.delete(key);
    return found;
  }

  /** This invocation wrote the client's verdict: what was read ahead of it no longer holds. */
  forget(experimentId: string, round: number, clientId: string): void {
    this.ahead.delete(clientKey(experimentId, round, clientId));
  }
}
