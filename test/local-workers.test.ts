import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCloud, type LocalCloud } from '../local/cloud.js';
import type { HandledRecord } from './local-fixtures/barrier-train-handler.js';

const fixture = (name: string) => new URL(`./local-fixtures/${name}`, import.meta.url);
const noHandler = async () => {};

describe('train worker pool', () => {
  let cloud: LocalCloud;
  const logged: { event: string; fields?: Readonly<Record<string, unknown>> }[] = [];

  beforeAll(async () => {
    cloud = await startLocalCloud({
      uploadMnist: false,
      trainWorkers: 2,
      visibilityTimeoutSeconds: 1,
      pollIntervalMs: 20,
      handlers: { start: noHandler, aggregate: noHandler, timer: noHandler, train: { workerModule: fixture('barrier-train-handler.ts') } },
      log: (event, fields) => logged.push({ event, ...(fields ? { fields } : {}) }),
    });
  });

  afterAll(async () => {
    await cloud?.stop();
  });

  const handled = async (id: string): Promise<HandledRecord | undefined> => {
    const text = await cloud.context.store.getText(`done/${id}`);
    return text === undefined ? undefined : (JSON.parse(text) as HandledRecord);
  };

  it('runs a TypeScript handler module in worker threads, two batches at once', async () => {
    // Each handler waits until both messages have arrived: with one worker, or one at a time, neither would finish.
    await cloud.context.queues.train.send({ id: 'a', barrier: 2 });
    await cloud.context.queues.train.send({ id: 'b', barrier: 2 });
    await cloud.idle();

    const [a, b] = [await handled('a'), await handled('b')];
    expect(a?.isMainThread).toBe(false);
    expect(b?.isMainThread).toBe(false);
    expect(a?.threadId).not.toBe(b?.threadId);
    // Workers log through the parent's log, labelled.
    expect(logged.filter((entry) => entry.event === 'fixture.handled').map((entry) => entry.fields?.worker)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^flambda-train-\d+$/)]),
    );
  });

  it('retries a batch whose handler threw in a worker', async () => {
    await cloud.context.queues.train.send({ id: 'fails-once', failOnce: true });
    await cloud.idle();
    expect(await handled('fails-once')).toBeDefined();
    expect(logged.find((entry) => entry.event === 'local.sqs.handler-failed')?.fields?.error).toMatch(/fixture failure for fails-once/);
  });

  it('replaces a worker that dies and redelivers its batch', async () => {
    await cloud.context.queues.train.send({ id: 'crashes-once', crashOnce: true });
    await cloud.idle();
    expect(await handled('crashes-once')).toBeDefined();
    expect(logged.some((entry) => entry.event === 'local.train-worker.died')).toBe(true);
    expect(await cloud.deadLetterCounts()).toEqual({ train: 0, aggregate: 0, timer: 0 });
  });
});

describe('local cloud start-up and shutdown', () => {
  it('refuses a worker module without createTrainHandler, naming it', async () => {
    await expect(
      startLocalCloud({
        uploadMnist: false,
        trainWorkers: 1,
        handlers: { start: noHandler, aggregate: noHandler, timer: noHandler, train: { workerModule: fixture('no-factory.ts') } },
        log: () => {},
      }),
    ).rejects.toThrow(/no-factory\.ts does not export a function createTrainHandler/);
  });

  it('lets a process running under `node --import tsx` exit by itself after stop()', async () => {
    const script = fileURLToPath(fixture('start-train-stop.ts'));
    // No kill on a timer: a process kept alive by a leftover handle fails this test through vitest's test timeout.
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    const { handled } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { handled: HandledRecord | null };
    expect(handled?.isMainThread).toBe(false);
  });
});
