import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { S3Event, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGE_MANIFEST, IMAGE_PACKAGES, imagePinMismatches } from '../infra/docker/bundle-trainer.js';
import { WASM_BINARIES } from '../infra/lib/bundle-options.js';
import { REPO_ROOT } from '../infra/lib/paths.js';
import type { FunctionName } from '../infra/lib/bucket-access.js';
import { createTestApp } from '../infra/lib/synth.js';
import { validationFindings } from '../infra/lib/validation-report.js';
import { createS3Client, createSqsClient } from '../shared/cloud/clients.js';
import { createBucketIfMissing, S3ObjectStore } from '../shared/cloud/s3-store.js';
import { createQueue, SqsMessageQueue } from '../shared/cloud/sqs-queue.js';
import { MNIST_FILES, readMnistFile, type MnistFile } from '../shared/data/mnist.js';
import { keys } from '../shared/protocol/keys.js';
import type { TimerMessage } from '../shared/protocol/messages.js';
import { updateReportSchema } from '../shared/protocol/records.js';
import { s3EventFor, sqsEventFor } from '../local/events.js';

/**
 * The one full synth of the suite, as `npm run synth` runs it: esbuild bundles, aws-cdk-lib's template validation
 * and cdk-nag. Then the zip bundles themselves run, each in a fresh Node process outside the repository (so nothing
 * resolves from our node_modules), against S3 + SQS emulated by fauxqs: start → train → aggregate → timer.
 */
const LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1000 * 1000;
/**
 * The Node binary the bundles run on: this one, or FLAMBDA_BUNDLE_NODE to try Lambda's major, e.g.
 * FLAMBDA_BUNDLE_NODE="$(npx -y -p node@24 which node)" npx vitest run test/infra-bundle.test.ts
 */
const BUNDLE_NODE = process.env.FLAMBDA_BUNDLE_NODE || process.execPath;
const execFileAsync = promisify(execFile);

const cleanup: string[] = [];
let outdir: string;
let synthError: unknown;
const assetDirs = {} as Record<FunctionName, string>;

function directoryBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce(
    (total, entry) => total + (entry.isDirectory() ? directoryBytes(path.join(dir, entry.name)) : statSync(path.join(dir, entry.name)).size),
    0,
  );
}

beforeAll(() => {
  const app = createTestApp({ bundle: true, checks: true });
  outdir = app.outdir;
  cleanup.push(outdir);
  try {
    app.app.synth();
  } catch (error) {
    synthError = error;
  }
  const template = JSON.parse(readFileSync(path.join(outdir, `${app.stack.stackName}.template.json`), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: { Code?: { S3Key?: string } } }>;
  };
  const prefixes: Record<FunctionName, string> = { start: 'StartFunction', train: 'TrainZipFunction', aggregate: 'AggregateFunction', timer: 'TimerFunction' };
  for (const [name, prefix] of Object.entries(prefixes) as [FunctionName, string][]) {
    const [id] = Object.keys(template.Resources).filter((key) => key.startsWith(prefix) && template.Resources[key]!.Type === 'AWS::Lambda::Function');
    const s3Key = template.Resources[id!]!.Properties.Code!.S3Key!;
    assetDirs[name] = path.join(outdir, `asset.${s3Key.replace(/\.zip$/, '')}`);
  }
}, 300_000);

afterAll(() => {
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
});

describe('full synth (bundling, template validation, cdk-nag)', () => {
  it('synthesizes with zero unacknowledged cdk-nag findings', () => {
    expect(synthError).toBeUndefined();
    expect(validationFindings(outdir)).toEqual([]);
  });

  it('bundles each tfjs function with the wasm binaries, far under the 250 MB Lambda limit', () => {
    for (const name of ['start', 'train', 'aggregate'] as const) {
      const files = readdirSync(assetDirs[name]).sort();
      expect(files).toEqual(['index.mjs', 'index.mjs.map', ...WASM_BINARIES].sort());
      const bytes = directoryBytes(assetDirs[name]);
      console.info(`[infra-bundle] ${name}: ${(bytes / 1e6).toFixed(1)} MB unzipped`);
      expect(bytes).toBeLessThan(LAMBDA_UNZIPPED_LIMIT_BYTES / 10);
    }
    expect(readdirSync(assetDirs.timer).sort()).toEqual(['index.mjs', 'index.mjs.map']);
  });

  it('keeps the emulator, the browser driver, CDK and tfjs-node out of every bundle', () => {
    for (const name of Object.keys(assetDirs) as FunctionName[]) {
      const { sources } = JSON.parse(readFileSync(path.join(assetDirs[name], 'index.mjs.map'), 'utf8')) as { sources: string[] };
      const packages = new Set(sources.map((source) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source)?.[1]).filter(Boolean));
      for (const forbidden of ['fauxqs', 'playwright-core', 'aws-cdk-lib', 'constructs', '@tensorflow/tfjs-node']) {
        expect(packages.has(forbidden), `${name} bundles ${forbidden}`).toBe(false);
      }
      expect(sources.some((source) => source.endsWith(`functions/${name}.ts`))).toBe(true);
      // start only forwards the upload to the aggregate queue (the aggregator partitions and builds model 0)
      if (name !== 'timer' && name !== 'start') expect(packages.has('@tensorflow/tfjs-backend-wasm')).toBe(true);
    }
  });
});

describe('the container image trainer bundle (built inside `docker build`, which cannot run here)', () => {
  it('leaves every @tensorflow package to the image, whose package.json pins package-lock.json\'s versions', async () => {
    const dist = mkdtempSync(path.join(os.tmpdir(), 'flambda-image-bundle-'));
    cleanup.push(dist);
    await execFileAsync(process.execPath, ['--import', 'tsx', 'infra/docker/bundle-trainer.ts', dist], { cwd: REPO_ROOT });
    const code = readFileSync(path.join(dist, 'index.mjs'), 'utf8');
    // Minified ESM: `import{…}from"x"`, `import"x"`, `import("x")` (error texts quoting a package have a space).
    const imported = new Set([...code.matchAll(/(?:\bfrom|\bimport\(?)"([^"]+)"/g)].map((match) => match[1]!));
    const packages = [...imported].filter((specifier) => !specifier.startsWith('node:'));
    expect(packages.sort()).toEqual(['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm']);
    // The bundle brings no package.json of its own: the image's (COPY'd before it) must survive.
    expect(readdirSync(dist).sort()).toEqual(['index.mjs', 'index.mjs.map']);
    const lock = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
    const manifest = JSON.parse(readFileSync(path.join(REPO_ROOT, IMAGE_MANIFEST), 'utf8')) as { type: string; dependencies: Record<string, string> };
    expect(manifest.type).toBe('module');
    expect(manifest.dependencies).toEqual(Object.fromEntries(IMAGE_PACKAGES.map((name) => [name, lock.packages[`node_modules/${name}`]!.version])));
    expect(imagePinMismatches(lock, manifest)).toEqual([]);
    expect(imagePinMismatches(lock, { dependencies: { ...manifest.dependencies, '@tensorflow/tfjs-node': '4.21.0' } })).toEqual([
      `@tensorflow/tfjs-node: ${IMAGE_MANIFEST} pins 4.21.0, package-lock.json has ${lock.packages['node_modules/@tensorflow/tfjs-node']!.version}`,
    ]);
  });
});

describe('the bundles run as Lambda would run them', () => {
  const region = 'us-east-1';
  const bucket = 'flambda-bundle-test';
  const experimentId = 'bundle-e2e';
  let server: Awaited<ReturnType<typeof startFauxqs>>;
  let store: S3ObjectStore;
  let queues: Record<'train' | 'aggregate' | 'timer', { queue: SqsMessageQueue; arn: string; url: string }>;
  let workDir: string;
  const nodeVersions = new Set<string>();

  /** Runs `handler(event)` from a bundle in a fresh process, with the variables the stack sets (and cwd = task root). */
  async function invoke<T>(name: FunctionName, event: S3Event | SQSEvent): Promise<T> {
    const eventFile = path.join(workDir, `${name}-${Date.now()}.json`);
    writeFileSync(eventFile, JSON.stringify(event));
    const script =
      "const { handler } = await import(process.argv[1]);" +
      "const result = await handler(JSON.parse((await import('node:fs')).readFileSync(process.argv[2], 'utf8')));" +
      "process.stdout.write('\\n@@result ' + JSON.stringify(result ?? null) + '\\n@@node ' + process.version + '\\n');";
    const { stdout } = await execFileAsync(
      BUNDLE_NODE,
      ['--input-type=module', '--enable-source-maps', '-e', script, path.join(assetDirs[name], 'index.mjs'), eventFile],
      {
        cwd: assetDirs[name],
        maxBuffer: 64 * 1024 * 1024,
        env: {
          PATH: process.env.PATH ?? '',
          AWS_REGION: region,
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
          AWS_ENDPOINT_URL: server.address,
          FLAMBDA_BUCKET: bucket,
          FLAMBDA_TRAIN_QUEUE_URL: queues.train.url,
          FLAMBDA_AGGREGATE_QUEUE_URL: queues.aggregate.url,
          FLAMBDA_TIMER_QUEUE_URL: queues.timer.url,
          ...(name === 'timer' ? {} : { FLAMBDA_BACKEND: 'wasm', FLAMBDA_WASM_DIR: assetDirs[name] }),
        },
      },
    );
    const line = stdout.split('\n').find((text) => text.startsWith('@@result '));
    nodeVersions.add(stdout.split('\n').find((text) => text.startsWith('@@node '))?.slice('@@node '.length) ?? 'unknown');
    if (!line) throw new Error(`${name} printed no result:\n${stdout}`);
    return JSON.parse(line.slice('@@result '.length)) as T;
  }

  async function drain(role: keyof typeof queues, expected: number) {
    const received = [];
    while (received.length < expected) {
      const batch = await queues[role].queue.receive({ maxMessages: 10, waitTimeSeconds: 1, visibilityTimeoutSeconds: 300 });
      if (batch.length === 0) break;
      received.push(...batch);
    }
    return received;
  }

  beforeAll(async () => {
    expect(synthError).toBeUndefined();
    workDir = mkdtempSync(path.join(os.tmpdir(), 'flambda-bundle-run-'));
    cleanup.push(workDir);
    server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false, defaultRegion: region });
    const s3 = createS3Client({ endpoint: server.address, region });
    const sqs = createSqsClient({ endpoint: server.address, region });
    await createBucketIfMissing(s3, bucket);
    store = new S3ObjectStore(s3, bucket);
    const make = async (name: string) => {
      const { url, arn } = await createQueue(sqs, { name });
      return { url, arn, queue: new SqsMessageQueue(sqs, url) };
    };
    queues = { train: await make('flambda-train'), aggregate: await make('flambda-aggregate.fifo'), timer: await make('flambda-timer') };
    for (const file of Object.keys(MNIST_FILES) as MnistFile[]) await store.put(keys.mnist(file), await readMnistFile(file));
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    console.info(`[infra-bundle] the bundles ran on Node ${[...nodeVersions].join(', ')}`);
  });

  it('start → train → aggregate completes an experiment on the wasm backend loaded from the task root', async () => {
    const config = { name: 'bundle', clients: 2, rounds: 1, samplesPerClient: 64, testSamples: 200, model: 'cnn-small', seed: 7 };
    const configKey = keys.config(experimentId);
    await store.put(configKey, JSON.stringify(config), 'application/json');
    const created = {
      eventName: 'ObjectCreated:Put' as const,
      bucket,
      key: configKey,
      size: JSON.stringify(config).length,
      eTag: (await store.head(configKey))!.eTag,
      sourceIp: '127.0.0.1',
      requestId: 'bundle-test',
      time: new Date(),
      sequence: 1,
    };
    await invoke('start', s3EventFor(created, region, 'start'));
    // The start function forwards the upload to the experiment's FIFO group, where the aggregator starts it.
    const [start] = await drain('aggregate', 1);
    expect(JSON.parse(start!.body)).toMatchObject({ type: 'start', experimentId });
    expect((await invoke<SQSBatchResponse>('aggregate', sqsEventFor([start!], queues.aggregate.arn, region))).batchItemFailures).toEqual([]);
    await queues.aggregate.queue.deleteMessages([start!.receiptHandle]);
    expect(JSON.parse((await store.getText(keys.status(experimentId)))!)).toMatchObject({ state: 'running', round: 1 });

    const trainMessages = await drain('train', 2);
    expect(trainMessages).toHaveLength(2);
    const trained = await invoke<SQSBatchResponse>('train', sqsEventFor(trainMessages, queues.train.arn, region));
    expect(trained.batchItemFailures).toEqual([]);
    for (const clientId of ['client-000', 'client-001']) {
      const report = updateReportSchema.parse(JSON.parse((await store.getText(keys.updateReport(experimentId, 1, clientId)))!));
      expect(report.backend.backend).toBe('wasm');
      expect(report.backend.details.binary).toBe(path.join(assetDirs.train, 'tfjs-backend-wasm-simd.wasm'));
    }

    // FIFO: the group's next message is only delivered once the previous one is deleted, as Lambda does on success.
    for (let processed = 0; processed < 2; processed++) {
      const [update] = await drain('aggregate', 1);
      expect(update, `aggregate message ${processed + 1}`).toBeDefined();
      const aggregated = await invoke<SQSBatchResponse>('aggregate', sqsEventFor([update!], queues.aggregate.arn, region));
      expect(aggregated.batchItemFailures).toEqual([]);
      await queues.aggregate.queue.deleteMessages([update!.receiptHandle]);
    }
    const summary = JSON.parse((await store.getText(keys.summary(experimentId)))!) as { state: string; finalAccuracy: number; backend: { backend: string } };
    expect(summary.state).toBe('completed');
    expect(summary.backend.backend).toBe('wasm');
    expect(summary.finalAccuracy).toBeGreaterThanOrEqual(0);
    expect(JSON.parse((await store.getText(keys.status(experimentId)))!)).toMatchObject({ state: 'completed' });

    // A due deadline: the timer forwards it to the FIFO aggregate queue (the real round-1 timer is 15 minutes out).
    const due: TimerMessage = { type: 'deadline', experimentId, round: 1, dueAt: new Date(Date.now() - 1000).toISOString(), attempt: 0 };
    await queues.timer.queue.send(due);
    const deadlines = await drain('timer', 1);
    expect(deadlines.map((message) => JSON.parse(message.body) as unknown)).toEqual([due]);
    const timed = await invoke<SQSBatchResponse>('timer', sqsEventFor(deadlines, queues.timer.arn, region));
    expect(timed.batchItemFailures).toEqual([]);
    const forwarded = await drain('aggregate', 1);
    expect(forwarded.map((message) => JSON.parse(message.body) as unknown)).toEqual([{ type: 'deadline', experimentId, round: 1, dueAt: due.dueAt, attempt: 0 }]);
    expect(forwarded[0]!.attributes.MessageGroupId).toBe(experimentId);
  });
});
