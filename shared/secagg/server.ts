import {
  type AdvertiseKeys,
  type MaskedInputClosed,
  type MaskedInputNotice,
  type MaskedInputRequest,
  PROTOCOL,
  type PeerKeys,
  type Roster,
  type ShareKeys,
  type ShareKeysRequest,
  type UnmaskRequest,
} from './messages.js';
import type { RoundSetup, Stage } from './setup.js';
import { firstValidPerClient, type StageResult, type Verdict } from './verdicts.js';

/**
 * The server half of the first three stages: each closes a stage (at its deadline, or when every expected client has
 * answered) from the messages received so far, and returns the next stage's per-client requests plus the state to
 * keep. Pure: same messages in, same result out, whatever the duplicates.
 */

const byPoint = (setup: RoundSetup) => (a: string, b: string) => setup.points.get(a)! - setup.points.get(b)!;

const header = (setup: RoundSetup) => ({ protocol: PROTOCOL, experimentId: setup.record.experimentId, round: setup.record.round }) as const;

const liveNeighbours = (setup: RoundSetup, clientId: string, live: ReadonlySet<string>) => setup.graph.get(clientId)!.filter((id) => live.has(id));

/**
 * Drops, until none is left, every client with fewer than t live neighbours: its secrets could not be recovered, and
 * it would hold shares nobody else needs. Removing one can starve another, hence the loop.
 */
function pruneStarved(setup: RoundSetup, live: Set<string>, after: Stage): Verdict[] {
  const excluded: Verdict[] = [];
  for (let changed = true; changed; ) {
    changed = false;
    for (const clientId of [...live].sort(byPoint(setup))) {
      const count = liveNeighbours(setup, clientId, live).length;
      if (count < setup.threshold) {
        live.delete(clientId);
        changed = true;
        excluded.push({
          clientId,
          verdict: 'excluded',
          reason: `after ${after}, ${count} of its ${setup.neighbourCount} neighbours are left; its shares need ${setup.threshold} (the threshold)`,
        });
      }
    }
  }
  return excluded;
}

function noneLeft(setup: RoundSetup, stage: Stage, answered: number, verb: string): string {
  const n = setup.record.clients.length;
  return `${answered} of ${n} clients ${verb}; no client has the ${setup.threshold} live neighbours (threshold ${setup.threshold} of k = ${setup.neighbourCount}) it needs to continue, so the round cannot complete ${stage === 'masked-input' ? 'unmasking' : 'securely'}`;
}

export interface AdvertiseKeysClosed {
  /** U1: keep it; share keys and unmask read it */
  readonly roster: Roster;
  /** one per client of U1 */
  readonly requests: readonly ShareKeysRequest[];
}

export function closeAdvertiseKeys(setup: RoundSetup, messages: readonly AdvertiseKeys[]): StageResult<AdvertiseKeysClosed> {
  const keyOwners = new Map<string, string>();
  const { accepted, verdicts } = firstValidPerClient(messages, setup.record, (message) => {
    if (!setup.points.has(message.clientId)) return `${message.clientId} is not a client of this round`;
    if (message.cipherPublicKey === message.maskPublicKey) return 'the cipher key and the mask key must be different keys';
    const repeated = keyOwners.get(message.cipherPublicKey) ?? keyOwners.get(message.maskPublicKey);
    if (repeated !== undefined) return `a public key repeats one of ${repeated}'s`;
    // Returning undefined accepts the message: its keys are taken from here on.
    keyOwners.set(message.cipherPublicKey, message.clientId).set(message.maskPublicKey, message.clientId);
    return undefined;
  });
  const live = new Set(accepted.keys());
  verdicts.push(...pruneStarved(setup, live, 'advertise-keys'));
  if (live.size === 0) return { ok: false, failure: { stage: 'advertise-keys', reason: noneLeft(setup, 'advertise-keys', accepted.size, 'advertised keys') }, verdicts };
  const keysOf = (clientId: string): PeerKeys => {
    const { cipherPublicKey, maskPublicKey } = accepted.get(clientId)!;
    return { clientId, cipherPublicKey, maskPublicKey };
  };
  const members = [...live].sort(byPoint(setup));
  return {
    ok: true,
    value: {
      roster: { ...header(setup), kind: 'roster', clients: members.map(keysOf) },
      requests: members.map((clientId) => ({ ...header(setup), kind: 'share-keys-request', clientId, neighbours: liveNeighbours(setup, clientId, live).map(keysOf) })),
    },
    verdicts,
  };
}

export interface ShareKeysClosed {
  /** U2, in point order */
  readonly survivors: readonly string[];
  /** one per client of U2: keep them; closeMaskedInput reads them */
  readonly requests: readonly MaskedInputRequest[];
}

export function closeShareKeys(setup: RoundSetup, roster: Roster, messages: readonly ShareKeys[]): StageResult<ShareKeysClosed> {
  const keys = new Map(roster.clients.map((entry) => [entry.clientId, entry]));
  const members = new Set(keys.keys());
  const { accepted, verdicts } = firstValidPerClient(messages, setup.record, (message) => {
    if (!members.has(message.clientId)) return `${message.clientId} is not on the roster (it did not advertise keys, or was excluded)`;
    const expected = new Set(liveNeighbours(setup, message.clientId, members));
    const seen = new Set<string>();
    for (const { to } of message.envelopes) {
      if (!expected.has(to)) return `it addresses an envelope to ${to}, which is not one of its neighbours on the roster`;
      if (seen.has(to)) return `it addresses two envelopes to ${to}`;
      seen.add(to);
    }
    const missing = [...expected].filter((id) => !seen.has(id));
    return missing.length > 0 ? `it has no envelope for ${missing.join(', ')}` : undefined;
  });
  const live = new Set(accepted.keys());
  verdicts.push(...pruneStarved(setup, live, 'share-keys'));
  if (live.size === 0) return { ok: false, failure: { stage: 'share-keys', reason: noneLeft(setup, 'share-keys', accepted.size, 'shared keys') }, verdicts };
  const survivors = [...live].sort(byPoint(setup));
  const envelope = (from: string, to: string) => accepted.get(from)!.envelopes.find((e) => e.to === to)!.ciphertext;
  const requests = survivors.map(
    (clientId): MaskedInputRequest => ({
      ...header(setup),
      kind: 'masked-input-request',
      clientId,
      neighbours: liveNeighbours(setup, clientId, live).map((from) => ({ ...keys.get(from)!, ciphertext: envelope(from, clientId) })),
    }),
  );
  return { ok: true, value: { survivors, requests }, verdicts };
}

export interface MaskedInputStageClosed {
  /** U2 and U3 with the digest of each accepted masked input: keep it; the sum and unmasking read it */
  readonly closed: MaskedInputClosed;
  /** one per contributor (U3) */
  readonly requests: readonly UnmaskRequest[];
}

/**
 * U3: the clients whose masked input arrived. Fails here, before anyone reveals a share, when some mask could not be
 * removed later: a contributor's self mask, or a dropped client's pairwise masks, needs t of its neighbours among
 * the contributors (only contributors are asked to unmask).
 */
export function closeMaskedInput(setup: RoundSetup, maskedInputRequests: readonly MaskedInputRequest[], notices: readonly MaskedInputNotice[]): StageResult<MaskedInputStageClosed> {
  const requestOf = new Map(maskedInputRequests.map((request) => [request.clientId, request]));
  const words = setup.record.vectorLength + 1;
  const { accepted, verdicts } = firstValidPerClient(notices, setup.record, (notice) => {
    if (!requestOf.has(notice.clientId)) return `${notice.clientId} did not share keys this round (or was excluded), so its masks could not be removed`;
    return notice.words === words ? undefined : `the masked input has ${notice.words} words; this round's have ${words}`;
  });
  const t = setup.threshold;
  const least = setup.minContributors;
  if (accepted.size < least) {
    const which = least === t ? `the threshold, ${t}` : `${least}, the fewest contributors the clients sized their noise for (threshold ${t})`;
    return { ok: false, failure: { stage: 'masked-input', reason: `${accepted.size} clients sent masked inputs; at least ${which}, must for the round to be unmasked` }, verdicts };
  }
  const contributors = new Set(accepted.keys());
  const survivors = [...requestOf.keys()].sort(byPoint(setup));
  const starved: string[] = [];
  for (const clientId of survivors) {
    const answering = liveNeighbours(setup, clientId, contributors).length;
    const masksInSum = contributors.has(clientId) || answering > 0;
    if (masksInSum && answering < t) {
      const what = contributors.has(clientId) ? 'self mask' : 'pairwise masks (it dropped)';
      starved.push(`${clientId}'s ${what} need ${t} of its neighbours to answer the unmask stage; only ${answering} of them sent masked inputs`);
    }
  }
  if (starved.length > 0) return { ok: false, failure: { stage: 'masked-input', reason: starved.slice(0, 5).join('; ') + (starved.length > 5 ? `; and ${starved.length - 5} more` : '') }, verdicts };
  const ordered = [...contributors].sort(byPoint(setup));
  const closed: MaskedInputClosed = {
    ...header(setup),
    kind: 'masked-input-closed',
    survivors,
    contributors: ordered.map((clientId) => ({ clientId, sha256: accepted.get(clientId)!.sha256 })),
  };
  const requests = ordered.map((clientId): UnmaskRequest => {
    const { neighbours } = requestOf.get(clientId)!;
    return {
      ...header(setup),
      kind: 'unmask-request',
      clientId,
      contributorCount: contributors.size,
      survivors: neighbours.filter((n) => contributors.has(n.clientId)).map((n) => n.clientId),
      dropped: neighbours.filter((n) => !contributors.has(n.clientId)).map((n) => n.clientId),
      neighbours,
    };
  });
  return { ok: true, value: { closed, requests }, verdicts };
}
