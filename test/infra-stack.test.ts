import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUCKET_ACCESS, type FunctionName } from '../infra/lib/bucket-access.js';
import { FUNCTION_SIZING, queueNames, VISIBILITY_TIMEOUT_FACTOR } from '../infra/lib/flambda-stack.js';
import { STACK_OUTPUTS } from '../infra/lib/outputs.js';
import { MAX_RECEIVE_COUNTS, SettingsError, settingsFromContext } from '../infra/lib/settings.js';
import { createTestApp } from '../infra/lib/synth.js';
import { EVENT_SOURCE_BATCH_SIZE, RESOURCE_NAMES, START_TRIGGER_FILTER } from '../shared/cloud/resources.js';
import { keys } from '../shared/protocol/keys.js';
import { asList, logicalIds, only, resourceText, statementsOf, templateSynth, type Json, type Resources } from './helpers/template.js';

// The built-in CloudFormation validation and cdk-nag run in test/infra-nag.test.ts; here only the template matters.
process.env.CDK_VALIDATION = 'false';

const { synth, track, cleanup } = templateSynth();
afterAll(cleanup);

const FUNCTION_PREFIX: Record<FunctionName, string> = { start: 'Start', train: 'TrainZip', aggregate: 'Aggregate', timer: 'Timer' };

describe('settings from CDK context', () => {
  const lookup = (values: Record<string, unknown>) => (key: string) => values[key];

  it('defaults to a retained bucket, zip trainer and arm64 on AWS', () => {
    const settings = settingsFromContext(lookup({}));
    expect(settings).toMatchObject({ stackName: 'Flambda', target: 'aws', trainer: 'zip', removal: 'retain', architecture: 'arm64' });
  });

  it('makes LocalStack stacks destroyable and native to the host by default, unless told otherwise', () => {
    const settings = settingsFromContext(lookup({ target: 'localstack' }));
    expect(settings.removal).toBe('destroy');
    expect(settings.architecture).toBe(process.arch === 'arm64' ? 'arm64' : 'x86_64');
    expect(settingsFromContext(lookup({ target: 'localstack', removal: 'retain' })).removal).toBe('retain');
  });

  it('reads numbers passed as strings by -c', () => {
    const settings = settingsFromContext(lookup({ experimentRetentionDays: '7', trainConcurrency: '12', logRetentionDays: '90' }));
    expect(settings).toMatchObject({ experimentRetentionDays: 7, trainConcurrency: 12, logRetentionDays: 90, trainBatchSize: 1 });
    expect(settingsFromContext(lookup({ trainBatchSize: '10' })).trainBatchSize).toBe(10);
  });

  it('names the offending key when a value is invalid', () => {
    expect(() => settingsFromContext(lookup({ trainer: 'docker' }))).toThrow(SettingsError);
    expect(() => settingsFromContext(lookup({ trainer: 'docker' }))).toThrow(/-c trainer/);
    expect(() => settingsFromContext(lookup({ trainConcurrency: '1' }))).toThrow(/-c trainConcurrency/);
    expect(() => settingsFromContext(lookup({ trainBatchSize: '11' }))).toThrow(/-c trainBatchSize/);
    expect(() => settingsFromContext(lookup({ trainBatchSize: '0' }))).toThrow(/-c trainBatchSize/);
    expect(() => settingsFromContext(lookup({ logRetentionDays: '10' }))).toThrow(/-c logRetentionDays: one of/);
  });

  it('rejects a misspelt key rather than deploying the default', () => {
    const context = { trainr: 'image', '@aws-cdk/core:newStyleStackSynthesis': true, 'aws:cdk:bundling-stacks': [] };
    expect(() => settingsFromContext(lookup(context), context)).toThrow(/unknown CDK context -c trainr: flambda reads stackName, target, trainer/);
    const outdir = mkdtempSync(path.join(os.tmpdir(), 'flambda-cdk-'));
    track(outdir);
    expect(() => createTestApp({ context: { trainr: 'image' }, outdir })).toThrow(SettingsError);
  });
});

describe('FlambdaStack template (zip trainer, defaults)', () => {
  let template: Template;
  let resources: Resources;
  let bucketId: string;

  beforeAll(() => {
    ({ template, resources } = synth());
    bucketId = only(resources, 'AWS::S3::Bucket', 'Experiments');
  });

  it('has one private, encrypted, retained bucket with a lifecycle rule for old experiments', () => {
    template.resourceCountIs('AWS::S3::Bucket', 1);
    const bucket = resources[bucketId]!;
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    const rules = (bucket.Properties!.LifecycleConfiguration as { Rules: Json[] }).Rules;
    expect(rules).toContainEqual(expect.objectContaining({ Prefix: 'experiments/', ExpirationInDays: 30, Status: 'Enabled' }));
    expect(rules).toContainEqual(expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }));
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  it('denies every request to the bucket without TLS 1.2+, and allows nothing by policy', () => {
    const statements = statementsOf(resources, only(resources, 'AWS::S3::BucketPolicy', 'Experiments'));
    const denies = statements.filter((statement) => statement.Effect === 'Deny');
    expect(denies.map((statement) => statement.Condition)).toEqual([
      { Bool: { 'aws:SecureTransport': 'false' } },
      { NumericLessThan: { 's3:TlsVersion': 1.2 } },
    ]);
    for (const deny of denies) {
      expect(deny).toMatchObject({ Action: 's3:*', Principal: { AWS: '*' } });
      expect(asList(deny.Resource).map(resourceText).sort()).toEqual([`<${bucketId}.Arn>`, `<${bucketId}.Arn>/*`]);
    }
    expect(statements.filter((statement) => statement.Effect === 'Allow')).toEqual([]);
  });

  it('creates the three queues and their dead-letter queues with the contract names, SSE and a redrive policy', () => {
    const names = queueNames('Flambda');
    const pairs = [
      { role: 'train', name: RESOURCE_NAMES.trainQueue, dlq: RESOURCE_NAMES.trainDeadLetterQueue, fifo: false },
      { role: 'aggregate', name: RESOURCE_NAMES.aggregateQueue, dlq: RESOURCE_NAMES.aggregateDeadLetterQueue, fifo: true },
      { role: 'timer', name: RESOURCE_NAMES.timerQueue, dlq: RESOURCE_NAMES.timerDeadLetterQueue, fifo: false },
    ] as const;
    const byName = new Map(
      Object.entries(resources)
        .filter(([, resource]) => resource.Type === 'AWS::SQS::Queue')
        .map(([id, resource]) => [resource.Properties!.QueueName as string, { id, properties: resource.Properties! }]),
    );
    expect([...byName.keys()].sort()).toEqual([...pairs.flatMap((pair) => [pair.name, pair.dlq]), names.startFailures].sort());
    for (const pair of pairs) {
      const queue = byName.get(pair.name)!;
      const dlq = byName.get(pair.dlq)!;
      expect(queue.properties.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [dlq.id, 'Arn'] }, maxReceiveCount: MAX_RECEIVE_COUNTS[pair.role] });
      for (const properties of [queue.properties, dlq.properties]) {
        expect(properties.SqsManagedSseEnabled).toBe(true);
        expect(properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
        expect(properties.FifoQueue).toBe(pair.fifo ? true : undefined);
      }
      if (pair.fifo) expect(queue.properties.ContentBasedDeduplication).toBe(false);
      const timeout = FUNCTION_SIZING[pair.role].timeout.toSeconds();
      expect(queue.properties.VisibilityTimeout).toBe(timeout * VISIBILITY_TIMEOUT_FACTOR);
    }
  });

  it('lets no queue be used without TLS', () => {
    const policies = logicalIds(resources, 'AWS::SQS::QueuePolicy', '');
    expect(policies).toHaveLength(7);
    for (const policyId of policies) {
      expect(statementsOf(resources, policyId)).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('alarms on the first message in each dead-letter queue and in the start-failure queue', () => {
    const alarms = logicalIds(resources, 'AWS::CloudWatch::Alarm', '');
    expect(alarms).toHaveLength(4);
    const watched = alarms.map((id) => {
      const properties = resources[id]!.Properties!;
      expect(properties).toMatchObject({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
      const [dimension] = properties.Dimensions as [{ Value: { 'Fn::GetAtt': [string, string] } }];
      return resources[dimension.Value['Fn::GetAtt'][0]]!.Properties!.QueueName;
    });
    const names = queueNames('Flambda');
    expect(watched.sort()).toEqual([names.trainDeadLetter, names.aggregateDeadLetter, names.timerDeadLetter, names.startFailures].sort());
  });

  it('sizes the functions as measured and runs zip functions on nodejs24.x arm64', () => {
    for (const [name, prefix] of Object.entries(FUNCTION_PREFIX) as [FunctionName, string][]) {
      const fn = resources[only(resources, 'AWS::Lambda::Function', `${prefix}Function`)]!.Properties!;
      expect(fn).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: FUNCTION_SIZING[name].memorySize,
        Timeout: FUNCTION_SIZING[name].timeout.toSeconds(),
      });
    }
    expect(FUNCTION_SIZING.train.timeout.toSeconds()).toBe(900);
  });

  it('tells every function where the bucket and queues are, and the tfjs ones where the wasm binaries are', () => {
    const queueId = (name: string) =>
      Object.keys(resources).find((id) => resources[id]!.Type === 'AWS::SQS::Queue' && resources[id]!.Properties!.QueueName === name)!;
    for (const [name, prefix] of Object.entries(FUNCTION_PREFIX) as [FunctionName, string][]) {
      const fn = resources[only(resources, 'AWS::Lambda::Function', `${prefix}Function`)]!.Properties!;
      const variables = (fn.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables).toMatchObject({
        FLAMBDA_BUCKET: { Ref: bucketId },
        FLAMBDA_TRAIN_QUEUE_URL: { Ref: queueId(RESOURCE_NAMES.trainQueue) },
        FLAMBDA_AGGREGATE_QUEUE_URL: { Ref: queueId(RESOURCE_NAMES.aggregateQueue) },
        FLAMBDA_TIMER_QUEUE_URL: { Ref: queueId(RESOURCE_NAMES.timerQueue) },
        NODE_OPTIONS: '--enable-source-maps',
      });
      if (name === 'timer') {
        expect(variables.FLAMBDA_WASM_DIR).toBeUndefined();
      } else {
        expect(variables).toMatchObject({ FLAMBDA_BACKEND: 'wasm', FLAMBDA_WASM_DIR: '/var/task' });
      }
    }
  });

  it('wires each queue to its function with the pipeline contract settings', () => {
    const mappings = logicalIds(resources, 'AWS::Lambda::EventSourceMapping', '').map((id) => resources[id]!.Properties!);
    expect(mappings).toHaveLength(3);
    const queueOf = (mapping: Json) => resources[(mapping.EventSourceArn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!]!.Properties!.QueueName;
    const functionOf = (mapping: Json) => (mapping.FunctionName as { Ref: string }).Ref;
    const byQueue = new Map(mappings.map((mapping) => [queueOf(mapping), mapping]));
    const expected = [
      { queue: RESOURCE_NAMES.trainQueue, fn: 'TrainZipFunction', batch: EVENT_SOURCE_BATCH_SIZE.train },
      { queue: RESOURCE_NAMES.aggregateQueue, fn: 'AggregateFunction', batch: EVENT_SOURCE_BATCH_SIZE.aggregate },
      { queue: RESOURCE_NAMES.timerQueue, fn: 'TimerFunction', batch: EVENT_SOURCE_BATCH_SIZE.timer },
    ];
    for (const { queue, fn, batch } of expected) {
      const mapping = byQueue.get(queue)!;
      expect(functionOf(mapping)).toMatch(new RegExp(`^${fn}`));
      expect(mapping.BatchSize).toBe(batch);
      expect(mapping.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    }
    expect([1, 10, 10]).toEqual([EVENT_SOURCE_BATCH_SIZE.train, EVENT_SOURCE_BATCH_SIZE.aggregate, EVENT_SOURCE_BATCH_SIZE.timer]);
    expect(byQueue.get(RESOURCE_NAMES.trainQueue)!.ScalingConfig).toEqual({ MaximumConcurrency: 50 });
    expect(byQueue.get(RESOURCE_NAMES.aggregateQueue)!.ScalingConfig).toBeUndefined();
    // Throttling an SQS-triggered function burns receives into the DLQ: concurrency is capped at the event source.
    for (const id of logicalIds(resources, 'AWS::Lambda::Function', '')) {
      expect(resources[id]!.Properties!.ReservedConcurrentExecutions).toBeUndefined();
    }
  });

  it('invokes start for config.json uploads under experiments/ only, and keeps events that fail 3 times', () => {
    const startId = only(resources, 'AWS::Lambda::Function', 'StartFunction');
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: bucketId },
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: Match.arrayWith([{ Name: 'prefix', Value: 'experiments/' }]) } },
            LambdaFunctionArn: { 'Fn::GetAtt': [startId, 'Arn'] },
          },
        ],
      },
    });
    const [notification] = logicalIds(resources, 'Custom::S3BucketNotifications', '').map((id) => resources[id]!.Properties!);
    const [configuration] = (notification!.NotificationConfiguration as { LambdaFunctionConfigurations: [{ Filter: { Key: { FilterRules: Json[] } } }] })
      .LambdaFunctionConfigurations;
    expect(configuration.Filter.Key.FilterRules).toHaveLength(2);
    expect(configuration.Filter.Key.FilterRules).toEqual(
      expect.arrayContaining([{ Name: 'prefix', Value: 'experiments/' }, { Name: 'suffix', Value: 'config.json' }]),
    );
    expect(START_TRIGGER_FILTER).toEqual({ prefix: 'experiments/', suffix: 'config.json' });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 's3.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [startId, 'Arn'] },
    });
    const failures = Object.keys(resources).find((id) => resources[id]!.Properties?.QueueName === queueNames('Flambda').startFailures)!;
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: startId },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [failures, 'Arn'] } } },
    });
  });

  it('grants each function exactly the object patterns of BUCKET_ACCESS, and nothing bucket-wide', () => {
    for (const [name, prefix] of Object.entries(FUNCTION_PREFIX) as [FunctionName, string][]) {
      const policyIds = logicalIds(resources, 'AWS::IAM::Policy', `${prefix}Role`);
      const statements = policyIds.flatMap((id) => statementsOf(resources, id));
      const s3 = statements.filter((statement) => asList(statement.Action).some((action) => action.startsWith('s3:')));
      const objectsWith = (action: string) =>
        s3
          .filter((statement) => asList(statement.Action).includes(action))
          .flatMap((statement) => asList(statement.Resource).map(resourceText))
          .filter((resource) => resource.startsWith(`<${bucketId}.Arn>/`))
          .map((resource) => resource.slice(`<${bucketId}.Arn>/`.length))
          .sort();
      const access = BUCKET_ACCESS[name];
      expect(objectsWith('s3:GetObject*'), `${name} reads`).toEqual([...access.read].sort());
      expect(objectsWith('s3:PutObject'), `${name} writes`).toEqual([...access.write].sort());
      for (const statement of s3) {
        expect(asList(statement.Action)).not.toContain('s3:*');
        expect(asList(statement.Action).some((action) => action.startsWith('s3:Delete'))).toBe(false);
        for (const resource of asList(statement.Resource).map(resourceText)) {
          expect(resource, `${name}: ${resource}`).not.toBe(`<${bucketId}.Arn>/*`);
          expect(resource).not.toBe('*');
          // the bucket ARN alone carries only bucket-level reads (ListBucket so a missing key is a 404)
          if (resource === `<${bucketId}.Arn>`) expect(asList(statement.Action).every((action) => /^s3:(Get|List)/.test(action))).toBe(true);
        }
      }
      if (name === 'timer') expect(s3).toHaveLength(0);
    }
  });

  it('lets each function send only to the queues it uses', () => {
    const queueRole = (id: string): string => {
      const name = resources[id]!.Properties!.QueueName as string;
      return Object.entries(queueNames('Flambda')).find(([, queueName]) => queueName === name)![0];
    };
    for (const [name, prefix] of Object.entries(FUNCTION_PREFIX) as [FunctionName, string][]) {
      const statements = logicalIds(resources, 'AWS::IAM::Policy', `${prefix}Role`).flatMap((id) => statementsOf(resources, id));
      const sendsTo = statements
        .filter((statement) => asList(statement.Action).includes('sqs:SendMessage'))
        .flatMap((statement) => asList(statement.Resource))
        .map((resource) => queueRole((resource as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!));
      const expected = name === 'start' ? ['startFailures', ...BUCKET_ACCESS[name].sendsTo] : BUCKET_ACCESS[name].sendsTo;
      expect(sendsTo.sort(), name).toEqual([...expected].sort());
      for (const statement of statements) expect(asList(statement.Action).some((action) => action.endsWith(':*'))).toBe(false);
    }
  });

  it('gives the functions their own roles with no AWS managed policies', () => {
    for (const prefix of Object.values(FUNCTION_PREFIX)) {
      const role = resources[only(resources, 'AWS::IAM::Role', `${prefix}Role`)]!.Properties!;
      expect(role.ManagedPolicyArns).toBeUndefined();
      expect(role.AssumeRolePolicyDocument).toMatchObject({ Statement: [{ Principal: { Service: 'lambda.amazonaws.com' } }] });
    }
  });

  it('copies the four MNIST idx files into datasets/mnist/ during the deploy', () => {
    const copies = logicalIds(resources, 'Custom::AWS', 'Mnist').map((id) => JSON.stringify(resources[id]!.Properties!.Create));
    expect(copies).toHaveLength(4);
    for (const file of ['train-images', 'train-labels', 'test-images', 'test-labels'] as const) {
      expect(copies.filter((create) => create.includes(`"Key\\":\\"${keys.mnist(file)}\\"`) && create.includes('copyObject'))).toHaveLength(1);
    }
    const copyPolicy = statementsOf(resources, only(resources, 'AWS::IAM::Policy', 'MnistCopyRole'));
    const puts = copyPolicy.filter((statement) => asList(statement.Action).includes('s3:PutObject'));
    expect(puts.flatMap((statement) => asList(statement.Resource).map(resourceText))).toEqual([`<${bucketId}.Arn>/datasets/mnist/*.idx`]);
    const gets = copyPolicy.filter((statement) => asList(statement.Action).includes('s3:GetObject'));
    expect(gets.flatMap((statement) => asList(statement.Action))).toEqual(['s3:GetObject']);
    expect(gets.flatMap((statement) => asList(statement.Resource))).toHaveLength(4);
  });

  it('outputs the bucket, the queue URLs and the aws s3 cp line that starts an experiment', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs).sort()).toEqual(Object.values(STACK_OUTPUTS).sort());
    expect(outputs[STACK_OUTPUTS.bucketName]!.Value).toEqual({ Ref: bucketId });
    expect(resourceText(outputs[STACK_OUTPUTS.startExperimentCommand]!.Value)).toBe(
      `aws s3 cp examples/mnist-iid.json s3://<${bucketId}>/${keys.config('my-first-experiment')}`,
    );
    expect(outputs[STACK_OUTPUTS.trainerPackaging]!.Value).toBe('zip');
    expect(resourceText(outputs[STACK_OUTPUTS.importDatasetCommand]!.Value)).toBe(
      `flambda dataset import fashion-mnist /usr/share/datasets/fashion-mnist --target aws --bucket <${bucketId}>`,
    );
  });
});

describe('FlambdaStack template variants', () => {
  it('deletes and empties the bucket when asked, and drops the lifecycle rule at 0 days', () => {
    const { template, resources } = synth({ removal: 'destroy', experimentRetentionDays: '0' });
    const bucket = resources[only(resources, 'AWS::S3::Bucket', 'Experiments')]!;
    expect(bucket.DeletionPolicy).toBe('Delete');
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 1);
    const rules = (bucket.Properties!.LifecycleConfiguration as { Rules: Json[] }).Rules;
    expect(rules.some((rule) => 'ExpirationInDays' in rule)).toBe(false);
  });

  it('prefixes queue names with the stack name so two stacks fit one account', () => {
    const { resources } = synth({ stackName: 'FlambdaTest' });
    const names = logicalIds(resources, 'AWS::SQS::Queue', '').map((id) => resources[id]!.Properties!.QueueName as string);
    expect(names).toContain('flambdatest-aggregate.fifo');
    expect(names.every((name) => name.startsWith('flambdatest-'))).toBe(true);
  });

  it('packages the trainer as an x86_64 container image with -c trainer=image, staging only the files the build needs', () => {
    const { stack, outdir } = createTestApp({ context: { trainer: 'image' } });
    track(outdir);
    const template = Template.fromStack(stack);
    const resources = template.toJSON().Resources as Resources;
    const train = resources[only(resources, 'AWS::Lambda::Function', 'TrainImage')]!.Properties!;
    expect(train.PackageType).toBe('Image');
    expect(train.Architectures).toEqual(['x86_64']);
    expect(train.Runtime).toBeUndefined();
    expect((train.Environment as { Variables: Json }).Variables.FLAMBDA_WASM_DIR).toBeUndefined();
    for (const prefix of ['Start', 'Aggregate', 'Timer']) {
      expect(resources[only(resources, 'AWS::Lambda::Function', `${prefix}Function`)]!.Properties!.Architectures).toEqual(['arm64']);
    }
    const manifest = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(manifest[STACK_OUTPUTS.trainerPackaging]!.Value).toBe('image');

    const contextDirs = readdirSync(outdir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && entry.name.startsWith('asset.'))
      .map((entry) => entry.name)
      .filter((name) => readdirSync(path.join(outdir, name)).includes('infra'));
    expect(contextDirs).toHaveLength(1);
    const staged = path.join(outdir, contextDirs[0]!);
    expect(readdirSync(staged).sort()).toEqual(['functions', 'infra', 'package-lock.json', 'package.json', 'shared', 'tsconfig.json']);
    expect(readdirSync(path.join(staged, 'infra')).sort()).toEqual(['docker', 'lib']);
    expect(readdirSync(path.join(staged, 'infra', 'lib'))).toEqual(['bundle-options.ts']);
    expect(readdirSync(path.join(staged, 'infra', 'docker'))).toContain('trainer.Dockerfile');
  });
});
