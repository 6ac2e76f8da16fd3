/**
 * The stack's CloudFormation output keys: the contract between the stack and anything that finds a deployed
 * system (the CLI's `--target aws|localstack`, docs, tests). Kept free of aws-cdk-lib so the CLI can import it cheaply.
 */
export const STACK_OUTPUTS = {
  bucketName: 'BucketName',
  trainQueueUrl: 'TrainQueueUrl',
  aggregateQueueUrl: 'AggregateQueueUrl',
  timerQueueUrl: 'TimerQueueUrl',
  trainDeadLetterQueueUrl: 'TrainDeadLetterQueueUrl',
  aggregateDeadLetterQueueUrl: 'AggregateDeadLetterQueueUrl',
  timerDeadLetterQueueUrl: 'TimerDeadLetterQueueUrl',
  startFailureQueueUrl: 'StartFailureQueueUrl',
  trainerPackaging: 'TrainerPackaging',
  startExperimentCommand: 'StartExperimentCommand',
  importDatasetCommand: 'ImportDatasetCommand',
  startLogGroup: 'StartLogGroup',
  trainLogGroup: 'TrainLogGroup',
  aggregateLogGroup: 'AggregateLogGroup',
  timerLogGroup: 'TimerLogGroup',
} as const;

/** The log group output of each pipeline function (what `flambda logs --target aws` reads). */
export const LOG_GROUP_OUTPUTS = {
  start: STACK_OUTPUTS.startLogGroup,
  train: STACK_OUTPUTS.trainLogGroup,
  aggregate: STACK_OUTPUTS.aggregateLogGroup,
  timer: STACK_OUTPUTS.timerLogGroup,
} as const;

export type StackOutputName = (typeof STACK_OUTPUTS)[keyof typeof STACK_OUTPUTS];
