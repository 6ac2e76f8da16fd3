import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, createSqsClient } from '../shared/cloud/clients.js';
import { S3ObjectStore } from '../shared/cloud/s3-store.js';
import { awsCli, awsCliMissing, awsCliText } from './helpers/aws-clients.js';
import { CliProcess, envAsUserHasIt } from './helpers/cli-process.js';

/** `flambda dev` as its own process: what it prints works when pasted into clients, and signals stop it cleanly. */
let workspace: string;

beforeAll(async () => {
  workspace = await mkdtemp(path.join(os.tmpdir(), 'flambda-dev-'));
});
afterAll(async () => {
  await rm(workspace, { recursive: true, force: true });
});

describe('flambda dev', () => {
  it('exits at once on SIGTERM while it is still loading, with the conventional code', async () => {
    const dev = new CliProcess(['dev', '--port', '0'], envAsUserHasIt());
    // bin/flambda.js renames the process right after installing its handlers: from then on a signal is ours.
    const cmdline = `/proc/${dev.child.pid}/cmdline`;
    while (!(await readFile(cmdline, 'utf8').catch(() => '')).startsWith('flambda dev')) await sleep(20);
    dev.kill('SIGTERM');
    const { code, signal } = await dev.exited;
    expect({ code, signal }).toEqual({ code: 143, signal: null });
    expect(dev.stdout).not.toContain('listening');
  });

  it('prints queue URLs that clients accept, starts experiments from an S3 upload, and stops cleanly on SIGINT', async () => {
    const pidFile = path.join(workspace, 'dev.pid');
    const dev = new CliProcess(['dev', '--port', '0', '--workers', '1', '--pid-file', pidFile], envAsUserHasIt());
    try {
      const [, endpoint, pid] = await dev.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+) \(.*pid (\d+)\)/);
      await dev.waitFor(/kill -INT \d+/);
      expect(Number(pid)).toBe(dev.child.pid);
      expect((await readFile(pidFile, 'utf8')).trim()).toBe(String(dev.child.pid));
      const printed = Object.fromEntries([...dev.stdout.matchAll(/^ {2}(\w+) +(http:\/\/\S+)$/gm)].map((match) => [match[1]!, match[2]!]));
      expect(Object.keys(printed).sort()).toEqual(['aggregate', 'aggregateDeadLetter', 'timer', 'timerDeadLetter', 'train', 'trainDeadLetter']);
      expect(printed.train).toBe(`${endpoint}/000000000000/flambda-train`);

      // The SDK v3 (JSON protocol) takes the printed URL as it is.
      const sqs = createSqsClient({ endpoint: endpoint! });
      const attributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: printed.aggregate, AttributeNames: ['FifoQueue'] }));
      expect(attributes.Attributes).toEqual({ FifoQueue: 'true' });
      sqs.destroy();

      const config = { name: 'from the aws cli', clients: 2, rounds: 1, samplesPerClient: 64, testSamples: 200, model: 'cnn-small', seed: 3 };
      const configFile = path.join(workspace, 'config.json');
      await writeFile(configFile, JSON.stringify(config));
      const store = new S3ObjectStore(createS3Client({ endpoint: endpoint! }), 'flambda');
      if (awsCliMissing) {
        console.warn(`[cli-dev] skipped the AWS CLI half: ${awsCliMissing}`);
        await store.put('experiments/cli-1/config.json', JSON.stringify(config), 'application/json');
      } else {
        // Pasted from the banner: the Query-protocol CLI with the printed URL, then the upload that starts a run.
        const queue = (await awsCli(endpoint!, ['sqs', 'get-queue-attributes', '--queue-url', printed.trainDeadLetter!, '--attribute-names', 'All'])) as {
          Attributes: Record<string, string>;
        };
        expect(queue.Attributes).toMatchObject({ QueueArn: 'arn:aws:sqs:us-east-1:000000000000:flambda-train-dlq', ApproximateNumberOfMessages: '0' });
        expect(await awsCliText(endpoint!, ['s3', 'cp', configFile, 's3://flambda/experiments/cli-1/config.json', '--no-progress'])).toContain(
          'upload:',
        );
      }
      let status: { state?: string; errors?: string[] } = {};
      for (let polls = 0; polls < 600 && status.state !== 'completed' && status.state !== 'failed'; polls++) {
        await sleep(500);
        status = JSON.parse((await store.getText('experiments/cli-1/status.json')) ?? '{}') as typeof status;
      }
      expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed' });

      dev.kill('SIGINT');
      const { code } = await dev.exited;
      expect(code).toBe(130);
      expect(dev.stdout).toContain('flambda dev: stopped');
      expect(dev.stderr).toContain('SIGINT received, stopping');
      expect(existsSync(pidFile)).toBe(false);
    } finally {
      dev.kill('SIGKILL');
    }
  }, 600_000);
});
