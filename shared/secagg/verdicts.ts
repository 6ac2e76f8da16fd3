import type { Stage } from './setup.js';

/**
 * What the server made of each message a stage received. Messages arrive at least once and in any order; a stage's
 * outcome depends only on the first valid message of each client, so replays change nothing.
 */
export type Verdict =
  | { readonly clientId: string; readonly verdict: 'accepted' }
  /** the same bytes again: ignored */
  | { readonly clientId: string; readonly verdict: 'duplicate' }
  /** different content from a client already accepted: ignored, the first stays */
  | { readonly clientId: string; readonly verdict: 'conflict'; readonly reason: string }
  /** invalid: counts as if the client had not answered */
  | { readonly clientId: string; readonly verdict: 'rejected'; readonly reason: string }
  /** valid, but the client cannot continue (too few live neighbours to hold its shares): it drops out here */
  | { readonly clientId: string; readonly verdict: 'excluded'; readonly reason: string };

export interface SecAggFailure {
  readonly stage: Stage;
  readonly reason: string;
}

export type StageResult<T> =
  | { readonly ok: true; readonly value: T; readonly verdicts: readonly Verdict[] }
  | { readonly ok: false; readonly failure: SecAggFailure; readonly verdicts: readonly Verdict[] };

interface Addressed {
  readonly experimentId: string;
  readonly round: number;
  readonly clientId: string;
}

/**
 * The first valid message of each client, in arrival order, with a verdict for every message. `problem` returns why a
 * message is invalid (given the ones accepted so far), or undefined.
 */
export function firstValidPerClient<M extends Addressed>(
  messages: readonly M[],
  expected: { readonly experimentId: string; readonly round: number },
  problem: (message: M, accepted: ReadonlyMap<string, M>) => string | undefined,
): { accepted: Map<string, M>; verdicts: Verdict[] } {
  const accepted = new Map<string, M>();
  const verdicts: Verdict[] = [];
  for (const message of messages) {
    const { clientId } = message;
    const earlier = accepted.get(clientId);
    if (earlier !== undefined) {
      verdicts.push(
        JSON.stringify(earlier) === JSON.stringify(message)
          ? { clientId, verdict: 'duplicate' }
          : { clientId, verdict: 'conflict', reason: `${clientId} already has an accepted message in this stage; this different one is ignored` },
      );
      continue;
    }
    const reason =
      message.experimentId !== expected.experimentId || message.round !== expected.round
        ? `the message is for ${message.experimentId} round ${message.round}, not ${expected.experimentId} round ${expected.round}`
        : problem(message, accepted);
    if (reason !== undefined) {
      verdicts.push({ clientId, verdict: 'rejected', reason });
      continue;
    }
    accepted.set(clientId, message);
    verdicts.push({ clientId, verdict: 'accepted' });
  }
  return { accepted, verdicts };
}
