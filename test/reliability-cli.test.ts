import { execFile } from 'node:child_process';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadExperiment } from '../cli/results.js';
import { startLocalCloud, type LocalCloud } from '../local/cloud.js';
import { defaultHandlers } from '../local/default-handlers.js';
import { keys } from '../shared/protocol/keys.js';
import { uploadConfig, waitForStatus } from './helpers/pipeline.js';

const execute = promisify(execFile);

/** `flambda …` as a user runs it; resolves with the exit code and output instead of throwing. */
async function flambda(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return execute(process.execPath, ['bin/flambda.js', ...args], {
    env: { ...process.env, CI: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    maxBuffer: 16 * 1024 * 1024,
    timeout: 110_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? -1, stdout: error.stdout ?? '', stderr: error.stderr ?? '' }),
  );
}

let cloud: LocalCloud;
let configFile: string;

beforeAll(async () => {
  cloud = await startLocalCloud({ handlers: defaultHandlers(), trainWorkers: 1, log: () => {} });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flambda-rel-cli-'));
  configFile = path.join(dir, 'tiny.json');
  await writeFile(configFile, JSON.stringify({ name: 'tiny', clients: 2, rounds: 1, model: 'mlp', samplesPerClient: 20, testSamples: 50 }));
});
afterAll(async () => {
  await cloud?.stop();
});

describe('issue 11: the CLI', () => {
  it('F10: downloads results only inside the results folder, and skips per-client files', async () => {
    const id = 'download';
    const store = cloud.context.store;
    await store.put(keys.status(id), '{}');
    await store.put(keys.clientControl(id, 'client-000'), new Uint8Array(8));
    await store.put(`experiments/${id}/../../escaped.txt`, 'outside');
    await store.put(`experiments/${id}/rounds/0001/../../../../also-escaped.txt`, 'outside');
    const out = path.join(await mkdtemp(path.join(os.tmpdir(), 'flambda-dl-')), 'results');
    const folder = await downloadExperiment(store, id, out);
    expect(await readdir(path.dirname(out))).toEqual(['results']);
    expect(await readdir(out)).toEqual([id]);
    expect((await readdir(folder, { recursive: true })).sort()).toEqual(['status.json']);
  });

  it('F10: refuses an --id that no experiment key can hold, before starting anything', async () => {
    const result = await flambda(['run', configFile, '--id', '../escape', '--stall-timeout', '20']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--id/);
    expect(result.stderr).toMatch(/A–Z|letters/);
  });

  it('F7: refuses an id that exists, saying how to restart a failed experiment; --restart runs it again', async () => {
    const id = 'restart-me';
    await uploadConfig(cloud, id, { clients: 0 } as never);
    await waitForStatus(cloud, id, (s) => s.state === 'failed');
    const out = await mkdtemp(path.join(os.tmpdir(), 'flambda-restart-'));
    const target = ['--endpoint', cloud.endpoint, '--out', out, '--id', id];

    const refused = await flambda(['run', configFile, ...target]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/restart-me already exists .*failed/);
    expect(refused.stderr).toMatch(/--restart/);

    const restarted = await flambda(['run', configFile, ...target, '--restart']);
    expect(restarted.stdout + restarted.stderr).toMatch(/✔ restart-me completed/);
    expect(restarted.code).toBe(0);
  });

  it('F7: --restart refuses an experiment that is not failed', async () => {
    const id = 'running-or-done';
    await uploadConfig(cloud, id, { clients: 2, rounds: 1, model: 'mlp', samplesPerClient: 20, testSamples: 50 });
    await waitForStatus(cloud, id, (s) => s.state === 'completed', 60_000);
    const result = await flambda(['run', configFile, '--endpoint', cloud.endpoint, '--id', id, '--restart']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/completed/);
  });
});
