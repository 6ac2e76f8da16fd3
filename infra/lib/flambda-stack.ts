import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { EventType } from 'aws-cdk-lib/aws-s3';
import { LambdaDestination } from 'aws-cdk-lib/aws-s3-notifications';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { AGGREGATOR_MEMORY_MB, EVENT_SOURCE_BATCH_SIZE, START_TRIGGER_FILTER, type QueueRole } from '../../shared/cloud/resources.js';
import { DATASETS_PREFIX, keys } from '../../shared/protocol/keys.js';
import { acknowledgeBucketGrants, acknowledgeCdkHandlers } from './acknowledgements.js';
import { BUCKET_ACCESS, type FunctionName } from './bucket-access.js';
import { DatasetDeployment } from './constructs/dataset-deployment.js';
import { ExperimentBucket } from './constructs/experiment-bucket.js';
import { PipelineFunction } from './constructs/pipeline-function.js';
import { depthAlarm, PipelineQueue, terminalQueue } from './constructs/pipeline-queue.js';
import { TrainerFunction } from './constructs/trainer-function.js';
import { LOG_GROUP_OUTPUTS, STACK_OUTPUTS } from './outputs.js';
import { logGroupNames, queueNames } from './names.js';
import { MAX_RECEIVE_COUNTS, type FlambdaSettings } from './settings.js';

export { queueNames } from './names.js';

/**
 * Memory and timeouts, sized from measurements of the real engine and pipeline on our 2-core machines (Node 20,
 * tfjs 4.22 wasm backend with our training kernels, one thread, Nov 2026); docs/deploy.md has the table.
 * - Lambda gives a function one full vCPU at 1,769 MB. tfjs-wasm runs one thread on Node, so the tfjs functions
 *   get exactly that: more memory does not train faster, less trains proportionally slower for about the same
 *   GB-seconds. Peak RSS stays under 400 MiB (cnn-mcmahan on a 12,000-sample shard: 357 MiB; cnn-small: 333 MiB),
 *   so memory is never the limit.
 * - train: Lambda's maximum, 15 min (figures from bench/benchmarks.json, refreshed by `npm run docs`):
 *   <!-- generated:train-sizing -->
 *   cnn-mcmahan trains at 335–352 samples/s (the fused wasm step, median–best of `npm run bench:train` on AMD EPYC,
 *   2026-11-30), so a 12,000-sample shard (the default 5-client split) takes 34–36 s an epoch: 20 local epochs fit in
 *   80 % of 15 minutes; heavier configs need more clients or the image trainer. cnn-small: 2,545–3,753 samples/s.
 *   <!-- /generated -->
 * - aggregate: evaluating cnn-mcmahan on the 10,000 test images took 11 s; FedAvg reads one update at a time. 5 min.
 * - start: partitioning all 60,000 training images, writing the shards and the round-0 model took 0.7 s and
 *   312 MiB for 5 clients (1.5 s for 100) against an in-memory store; on Lambda add the S3 transfers. 1,024 MB, 5 min.
 * - timer: forwards at most 10 small messages. 256 MB, 30 s.
 */
export const FUNCTION_SIZING = {
  start: { memorySize: 1024, timeout: Duration.minutes(5) },
  train: { memorySize: 1769, timeout: Duration.minutes(15) },
  aggregate: { memorySize: AGGREGATOR_MEMORY_MB, timeout: Duration.minutes(5) },
  timer: { memorySize: 256, timeout: Duration.seconds(30) },
} as const;

/** AWS guidance for SQS event sources: visibility timeout ≥ 6× the function timeout, so retries of throttled polls fit. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

/** Lambda retries a failed asynchronous (S3-triggered) start twice, then sends the event to the start-failures queue. */
export const START_RETRY_ATTEMPTS = 2;

export interface FlambdaStackProps extends StackProps {
  readonly settings: FlambdaSettings;
}

/** The whole pipeline: bucket (+ MNIST), queues with DLQs and alarms, and the start/train/aggregate/timer functions. */
export class FlambdaStack extends Stack {
  constructor(scope: Construct, id: string, props: FlambdaStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const names = queueNames(this.stackName);
    const logGroups = logGroupNames(this.stackName);
    const alarmAction = settings.alarmTopicArn
      ? new SnsAction(Topic.fromTopicArn(this, 'AlarmTopic', settings.alarmTopicArn))
      : undefined;
    const logRetention = settings.logRetentionDays as RetentionDays;

    const { bucket } = new ExperimentBucket(this, 'Experiments', {
      removal: settings.removal,
      experimentRetentionDays: settings.experimentRetentionDays,
      ...(settings.bucketName !== undefined ? { existingBucketName: settings.bucketName } : {}),
    });
    new DatasetDeployment(this, 'Mnist', {
      bucket,
      logRetention,
      logGroupName: logGroups.datasetCopy,
      ...(settings.bootstrapKmsKeyId !== undefined ? { bootstrapKmsKeyId: settings.bootstrapKmsKeyId } : {}),
    });

    const visibility = (fn: keyof typeof FUNCTION_SIZING) =>
      Duration.seconds(FUNCTION_SIZING[fn].timeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR);
    const queues: Record<QueueRole, PipelineQueue> = {
      train: new PipelineQueue(this, 'TrainQueue', {
        queueName: names.train,
        deadLetterQueueName: names.trainDeadLetter,
        visibilityTimeout: visibility('train'),
        maxReceiveCount: MAX_RECEIVE_COUNTS.train,
        alarmAction,
      }),
      aggregate: new PipelineQueue(this, 'AggregateQueue', {
        queueName: names.aggregate,
        deadLetterQueueName: names.aggregateDeadLetter,
        fifo: true,
        visibilityTimeout: visibility('aggregate'),
        maxReceiveCount: MAX_RECEIVE_COUNTS.aggregate,
        alarmAction,
      }),
      timer: new PipelineQueue(this, 'TimerQueue', {
        queueName: names.timer,
        deadLetterQueueName: names.timerDeadLetter,
        visibilityTimeout: visibility('timer'),
        maxReceiveCount: MAX_RECEIVE_COUNTS.timer,
        alarmAction,
      }),
    };
    const startFailures = terminalQueue(this, 'StartFailures', names.startFailures);
    depthAlarm(this, 'StartFailuresAlarm', startFailures, alarmAction,
      `A config upload could not start its experiment after ${START_RETRY_ATTEMPTS + 1} attempts: the S3 event is in ` +
        `${names.startFailures}; read the start function's logs, fix the cause, then upload the config again ` +
        '(under a new id if experiments/<id>/status.json exists).');

    const environment = {
      FLAMBDA_BUCKET: bucket.bucketName,
      FLAMBDA_TRAIN_QUEUE_URL: queues.train.queue.queueUrl,
      FLAMBDA_AGGREGATE_QUEUE_URL: queues.aggregate.queue.queueUrl,
      FLAMBDA_TIMER_QUEUE_URL: queues.timer.queue.queueUrl,
      // The start refuses experiments that could outlive the bucket's expiry of their objects (0: they never expire).
      FLAMBDA_EXPERIMENT_RETENTION_DAYS: String(settings.experimentRetentionDays),
    };
    const common = { architecture: settings.architecture, environment, logRetention };
    const constructs: Record<FunctionName, PipelineFunction | TrainerFunction> = {
      start: new PipelineFunction(this, 'Start', {
        ...common,
        ...FUNCTION_SIZING.start,
        logGroupName: logGroups.start,
        handler: 'start',
        description: 'flambda start: config.json upload → partition, shards, round-0 model, round 1',
        tfjs: true,
      }),
      train: new TrainerFunction(this, 'Train', {
        ...common,
        ...FUNCTION_SIZING.train,
        logGroupName: logGroups.train,
        packaging: settings.trainer,
      }),
      aggregate: new PipelineFunction(this, 'Aggregate', {
        ...common,
        ...FUNCTION_SIZING.aggregate,
        logGroupName: logGroups.aggregate,
        handler: 'aggregate',
        description: 'flambda aggregate: FedAvg, evaluation, next round or summary (FIFO, one experiment at a time)',
        tfjs: true,
      }),
      timer: new PipelineFunction(this, 'Timer', {
        ...common,
        ...FUNCTION_SIZING.timer,
        logGroupName: logGroups.timer,
        handler: 'timer',
        description: 'flambda timer: forwards due round deadlines to the aggregate queue',
        tfjs: false,
      }),
    };
    const functions: Record<FunctionName, IFunction> = {
      start: constructs.start.function,
      train: constructs.train.function,
      aggregate: constructs.aggregate.function,
      timer: constructs.timer.function,
    };

    for (const [name, construct] of Object.entries(constructs) as [FunctionName, PipelineFunction | TrainerFunction][]) {
      const access = BUCKET_ACCESS[name];
      for (const pattern of access.read) bucket.grantRead(functions[name], pattern);
      for (const pattern of access.write) bucket.grantPut(functions[name], pattern);
      for (const role of access.sendsTo) queues[role].queue.grantSendMessages(functions[name]);
      acknowledgeBucketGrants(construct, bucket, access, 'experiment ids, round numbers and client ids, known only at run time');
    }

    bucket.addEventNotification(EventType.OBJECT_CREATED, new LambdaDestination(functions.start), START_TRIGGER_FILTER);
    functions.start.configureAsyncInvoke({
      retryAttempts: START_RETRY_ATTEMPTS,
      onFailure: new SqsDestination(startFailures),
    });

    functions.train.addEventSource(new SqsEventSource(queues.train.queue, {
      batchSize: settings.trainBatchSize,
      reportBatchItemFailures: true,
      // Caps parallel trainers without reserved concurrency, whose throttling would burn receives into the DLQ.
      maxConcurrency: settings.trainConcurrency,
    }));
    functions.aggregate.addEventSource(new SqsEventSource(queues.aggregate.queue, {
      batchSize: EVENT_SOURCE_BATCH_SIZE.aggregate,
      reportBatchItemFailures: true,
    }));
    functions.timer.addEventSource(new SqsEventSource(queues.timer.queue, {
      batchSize: EVENT_SOURCE_BATCH_SIZE.timer,
      reportBatchItemFailures: true,
    }));

    const output = (key: string, value: string, description: string) => new CfnOutput(this, key, { value, description });
    output(STACK_OUTPUTS.bucketName, bucket.bucketName, 'The experiments bucket: configs, MNIST, shards, models, results');
    output(STACK_OUTPUTS.trainQueueUrl, queues.train.queue.queueUrl, 'Train queue (one message per client per round)');
    output(STACK_OUTPUTS.aggregateQueueUrl, queues.aggregate.queue.queueUrl, 'Aggregate FIFO queue (grouped by experiment)');
    output(STACK_OUTPUTS.timerQueueUrl, queues.timer.queue.queueUrl, 'Timer queue (round deadlines)');
    const failedAfter = (role: QueueRole) => `messages received ${MAX_RECEIVE_COUNTS[role]} times without success`;
    output(STACK_OUTPUTS.trainDeadLetterQueueUrl, queues.train.deadLetterQueue.queueUrl, `Train ${failedAfter('train')}`);
    output(STACK_OUTPUTS.aggregateDeadLetterQueueUrl, queues.aggregate.deadLetterQueue.queueUrl, `Aggregate ${failedAfter('aggregate')}`);
    output(STACK_OUTPUTS.timerDeadLetterQueueUrl, queues.timer.deadLetterQueue.queueUrl, `Timer ${failedAfter('timer')}`);
    output(STACK_OUTPUTS.startFailureQueueUrl, startFailures.queueUrl, 'S3 events whose experiment could not be started');
    for (const name of ['start', 'train', 'aggregate', 'timer'] as const) {
      output(LOG_GROUP_OUTPUTS[name], constructs[name].logGroup.logGroupName, `The ${name} function's log group (aws logs tail <name> --follow)`);
    }
    output(STACK_OUTPUTS.trainerPackaging, settings.trainer, 'zip (tfjs wasm backend) or image (tfjs-node)');
    output(
      STACK_OUTPUTS.startExperimentCommand,
      `aws s3 cp examples/mnist-iid.json s3://${bucket.bucketName}/${keys.config('my-first-experiment')}`,
      'Starts an experiment: upload a config to experiments/<id>/config.json (pick a new id each time)',
    );
    output(
      STACK_OUTPUTS.importDatasetCommand,
      `flambda dataset import fashion-mnist /usr/share/datasets/fashion-mnist --target aws --bucket ${bucket.bucketName}`,
      `Imports a dataset into s3://<bucket>/${DATASETS_PREFIX}<name>/ (fashion-mnist, cifar10 or your own: docs/datasets.md)`,
    );
    acknowledgeCdkHandlers(this);
  }
}
