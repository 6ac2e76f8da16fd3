import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGE_NODE_TARGET, ZIP_NODE_TARGET } from '../infra/lib/bundle-options.js';
import { OTHER_FUNCTIONS_HEADROOM } from '../infra/lib/concurrency.js';
import { LOCALSTACK_MIN_VERSION_RUNTIMES, MIN_LOCALSTACK_VERSION } from '../infra/lib/localstack.js';
import { logGroupNames, MAX_STACK_NAME_LENGTH, queueNames, SQS_QUEUE_NAME_LIMIT } from '../infra/lib/names.js';
import { LOG_GROUP_OUTPUTS, STACK_OUTPUTS } from '../infra/lib/outputs.js';
import { REPO_ROOT } from '../infra/lib/paths.js';
import { MAX_RECEIVE_COUNTS, SettingsError, settingsFromContext } from '../infra/lib/settings.js';
import { RESOURCE_NAMES, type QueueRole } from '../shared/cloud/resources.js';
import { asList, logicalIds, only, resourceText, statementsOf, templateSynth, type Resources } from './helpers/template.js';

/**
 * What a first real `cdk deploy` would trip on (issue 19), one template check per fix. The concurrency check, the
 * LocalStack probe and `flambda logs` have their own tests (test/deploy-tools.test.ts, test/cli-logs.test.ts).
 */
process.env.CDK_VALIDATION = 'false';

const { synth, cleanup } = templateSynth();
afterAll(cleanup);

const lookup = (values: Record<string, unknown>) => (key: string) => values[key];
const queuesByName = (resources: Resources) =>
  new Map(logicalIds(resources, 'AWS::SQS::Queue', '').map((id) => [resources[id]!.Properties!.QueueName as string, { id, properties: resources[id]!.Properties! }]));

describe('1. stack names whose queue names fit SQS', () => {
  it('caps -c stackName at 80 − the longest queue suffix, and synthesizes the longest allowed name within the limit', () => {
    expect(MAX_STACK_NAME_LENGTH).toBe(SQS_QUEUE_NAME_LIMIT - '-aggregate-dlq.fifo'.length);
    const longest = `F${'x'.repeat(MAX_STACK_NAME_LENGTH - 1)}`;
    expect(() => settingsFromContext(lookup({ stackName: `${longest}x` }))).toThrow(/-c stackName: at most 61 characters/);
    expect(() => settingsFromContext(lookup({ stackName: 'A'.repeat(128) }))).toThrow(SettingsError);

    const { resources } = synth({ stackName: longest });
    const names = [...queuesByName(resources).keys()];
    expect(names).toHaveLength(7);
    expect(Math.max(...names.map((name) => name.length))).toBe(SQS_QUEUE_NAME_LIMIT);
    expect(names).toContain(`${longest.toLowerCase()}-aggregate-dlq.fifo`);
  });

  it("refuses names that would reuse the default stack's queue names", () => {
    for (const stackName of ['flambda', 'FLAMBDA', 'fLambda']) {
      expect(() => settingsFromContext(lookup({ stackName })), stackName).toThrow(/reuse the default stack's queue names \(flambda-train/);
    }
    expect(settingsFromContext(lookup({ stackName: 'Flambda' })).stackName).toBe('Flambda');
    expect(queueNames('Flambda').train).toBe(RESOURCE_NAMES.trainQueue);
    expect(queueNames('FlambdaTest').train).toBe('flambdatest-train');
  });
});

describe('2. the train event source is the only concurrency cap', () => {
  it('deploys -c trainConcurrency as the maximum concurrency that flambda doctor and npm run deploy check, -c trainBatchSize as its batch', () => {
    const { resources } = synth({ trainConcurrency: '8', trainBatchSize: '10' });
    const train = queuesByName(resources).get(RESOURCE_NAMES.trainQueue)!.id;
    const mappings = logicalIds(resources, 'AWS::Lambda::EventSourceMapping', '').map((id) => resources[id]!.Properties!);
    const trainMapping = mappings.find((mapping) => (mapping.EventSourceArn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0] === train)!;
    expect(trainMapping.ScalingConfig).toEqual({ MaximumConcurrency: 8 });
    expect(trainMapping.BatchSize).toBe(10);
    // no batching window: a batch is what one receive finds, so a round's first clients never wait for more
    expect(trainMapping.MaximumBatchingWindowInSeconds).toBeUndefined();
    for (const id of logicalIds(resources, 'AWS::Lambda::Function', '')) expect(resources[id]!.Properties!.ReservedConcurrentExecutions).toBeUndefined();
  });
});

describe('3. maxReceiveCount per queue', () => {
  let resources: Resources;
  beforeAll(() => ({ resources } = synth()));

  it('redrives each queue after its own count, at least the 5 AWS recommends for Lambda event sources', () => {
    const queues = queuesByName(resources);
    const pairs: [QueueRole, string][] = [['train', RESOURCE_NAMES.trainQueue], ['aggregate', RESOURCE_NAMES.aggregateQueue], ['timer', RESOURCE_NAMES.timerQueue]];
    for (const [role, name] of pairs) {
      expect(queues.get(name)!.properties.RedrivePolicy, name).toMatchObject({ maxReceiveCount: MAX_RECEIVE_COUNTS[role] });
      expect(MAX_RECEIVE_COUNTS[role]).toBeGreaterThanOrEqual(5);
    }
    // A failed trainer is retried within a minute; 10 receives leave room for several attempts plus throttled receives.
    expect(MAX_RECEIVE_COUNTS.train).toBeGreaterThanOrEqual(8);
  });

  it('says in each dead-letter alarm and output after how many receives a message lands there', () => {
    const descriptions = logicalIds(resources, 'AWS::CloudWatch::Alarm', '').map((id) => String(resources[id]!.Properties!.AlarmDescription));
    for (const role of ['train', 'aggregate', 'timer'] as const) {
      expect(descriptions.some((text) => text.includes(`failed ${MAX_RECEIVE_COUNTS[role]} times on ${queueNames('Flambda')[role]}`)), role).toBe(true);
    }
  });
});

describe('4. log groups a user can find', () => {
  it('gives every function a named log group with the retention, deletes it with the stack, and outputs its name', () => {
    const { resources, outputs } = synth({ stackName: 'FlambdaLogs', logRetentionDays: '14' });
    const names = logGroupNames('FlambdaLogs');
    const groups = new Map(logicalIds(resources, 'AWS::Logs::LogGroup', '').map((id) => [resources[id]!.Properties!.LogGroupName as string, { id, resource: resources[id]! }]));
    expect([...groups.keys()].sort()).toEqual(Object.values(names).sort());
    for (const { resource } of groups.values()) {
      expect(resource.Properties!.RetentionInDays).toBe(14);
      // A retained group with a fixed name would make the next deploy of this stack fail with "already exists".
      expect(resource.DeletionPolicy).toBe('Delete');
    }
    const prefixes = { start: 'StartFunction', train: 'TrainZipFunction', aggregate: 'AggregateFunction', timer: 'TimerFunction' } as const;
    for (const [name, prefix] of Object.entries(prefixes) as [keyof typeof prefixes, string][]) {
      const fn = resources[only(resources, 'AWS::Lambda::Function', prefix)]!.Properties!;
      expect(fn.LoggingConfig, name).toEqual({ LogGroup: { Ref: groups.get(names[name])!.id } });
      expect(outputs[LOG_GROUP_OUTPUTS[name]]!.Value).toEqual({ Ref: groups.get(names[name])!.id });
    }
    expect(names.train).toBe('/flambda/FlambdaLogs/train');
  });
});

describe('5. redeploy after destroy', () => {
  it('keeps the TLS-only bucket policy with a retained bucket', () => {
    const { resources } = synth();
    expect(resources[only(resources, 'AWS::S3::BucketPolicy', 'Experiments')]!.DeletionPolicy).toBe('Retain');
    const destroyed = synth({ removal: 'destroy' }).resources;
    expect(destroyed[only(destroyed, 'AWS::S3::BucketPolicy', 'Experiments')]!.DeletionPolicy).toBeUndefined();
  });

  it('adopts an existing bucket with -c bucketName: no new bucket, the notification and grants on that one', () => {
    const { template, resources, outputs } = synth({ bucketName: 'my-old-flambda-bucket' });
    template.resourceCountIs('AWS::S3::Bucket', 0);
    template.resourceCountIs('AWS::S3::BucketPolicy', 0);
    expect(outputs[STACK_OUTPUTS.bucketName]!.Value).toBe('my-old-flambda-bucket');
    const [notification] = logicalIds(resources, 'Custom::S3BucketNotifications', '').map((id) => resources[id]!.Properties!);
    // Managed: false: the handler leaves notifications it did not create alone, and removes only its own on delete.
    expect(notification).toMatchObject({ BucketName: 'my-old-flambda-bucket', Managed: false });
    // The aggregator starts experiments (the start function only forwards the S3 event), so it reads the uploads.
    const aggregatorReads = logicalIds(resources, 'AWS::IAM::Policy', 'AggregateRole')
      .flatMap((id) => statementsOf(resources, id))
      .filter((statement) => asList(statement.Action).includes('s3:GetObject*'))
      .flatMap((statement) => asList(statement.Resource).map(resourceText));
    expect(aggregatorReads).toContain('arn:<AWS::Partition>:s3:::my-old-flambda-bucket/experiments/*/config.json');
    expect(() => settingsFromContext(lookup({ bucketName: 'My_Bucket' }))).toThrow(/-c bucketName: an S3 bucket name/);
  });
});

describe('6. runtimes', () => {
  it('runs the zip functions on nodejs24.x built for node24, and the tfjs-node image on Node 22', () => {
    const { resources } = synth();
    const runtimes = logicalIds(resources, 'AWS::Lambda::Function', '').map((id) => resources[id]!.Properties!.Runtime as string);
    for (const prefix of ['StartFunction', 'TrainZipFunction', 'AggregateFunction', 'TimerFunction']) {
      expect(resources[only(resources, 'AWS::Lambda::Function', prefix)]!.Properties!.Runtime).toBe('nodejs24.x');
    }
    expect(runtimes.some((runtime) => /^nodejs(1\d|2[0-2])\.x$/.test(runtime))).toBe(false);
    expect(ZIP_NODE_TARGET).toBe('node24');
    const dockerfile = readFileSync(path.join(REPO_ROOT, 'infra/docker/trainer.Dockerfile'), 'utf8');
    expect(`node${/^ARG NODE_MAJOR=(\d+)$/m.exec(dockerfile)?.[1]}`).toBe(IMAGE_NODE_TARGET);
  });
});

describe('7. a reproducible trainer image', () => {
  const imageDir = path.join(REPO_ROOT, 'infra/docker/image');
  const manifest = JSON.parse(readFileSync(path.join(imageDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const lock = JSON.parse(readFileSync(path.join(imageDir, 'package-lock.json'), 'utf8')) as {
    lockfileVersion: number;
    packages: Record<string, { version?: string; dependencies?: Record<string, string>; integrity?: string }>;
  };

  it('installs the image packages with npm ci from their own lock file', () => {
    const dockerfile = readFileSync(path.join(REPO_ROOT, 'infra/docker/trainer.Dockerfile'), 'utf8');
    const runs = dockerfile.split('\n').filter((line) => /^RUN\b/.test(line));
    expect(runs.filter((line) => /\bnpm (install|i)\b/.test(line))).toEqual([]);
    expect(runs.filter((line) => /\bnpm ci\b/.test(line))).toHaveLength(2);
    expect(dockerfile).toMatch(/^COPY infra\/docker\/image\/package\.json infra\/docker\/image\/package-lock\.json \.\/$/m);
    // The bundle is copied after the install and brings no package.json of its own that could replace the image's.
    expect(dockerfile.indexOf('COPY --from=bundle')).toBeGreaterThan(dockerfile.indexOf('npm ci --omit=dev'));
  });

  it('has a lock file that matches its package.json and pins every package with an integrity hash', () => {
    expect(lock.lockfileVersion).toBe(3);
    expect(lock.packages['']!.dependencies).toEqual(manifest.dependencies);
    for (const [name, version] of Object.entries(manifest.dependencies)) {
      expect(lock.packages[`node_modules/${name}`]?.version, name).toBe(version);
    }
    const installed = Object.entries(lock.packages).filter(([key]) => key !== '');
    expect(installed.length).toBeGreaterThan(20);
    // Like the repository's lock, written with omit-lockfile-registry-resolved: npm ci resolves from the configured
    // registry and checks each tarball against its integrity hash.
    for (const [key, entry] of installed) {
      expect(entry.version, key).toMatch(/^\d+\.\d+\.\d+/);
      expect(entry.integrity, key).toMatch(/^sha512-/);
    }
  });
});

describe('8. LocalStack', () => {
  it('uses only Lambda runtimes that the minimum LocalStack version runs', () => {
    const { resources } = synth({ target: 'localstack' });
    const runtimes = new Set(logicalIds(resources, 'AWS::Lambda::Function', '').map((id) => resources[id]!.Properties!.Runtime as string));
    expect([...runtimes].filter((runtime) => !LOCALSTACK_MIN_VERSION_RUNTIMES.includes(runtime))).toEqual([]);
    expect(runtimes).toContain('nodejs24.x');
  });
});

describe('9. bootstrap with a customer KMS key', () => {
  const copyStatements = (context: Record<string, string>) => {
    const { resources } = synth(context);
    return statementsOf(resources, only(resources, 'AWS::IAM::Policy', 'MnistCopyRole'));
  };
  const decrypts = (statements: ReturnType<typeof copyStatements>) =>
    statements.filter((statement) => asList(statement.Action).some((action) => action.startsWith('kms:')));

  it('lets the dataset copy decrypt the assets with the key given as -c bootstrapKmsKeyId, and only then', () => {
    expect(decrypts(copyStatements({}))).toEqual([]);
    const id = '1234abcd-12ab-34cd-56ef-1234567890ab';
    const byId = decrypts(copyStatements({ bootstrapKmsKeyId: id }));
    expect(byId.map((statement) => [statement.Action, resourceText(statement.Resource)])).toEqual([
      ['kms:Decrypt', `arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/${id}`],
    ]);
    const arn = `arn:aws:kms:eu-west-1:123456789012:key/${id}`;
    expect(decrypts(copyStatements({ bootstrapKmsKeyId: arn })).map((statement) => statement.Resource)).toEqual([arn]);
  });

  it('refuses an alias or a malformed key, naming the setting', () => {
    expect(() => settingsFromContext(lookup({ bootstrapKmsKeyId: 'alias/cdk' }))).toThrow(/-c bootstrapKmsKeyId: a key id or key ARN, not an alias/);
    expect(() => settingsFromContext(lookup({ bootstrapKmsKeyId: 'not-a-key' }))).toThrow(/-c bootstrapKmsKeyId: a KMS key id/);
  });
});

describe('docs/deploy.md', () => {
  const docs = readFileSync(path.join(REPO_ROOT, 'docs/deploy.md'), 'utf8');

  it('has a first deploy checklist and states the numbers the code uses', () => {
    expect(docs).toContain('### First deploy checklist');
    const { train, aggregate, timer } = MAX_RECEIVE_COUNTS;
    expect(docs).toContain(`after **${train}** (train), **${aggregate}** (aggregate) and **${timer}** (timer) receives`);
    for (const [role, count] of Object.entries(MAX_RECEIVE_COUNTS)) expect(docs).toMatch(new RegExp(`^\\| ${role} \\| ${count} \\|`, 'm'));
    expect(docs).toContain(`at most ${MAX_STACK_NAME_LENGTH} characters`);
    expect(docs).toContain(`aws logs tail ${logGroupNames('Flambda').train} --follow`);
    expect(docs).toContain(`**LocalStack ${MIN_LOCALSTACK_VERSION.replace(/\.0$/, '')} or newer**`);
    expect(docs).toMatch(/^\s*export LOCALSTACK_AUTH_TOKEN=<your auth token>$/m);
    expect(docs).toContain(`| ≥ ${OTHER_FUNCTIONS_HEADROOM} | ok`);
    expect(docs).not.toContain('nodejs22.x`), arm64');
  });
});
