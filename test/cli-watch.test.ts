import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../local/cloud.js';
import { createProgressDisplay } from '../cli/progress.js';
import { watchExperiment, type Progress } from '../cli/watch.js';
import type { TrainMessage } from '../shared/protocol/messages.js';
import { roundMetricsSchema } from '../shared/metrics/schema.js';
import { requireRecord } from '../shared/pipeline/context.js';
import { keys } from '../shared/protocol/keys.js';
import { announceUpdate, readGlobal, shifted, startCloudWithScriptedClients, uploadConfig, waitFor, waitForStatus, writeUpdate } from './helpers/pipeline.js';

/**
 * `flambda run` shows a line per round from what it polls in the bucket. A round that opens and closes between two
 * polls (tiny rounds, a slow poll) must still be shown: the final state is reported before the watch returns.
 */

let cloud: LocalCloud;
let trainMessages: TrainMessage[];
beforeAll(async () => {
  ({ cloud, trainMessages } = await startCloudWithScriptedClients());
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

  it('gives every round its line, even rounds that opened and closed between two polls', async () => {
    const experimentId = 'watch-missed-rounds';
    await uploadConfig(cloud, experimentId, {
      name: experimentId,
      clients: 4,
      rounds: 3,
      sampling: { perRound: 2 },
      model: 'mlp',
      samplesPerClient: 10,
      testSamples: 50,
      seed: 5,
    });
    // The whole experiment runs before the first poll: every round opened and closed unseen.
    for (let round = 1; round <= 3; round++) {
      const sampled = await waitFor(`round ${round}'s train messages`, async () => {
        const mine = trainMessages.filter((message) => message.experimentId === experimentId && message.round === round);
        return mine.length >= 2 ? mine : undefined;
      });
      const global = await readGlobal(cloud, experimentId, round - 1);
      for (const message of sampled) {
        await writeUpdate(cloud, message, shifted(global, 0.01), 10);
        await announceUpdate(cloud, message);
      }
    }
    await waitForStatus(cloud, experimentId, (status) => status.state === 'completed');
    const lines: string[] = [];
    const log = createProgressDisplay(3, { tty: false, line: (text) => lines.push(text) });
    const final = await watchExperiment(cloud.context.store, experimentId, { pollMs: 50, stallTimeoutMs: 30_000, onProgress: log.update });
    expect(final.state).toBe('completed');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('  round 1/3 · 2 clients sampled');
    // each later round with the accuracy known while it ran: the round before it's
    expect(lines[1]).toMatch(/^ {2}round 2\/3 · 2 clients sampled, last accuracy \d+\.\d\d %$/);
    expect(lines[2]).toMatch(/^ {2}round 3\/3 · 2 clients sampled, last accuracy \d+\.\d\d %$/);
    const round2 = await requireRecord(cloud.context.store, keys.roundMetrics(experimentId, 2), roundMetricsSchema);
    expect(lines[2]).toContain(`last accuracy ${(round2.accuracy * 100).toFixed(2)} %`);
  }, 120_000);

  it('counts the clients sampled for the round, on the bar and in the line per round, not the whole federation', async () => {
    const experimentId = 'watch-sampled';
    await uploadConfig(cloud, experimentId, {
      name: experimentId,
      clients: 6,
      rounds: 1,
      sampling: { perRound: 3 },
      model: 'mlp',
      samplesPerClient: 10,
      testSamples: 50,
      seed: 3,
    });
    // A terminal as cli-progress sees one: the bar's frames land here.
    let frames = '';
    const terminal = Object.assign(new PassThrough(), { isTTY: true, columns: 160 });
    terminal.on('data', (chunk: Buffer) => (frames += chunk.toString()));
    const lines: string[] = [];
    const bar = createProgressDisplay(1, { tty: true, stream: terminal });
    const log = createProgressDisplay(1, { tty: false, line: (text) => lines.push(text) });
    const seen: Progress[] = [];
    const watching = watchExperiment(cloud.context.store, experimentId, {
      pollMs: 50,
      stallTimeoutMs: 60_000,
      onProgress: (progress) => {
        seen.push(progress);
        bar.update(progress);
        log.update(progress);
      },
    });
    // The three sampled clients answer one at a time, each once the bar has drawn the answer before it.
    const sampled = await waitFor('the sampled clients\' train messages', async () => {
      const mine = trainMessages.filter((message) => message.experimentId === experimentId);
      return mine.length >= 3 ? mine : undefined;
    });
    expect(sampled).toHaveLength(3);
    const global0 = await readGlobal(cloud, experimentId, 0);
    for (const [index, message] of sampled.entries()) {
      // The bar draws on its own clock (cli-progress throttles frames), so wait for the frame itself, not only the poll.
      await waitFor(`the bar to show ${index} answer(s)`, async () => (frames.includes(`round 1/1 · ${index}/3 clients`) ? true : undefined));
      await writeUpdate(cloud, message, shifted(global0, 0.01), 10);
      await announceUpdate(cloud, message);
    }
    const final = await watching;
    bar.stop();
    expect(final.state).toBe('completed');
    expect(seen.filter((progress) => progress.round === 1).every((progress) => progress.clientsExpected === 3)).toBe(true);
    expect(seen.at(-1)).toMatchObject({ round: 1, clientsDone: 3, clientsExpected: 3 });
    expect(frames).toContain('round 1/1 · 0/3 clients');
    expect(frames).toContain('round 1/1 · 3/3 clients');
    expect(frames).not.toContain('/6 clients');
    // The bar counts the sampled clients: all three answered is a full bar, not half of the federation's six.
    const last = frames.slice(frames.lastIndexOf('3/3 clients |'));
    expect(last.split('|')[1]).toMatch(/^\u2588+$/);
    expect(lines).toContain('  round 1/1 · 3 clients sampled');
    expect(lines.join('\n')).not.toContain('6 clients');
  }, 120_000);
});

