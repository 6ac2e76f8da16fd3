import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStackEndpoint, probeLocalStack, type LocalStackProbe } from '../infra/lib/localstack.js';
import { STACK_OUTPUTS } from '../infra/lib/outputs.js';
import { REPO_ROOT } from '../infra/lib/paths.js';
import { DEFAULT_STACK_NAME } from '../infra/lib/settings.js';
import { createCloudFormationClient, createS3Client, createSqsClient } from '../shared/cloud/clients.js';
import { readStackOutputs, requireStackOutput } from '../shared/cloud/cloudformation.js';
import { S3ObjectStore } from '../shared/cloud/s3-store.js';
import { SqsMessageQueue } from '../shared/cloud/sqs-queue.js';
import { keys } from '../shared/protocol/keys.js';

/**
 * The stack on LocalStack, end to end: `npm run deploy:local` (cdklocal), then `flambda run --target localstack`
 * with a small config, then the results and the dead-letter queues through the S3/SQS APIs. Runs only when
 * LOCALSTACK_ENDPOINT (or AWS_ENDPOINT_URL) points at a LocalStack whose /_localstack/health answers; it needs
 * LocalStack's Lambda (Docker) and takes minutes. FLAMBDA_LOCALSTACK_DEPLOY=skip uses an already deployed stack.
 */
const configured = process.env.LOCALSTACK_ENDPOINT ?? process.env.AWS_ENDPOINT_URL;
const probe: LocalStackProbe = configured
  ? await probeLocalStack(localStackEndpoint())
  : { ok: false, endpoint: '', reason: 'neither LOCALSTACK_ENDPOINT nor AWS_ENDPOINT_URL is set' };
const skipReason = probe.ok ? undefined : probe.reason;
if (skipReason) console.info(`[infra-localstack] skipped: ${skipReason}`);

const MINUTE = 60_000;

describe.skipIf(!probe.ok)(`on LocalStack at ${probe.endpoint || 'LOCALSTACK_ENDPOINT'}`, () => {
  const endpoint = probe.endpoint;
  const stackName = DEFAULT_STACK_NAME;
  let outDir = '';
  beforeAll(() => {
    outDir = mkdtempSync(path.join(os.tmpdir(), 'flambda-localstack-'));
  });
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it('deploys the stack with cdklocal and exports every output', () => {
    if (process.env.FLAMBDA_LOCALSTACK_DEPLOY !== 'skip') {
      const deploy = spawnSync('npx', ['--no-install', 'tsx', 'infra/bin/localstack.ts', 'deploy'], {
        cwd: REPO_ROOT,
        env: { ...process.env, LOCALSTACK_ENDPOINT: endpoint },
        stdio: 'inherit',
        timeout: 25 * MINUTE,
      });
      expect(deploy.status, 'npm run deploy:local').toBe(0);
    }
    return readStackOutputs(createCloudFormationClient({ endpoint }), stackName).then((stack) => {
      for (const output of Object.values(STACK_OUTPUTS)) expect(requireStackOutput(stack, output)).not.toBe('');
    });
  }, 30 * MINUTE);

  it('runs an experiment to completion with `flambda run --target localstack`, losing no message', async () => {
    const experimentId = `localstack-${Date.now()}`;
    const run = spawnSync(
      process.execPath,
      ['bin/flambda.js', 'run', 'examples/quick.json', '--target', 'localstack', '--endpoint', endpoint, '--stack', stackName,
        '--id', experimentId, '--out', outDir, '--stall-timeout', '900'],
      { cwd: REPO_ROOT, env: { ...process.env, AWS_ENDPOINT_URL: endpoint }, stdio: 'inherit', timeout: 40 * MINUTE },
    );
    expect(run.status, 'flambda run exit code').toBe(0);

    const stack = await readStackOutputs(createCloudFormationClient({ endpoint }), stackName);
    const store = new S3ObjectStore(createS3Client({ endpoint }), requireStackOutput(stack, STACK_OUTPUTS.bucketName));
    const summary = JSON.parse((await store.getText(keys.summary(experimentId))) ?? 'null') as { state: string; backend: { backend: string } } | null;
    expect(summary?.state).toBe('completed');
    expect(summary?.backend.backend).toBe('wasm');

    const sqs = createSqsClient({ endpoint });
    for (const output of [STACK_OUTPUTS.trainDeadLetterQueueUrl, STACK_OUTPUTS.aggregateDeadLetterQueueUrl, STACK_OUTPUTS.timerDeadLetterQueueUrl, STACK_OUTPUTS.startFailureQueueUrl]) {
      const counts = await new SqsMessageQueue(sqs, requireStackOutput(stack, output)).counts();
      expect(counts.visible + counts.inFlight + counts.delayed, output).toBe(0);
    }
  }, 45 * MINUTE);
});

describe.runIf(!probe.ok)('LocalStack integration', () => {
  it.skip(`skipped: ${skipReason} (start LocalStack and set LOCALSTACK_ENDPOINT=http://127.0.0.1:4566 to run it)`, () => {});
});
