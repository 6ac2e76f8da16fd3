import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcess, envAsUserHasIt } from './helpers/cli-process.js';

/**
 * What `flambda run` prints into a log (stdout and stderr piped, as in CI): line progress, no bar frames, and each
 * library notice at most once, in a real subprocess with the environment a user has.
 */
let workspace: string;
const TFJS_BANNER = 'Hi, looks like you are running TensorFlow.js in Node.js';
const SDK_NOTICE = 'NodeVersionSupportWarning';
const OUR_NODE_LINE = /is past end of life; AWS SDK releases from January 2027 need Node >= 22/g;

beforeAll(async () => {
  workspace = await mkdtemp(path.join(os.tmpdir(), 'flambda-output-'));
});
afterAll(async () => {
  await rm(workspace, { recursive: true, force: true });
});

async function writeConfig(name: string, config: Record<string, unknown>): Promise<string> {
  const file = path.join(workspace, `${name}.json`);
  await writeFile(file, JSON.stringify(config));
  return file;
}

const count = (text: string, needle: string | RegExp) => (typeof needle === 'string' ? text.split(needle).length - 1 : [...text.matchAll(needle)].length);

describe('flambda run output in a log', () => {
  it('prints line progress and no banner or deprecation notice more than once', async () => {
    const config = await writeConfig('tiny', {
      name: 'tiny',
      clients: 3,
      sampling: { perRound: 2 },
      rounds: 2,
      samplesPerClient: 32,
      testSamples: 100,
      model: 'cnn-small',
      seed: 1,
    });
    const run = new CliProcess(['run', config, '--out', path.join(workspace, 'results'), '--id', 'tiny-1'], envAsUserHasIt());
    const { code } = await run.exited;
    const output = run.stdout + run.stderr;
    expect(code, output).toBe(0);

    expect(count(output, TFJS_BANNER)).toBe(0);
    expect(count(output, SDK_NOTICE)).toBe(0);
    expect(count(output, OUR_NODE_LINE)).toBe(Number(process.versions.node.split('.')[0]) < 22 ? 1 : 0);

    // the clients sampled for the round (2), not the federation (3)
    expect(run.stdout).toMatch(/^ {2}round 1\/2 · 2 clients sampled$/m);
    expect(run.stdout).toMatch(/^ {2}round 2\/2 · 2 clients sampled, last accuracy \d+\.\d\d %$/m);
    expect(output).not.toMatch(/\r|\u001b\[|[█░]/);
    expect(run.stdout).toContain('✔ tiny-1 completed');
    // a round of 2: the emulator stays on the main thread, where small rounds are faster (docs/scale.md)
    expect(run.stdout).toMatch(/embedded local cloud \(http:\/\/127\.0\.0\.1:\d+, \d+ training workers?, log: /);
  }, 600_000);

  it('on SIGINT stops the local cloud, says what became of the experiment and exits 130', async () => {
    const config = await writeConfig('long', { name: 'long', clients: 2, rounds: 200, samplesPerClient: 32, testSamples: 100, model: 'cnn-small' });
    const run = new CliProcess(['run', config, '--out', path.join(workspace, 'results'), '--id', 'long-1'], envAsUserHasIt());
    await run.waitFor(/round 1\/200/);
    run.kill('SIGINT');
    const { code } = await run.exited;
    expect(code).toBe(130);
    expect(run.stderr).toContain('SIGINT received, stopping');
    expect(run.stderr).toContain('long-1 was discarded with it');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  }, 600_000);
});

describe("tfjs's advice to install tfjs-node", () => {
  // tfjs's cpu backend prints it on first use in every process and worker thread; we report the backend ourselves.
  const script = (withEngine: boolean) =>
    `${withEngine ? "await import('./shared/engine/backend.ts');" : ''}` +
    "const tf = await import('@tensorflow/tfjs'); await tf.setBackend('cpu'); tf.tensor([1, 2]).dataSync();";
  const stderrOf = async (withEngine: boolean) =>
    (await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(withEngine)], { env: envAsUserHasIt() })).stderr;

  it('is not printed once our engine is loaded, and would be without it', async () => {
    expect(count(await stderrOf(true), TFJS_BANNER)).toBe(0);
    expect(count(await stderrOf(false), TFJS_BANNER)).toBe(1);
  });
});
