import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchExperiment, type Progress } from '../cli/watch.js';
import { startLocalCloud, type LocalCloud } from '../local/cloud.js';
import { defaultHandlers } from '../local/default-handlers.js';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import { decodeGroupPartial } from '../shared/pipeline/group-partial.js';
import { readRoundState } from '../shared/pipeline/experiment.js';
import { keys } from '../shared/protocol/keys.js';
import { readGlobal, uploadConfig, waitForStatus, type LogEntry } from './helpers/pipeline.js';

/**
 * A tree of sums on the embedded local cloud (config round.groups): real training, real S3 and SQS calls, each group's
 * "update ready" messages in a FIFO group of their own. A split round must aggregate what the one-group round does.
 */

const base = { clients: 7, rounds: 2, model: 'mlp', samplesPerClient: 24, testSamples: 200, seed: 5 } as const;

describe('a round split into groups, through the whole pipeline', () => {
  let cloud: LocalCloud;
  const logs: LogEntry[] = [];

  beforeAll(async () => {
    cloud = await startLocalCloud({ handlers: defaultHandlers(), log: (event, fields = {}) => logs.push({ event, fields }) });
    await uploadConfig(cloud, 'one-group', base);
    await uploadConfig(cloud, 'three-groups', { ...base, round: { groups: 3 } });
    for (const id of ['one-group', 'three-groups']) {
      const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 120_000);
      expect(status.state, JSON.stringify(status.errors)).toBe('completed');
    }
  }, 180_000);
  afterAll(async () => {
    await cloud?.stop();
  });

  it('gives the global model of one group, to float32 rounding, and the same clients in its metrics', async () => {
    const [one, three] = await Promise.all([readGlobal(cloud, 'one-group', 1), readGlobal(cloud, 'three-groups', 1)]);
    let largest = 0;
    for (const [index, tensor] of one.entries()) {
      for (let i = 0; i < tensor.values.length; i++) {
        const scale = Math.max(1e-3, Math.abs(tensor.values[i]!));
        largest = Math.max(largest, Math.abs(tensor.values[i]! - three[index]!.values[i]!) / scale);
      }
    }
    expect(largest).toBeLessThan(1e-5);
    const metrics = async (id: string) => JSON.parse((await cloud.context.store.getText(keys.metrics(id)))!) as ExperimentMetrics;
    const [a, b] = await Promise.all([metrics('one-group'), metrics('three-groups')]);
    for (const round of [0, 1]) {
      expect(b.rounds[round]!.clients.map((client) => client.clientId).sort()).toEqual(a.rounds[round]!.clients.map((client) => client.clientId).sort());
      expect(b.rounds[round]!.clients).toHaveLength(7);
    }
  });

  it('records each group on its own: 3, 2 and 2 clients, each partial summing its accepted updates, every group closed once', async () => {
    const state = await readRoundState(cloud.context.store, 'three-groups', 1);
    expect(state).toMatchObject({ groups: 3, answered: 0, closed: { outcome: 'aggregated' } });
    expect([...state!.groupsClosed!].sort()).toEqual([0, 1, 2]);
    const partials = await Promise.all(
      [0, 1, 2].map(async (group) => decodeGroupPartial((await cloud.context.store.get(keys.groupPartial('three-groups', 1, group)))!, `group ${group}`)),
    );
    expect(partials.map((partial) => partial.count)).toEqual([3, 2, 2]);
    expect(partials.map((partial) => partial.verdicts.map((verdict) => verdict.clientId))).toEqual([
      ['client-000', 'client-003', 'client-006'],
      ['client-001', 'client-004'],
      ['client-002', 'client-005'],
    ]);
    const updates = logs.filter(({ event, fields }) => event === 'aggregate.outcome' && fields.type === 'update' && fields.experimentId === 'three-groups');
    expect(updates.every(({ fields }) => typeof fields.group === 'number')).toBe(true);
    const closes = logs.filter(({ event, fields }) => event === 'aggregate.outcome' && fields.type === 'group-closed' && fields.experimentId === 'three-groups');
    expect(closes.filter(({ fields }) => fields.outcome !== 'duplicate')).toHaveLength(6);
  });

  it('shows its progress as the clients its groups heard from', async () => {
    const seen: Progress[] = [];
    await watchExperiment(cloud.context.store, 'three-groups', { onProgress: (progress) => seen.push(progress), stallTimeoutMs: 5000, pollMs: 10 });
    expect(seen.find((progress) => progress.round === 1)).toMatchObject({ clientsDone: 7, clientsExpected: 7 });
  });
});
