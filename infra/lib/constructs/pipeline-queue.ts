import { Duration, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData, type IAlarmAction } from 'aws-cdk-lib/aws-cloudwatch';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/**
 * Standard queues expire a message by its original enqueue time even after it moves to the DLQ, so main queues and
 * DLQs both keep messages for SQS's maximum: a failed message then stays inspectable for up to 14 days.
 */
const RETENTION = Duration.days(14);

export interface PipelineQueueProps {
  readonly queueName: string;
  readonly deadLetterQueueName: string;
  readonly fifo?: boolean;
  /** AWS guidance for SQS-triggered Lambdas: at least 6× the consumer's timeout. */
  readonly visibilityTimeout: Duration;
  /** Receives before a message moves to the dead-letter queue (MAX_RECEIVE_COUNTS in settings.ts). */
  readonly maxReceiveCount: number;
  readonly alarmAction?: IAlarmAction;
}

/** A queue, its dead-letter queue (after `maxReceiveCount` receives) and an alarm as soon as the DLQ holds a message. */
export class PipelineQueue extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly deadLetterAlarm: Alarm;

  constructor(scope: Construct, id: string, props: PipelineQueueProps) {
    super(scope, id);
    const fifo = props.fifo ?? false;
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      queueName: props.deadLetterQueueName,
      fifo: fifo || undefined,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: RETENTION,
    });
    this.queue = new Queue(this, 'Queue', {
      queueName: props.queueName,
      fifo: fifo || undefined,
      // Senders pass explicit deduplication ids (experiment:round:client), never content hashes.
      contentBasedDeduplication: fifo ? false : undefined,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: RETENTION,
      visibilityTimeout: props.visibilityTimeout,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
    this.deadLetterAlarm = depthAlarm(this, 'DeadLetterAlarm', this.deadLetterQueue, props.alarmAction,
      `${props.deadLetterQueueName} holds messages that failed ${props.maxReceiveCount} times on ${props.queueName}: ` +
        'inspect them, fix the cause, then redrive them (SQS console "Start DLQ redrive").');
  }
}

/** Alarms as soon as a queue that should stay empty (a DLQ, a failure destination) holds a message. */
export function depthAlarm(scope: Construct, id: string, queue: Queue, action: IAlarmAction | undefined, description: string): Alarm {
  const alarm = new Alarm(scope, id, {
    metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
    threshold: 1,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    // SQS publishes no metrics for an empty queue that nothing calls (a queue holding messages counts as active).
    treatMissingData: TreatMissingData.NOT_BREACHING,
    alarmDescription: description,
  });
  if (action) alarm.addAlarmAction(action);
  return alarm;
}

/** A queue that is itself the end of the line (a Lambda on-failure destination), so it has no DLQ of its own. */
export function terminalQueue(scope: Construct, id: string, queueName: string): Queue {
  const queue = new Queue(scope, id, {
    queueName,
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: RETENTION,
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: 'This queue is a dead-letter queue: the on-failure destination of an asynchronously invoked Lambda.',
  });
  return queue;
}
