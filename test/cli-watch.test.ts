import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../local/cloud.js';
import { watchExperiment, type Progress } from '../cli/watch.js';
import { keys } from '../shared/protocol/keys.js';
import { startCloudWithScriptedClients } from './helpers/pipeline.js';

/**
 * `flambda run` shows a line per round from what it polls in the bucket. A round that opens and closes between two
 * polls (tiny rounds, a slow poll) must still be shown: the final state is reported before the watch returns.
 */

let cloud: LocalCloud;
beforeAll(async () => {
  ({ cloud } = await startCloudWithScriptedClients());
}, 60_000);
afterAll(async () => {
  await cloud?.stop();
});

const status = (experimentId: string, state: 'running' | 'completed', round: number, lastAccuracy?: number) =>
  JSON.stringify({ experimentId, state, round, rounds: 2, updatedAt: new Date().toISOString(), ...(lastAccuracy === undefined ? {} : { lastAccuracy }) });

describe('watching an experiment', () => {
  it('reports the final round even when it opened and closed between two polls', async () => {
    const experimentId = 'watch-jump';
    await cloud.context.store.put(keys.status(experimentId), status(experimentId, 'running', 1), 'application/json');
    const seen: Progress[] = [];
    const watching = watchExperiment(cloud.context.store, experimentId, {
      pollMs: 200,
      stallTimeoutMs: 30_000,
      onProgress: (progress) => {
        seen.push(progress);
        // Round 2 opens and the experiment completes before the next poll.
        if (seen.length === 1) void cloud.context.store.put(keys.status(experimentId), status(experimentId, 'completed', 2, 0.9), 'application/json');
      },
    });
    const final = await watching;
    expect(final).toMatchObject({ state: 'completed', round: 2 });
    expect(seen.map((progress) => progress.round)).toEqual([1, 2]);
    expect(seen.at(-1)?.lastAccuracy).toBe(0.9);
  }, 60_000);
});
