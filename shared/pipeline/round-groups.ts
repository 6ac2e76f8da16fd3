import type { ObjectStore } from '../cloud/ports.js';
import type { ExperimentConfig } from '../config/schema.js';
import { keys } from '../protocol/keys.js';
import { roundStateSchema, type RoundState } from '../protocol/records.js';
import { readRecord, writeRecord, type PipelineContext } from './context.js';
import { mapInOrder } from './ordered-reads.js';
import { groupIndices } from './round-machine.js';

/**
 * A tree of sums (config round.groups, docs/protocol.md): a round's clients are dealt over groups, each recorded like a
 * round of its own in its own FIFO group, so that groups are checked side by side; each writes its partial sum, and
 * the round adds them up once every group has closed. These are the pure rules of who belongs where.
 */

/** Groups for a round of `sampled` clients: as configured, never more than the clients; 1 means the round is not split. */
export function roundGroups(config: Pick<ExperimentConfig, 'round'>, sampled: number): number {
  return Math.max(1, Math.min(config.round.groups, sampled));
}

/** The group of the client at `index` of the round's expected clients: dealt in turn, so groups differ by one at most. */
export function groupOfIndex(index: number, groups: number): number {
  return index % groups;
}

/** One group's state: the round's, for the group's clients only, with no quorum of its own. */
export function newGroupState(round: RoundState, group: number): RoundState {
  const { groups, groupsClosed, ...rest } = round;
  if (groups === undefined || group < 0 || group >= groups) throw new RangeError(`round ${round.round} has no group ${group}`);
  return { ...rest, expected: round.expected.filter((_, index) => groupOfIndex(index, groups) === group), minClients: 0, group };
}

export function readGroupState(store: ObjectStore, experimentId: string, round: number, group: number): Promise<RoundState | undefined> {
  return readRecord(store, keys.groupState(experimentId, round, group), roundStateSchema);
}

/**
 * Writes every group's state of a round about to open (10 at a time): before the round's own state, whose existence
 * marks the round open, and before any train message, so no group is asked about before it exists. A retried opening
 * rewrites them all, which is safe: no client was asked to train before the round's state was written.
 */
export async function writeGroupStates(context: PipelineContext, round: RoundState): Promise<void> {
  await mapInOrder(groupIndices(round), (group) => writeRecord(context.store, keys.groupState(round.experimentId, round.round, group), newGroupState(round, group)));
}
