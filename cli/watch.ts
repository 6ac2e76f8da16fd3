import { setTimeout as sleep } from 'node:timers/promises';
import type { ObjectStore } from '../shared/cloud/ports.js';
import type { ExperimentStatus } from '../shared/metrics/types.js';
import { roundMetricsSchema } from '../shared/metrics/schema.js';
import { readRecord } from '../shared/pipeline/context.js';
import { readRoundState, readStatus } from '../shared/pipeline/experiment.js';
import { keys } from '../shared/protocol/keys.js';
import type { RoundState } from '../shared/protocol/records.js';
import { mapInOrder } from '../shared/pipeline/ordered-reads.js';
import { readGroupState } from '../shared/pipeline/round-groups.js';
import { groupIndices } from '../shared/pipeline/round-machine.js';

export interface Progress {
  readonly round: number;
  readonly rounds: number;
  readonly clientsDone: number;
  readonly clientsExpected: number;
  readonly lastAccuracy?: number;
}

export interface WatchOptions {
  readonly onProgress: (progress: Progress) => void;
  readonly pollMs?: number;
  /** give up after this long without the status changing */
  readonly stallTimeoutMs: number;
  /** stops watching (rejecting with the signal's reason), e.g. on Ctrl-C */
  readonly signal?: AbortSignal;
}

export class WatchTimeoutError extends Error {
  override name = 'WatchTimeoutError';
}

/** The clients a round has heard from: its own count, or a split round's groups' (each counts its own clients). */
async function answered(store: ObjectStore, state: RoundState): Promise<number> {
  if (state.groups === undefined) return state.answered;
  const groups = await mapInOrder(groupIndices(state), (group) => readGroupState(store, state.experimentId, state.round, group));
  return groups.reduce((total, group) => total + (group?.answered ?? 0), 0);
}

/** Polls status.json and the current round's state until the experiment completes or fails. */
export async function watchExperiment(store: ObjectStore, experimentId: string, options: WatchOptions): Promise<ExperimentStatus> {
  let lastChange = Date.now();
  let lastSeen = '';
  let lastRound = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    const status = await readStatus(store, experimentId);
    const over = status !== undefined && status.state !== 'running';
    // Rounds that opened and closed between two polls (small rounds close in a fraction of a poll) are reported too,
    // from the state and metrics they left: a log gets a line for every round.
    for (; status && lastRound + 1 < status.round; lastRound++) {
      const skipped = lastRound + 1;
      const state = await readRoundState(store, experimentId, skipped);
      if (!state) continue;
      const before = skipped > 1 ? await readRecord(store, keys.roundMetrics(experimentId, skipped - 1), roundMetricsSchema) : undefined;
      options.onProgress({
        round: skipped,
        rounds: status.rounds,
        clientsDone: await answered(store, state),
        clientsExpected: state.expected.length,
        ...(before ? { lastAccuracy: before.accuracy } : {}),
      });
    }
    if (status) lastRound = Math.max(lastRound, status.round);
    const roundState = status && status.round > 0 ? await readRoundState(store, experimentId, status.round) : undefined;
    const progress: Progress = {
      round: status?.round ?? 0,
      rounds: status?.rounds ?? 0,
      clientsDone: roundState ? await answered(store, roundState) : 0,
      clientsExpected: roundState?.expected.length ?? 0,
      ...(status?.lastAccuracy !== undefined ? { lastAccuracy: status.lastAccuracy } : {}),
    };
    const seen = JSON.stringify(progress);
    const changed = seen !== lastSeen;
    if (changed) {
      lastSeen = seen;
      lastChange = Date.now();
      options.onProgress(progress);
    }
    // Reported before returning: a last round that opened and closed between two polls still gets its line.
    if (over) return status;
    if (!changed && Date.now() - lastChange > options.stallTimeoutMs) {
      throw new WatchTimeoutError(
        `no progress on ${experimentId} for ${Math.round(options.stallTimeoutMs / 1000)} s (last: round ${progress.round}, ` +
          `${progress.clientsDone}/${progress.clientsExpected} clients)`,
      );
    }
    await sleep(options.pollMs ?? 500, undefined, options.signal ? { signal: options.signal } : {}).catch((error: unknown) => {
      throw options.signal?.aborted ? options.signal.reason : error;
    });
  }
}
