import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { startLocalCloud, type LocalCloud } from '../local/cloud.js';
import { CliProcess, envAsUserHasIt } from './helpers/cli-process.js';

const noop = async () => {};

/**
 * A client on another thread asks the emulator for an object while this thread is blocked (Atomics.wait, up to
 * `blockMs`): answered only if the emulator does not need this thread to answer.
 */
async function answeredWhileMainThreadBlocked(cloud: LocalCloud, blockMs: number): Promise<boolean> {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const client = new Worker(
    `const { workerData } = require('node:worker_threads');
     const http = require('node:http');
     const flag = new Int32Array(workerData.flag);
     http.get(workerData.url, (response) => {
       response.resume();
       Atomics.store(flag, 0, response.statusCode);
       Atomics.notify(flag, 0);
     }).on('error', () => { Atomics.store(flag, 0, -1); Atomics.notify(flag, 0); });`,
    { eval: true, workerData: { flag: flag.buffer, url: `${cloud.endpoint}/${cloud.bucket}/probe.json` } },
  );
  try {
    await new Promise((resolve) => client.once('online', resolve));
    Atomics.wait(flag, 0, 0, blockMs);
    const whileBlocked = Atomics.load(flag, 0);
    // Let the request finish either way, so that nothing is left in flight when the cloud stops.
    while (Atomics.load(flag, 0) === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(Atomics.load(flag, 0)).toBe(200);
    return whileBlocked === 200;
  } finally {
    await client.terminate();
  }
}

describe('the emulator thread', () => {
  let cloud: LocalCloud | undefined;
  afterEach(async () => {
    await cloud?.stop();
    cloud = undefined;
  });

  it('answers S3 requests while the main thread (aggregator, event sources) is busy, and does not when kept on it', async () => {
    const answered: Record<string, boolean> = {};
    for (const emulatorThread of [true, false]) {
      cloud = await startLocalCloud({ emulatorThread, uploadMnist: false, log: () => {}, handlers: { start: noop, train: noop, aggregate: noop, timer: noop } });
      await cloud.context.store.put('probe.json', '{}');
      answered[String(emulatorThread)] = await answeredWhileMainThreadBlocked(cloud, 3000);
      await cloud.stop();
      cloud = undefined;
    }
    expect(answered).toEqual({ true: true, false: false });
  });

  it('delivers every object write from its thread to the start trigger before idle() can return', async () => {
    const started: string[] = [];
    cloud = await startLocalCloud({
      emulatorThread: true,
      uploadMnist: false,
      log: () => {},
      handlers: { start: async (event) => void started.push(event.Records[0]!.s3.object.key), train: noop, aggregate: noop, timer: noop },
    });
    for (let index = 0; index < 20; index++) {
      await cloud.context.store.put(`experiments/e${index}/config.json`, '{}');
      // Asked at once after each acknowledged write: its notification may still be crossing from the emulator's thread.
      await cloud.idle();
      expect(started).toHaveLength(index + 1);
    }
  });
});

describe('flambda run on the local target', () => {
  it('gives the emulator a thread of its own for a round of 100 clients, and the round completes with every update', async () => {
    const workspace = await mkdtemp(path.join(os.tmpdir(), 'flambda-wide-'));
    try {
      const config = path.join(workspace, 'wide.json');
      await writeFile(config, JSON.stringify({ name: 'wide', clients: 100, rounds: 1, samplesPerClient: 8, testSamples: 100, model: 'cnn-tiny', seed: 3 }));
      const run = new CliProcess(['run', config, '--out', path.join(workspace, 'results'), '--id', 'wide-1'], envAsUserHasIt());
      const { code } = await run.exited;
      expect(code, run.stdout + run.stderr).toBe(0);
      // 100 clients a round: several a trainer invocation on any core count up to 5 workers (local/trainer-pool.ts)
      expect(run.stdout).toMatch(/embedded local cloud \(http:\/\/127\.0\.0\.1:\d+, \d+ training workers?(, up to \d+ clients a trainer invocation)?, emulator on a thread of its own, log: /);
      const metrics = JSON.parse(await readFile(path.join(workspace, 'results', 'wide-1', 'metrics.json'), 'utf8')) as { rounds: { clients: unknown[] }[] };
      expect(metrics.rounds.map((round) => round.clients.length)).toEqual([100]);
    } finally {
      await rm(workspace, { recursive: true, force: true });
    }
  }, 600_000);
});
