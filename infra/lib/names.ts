import { RESOURCE_NAMES } from '../../shared/cloud/resources.js';

/**
 * The physical names a stack gives its queues and log groups, derived from its stack name. Free of aws-cdk-lib so
 * that settings validation and the CLI (`flambda logs`) can use them cheaply.
 */

export const DEFAULT_STACK_NAME = 'Flambda';

/** What the default stack's queue names start with; other stacks use their lower-cased name instead. */
const DEFAULT_QUEUE_PREFIX = 'flambda';

/** SQS's limit on a queue name, `.fifo` included. */
export const SQS_QUEUE_NAME_LIMIT = 80;

/** The queue names of RESOURCE_NAMES, under the stack's own prefix when it is not the default stack (two stacks, one account). */
export function queueNames(stackName: string) {
  const prefix = queuePrefix(stackName);
  const rename = (name: string) => name.replace(/^flambda/, prefix);
  return {
    train: rename(RESOURCE_NAMES.trainQueue),
    trainDeadLetter: rename(RESOURCE_NAMES.trainDeadLetterQueue),
    aggregate: rename(RESOURCE_NAMES.aggregateQueue),
    aggregateDeadLetter: rename(RESOURCE_NAMES.aggregateDeadLetterQueue),
    timer: rename(RESOURCE_NAMES.timerQueue),
    timerDeadLetter: rename(RESOURCE_NAMES.timerDeadLetterQueue),
    startFailures: `${prefix}-start-failures`,
  };
}

export function queuePrefix(stackName: string): string {
  return stackName === DEFAULT_STACK_NAME ? DEFAULT_QUEUE_PREFIX : stackName.toLowerCase();
}

/** The longest stack name whose queue names all fit SQS's 80 characters (61: `-aggregate-dlq.fifo` is 19). */
export const MAX_STACK_NAME_LENGTH =
  SQS_QUEUE_NAME_LIMIT - Math.max(...Object.values(queueNames(DEFAULT_STACK_NAME)).map((name) => name.length - DEFAULT_QUEUE_PREFIX.length));

/** Why a stack name cannot be deployed, or undefined when it can. CloudFormation itself accepts up to 128 characters. */
export function stackNameProblem(stackName: string): string | undefined {
  if (stackName.length > MAX_STACK_NAME_LENGTH) {
    const longest = Object.values(queueNames(stackName)).reduce((a, b) => (b.length > a.length ? b : a));
    return `at most ${MAX_STACK_NAME_LENGTH} characters, so that queue names such as "${longest}" (${longest.length}) fit SQS's ${SQS_QUEUE_NAME_LIMIT}`;
  }
  if (stackName !== DEFAULT_STACK_NAME && queuePrefix(stackName) === DEFAULT_QUEUE_PREFIX) {
    return `"${stackName}" would reuse the default stack's queue names (${RESOURCE_NAMES.trainQueue}, …): choose another name, or "${DEFAULT_STACK_NAME}" itself`;
  }
  return undefined;
}

export type LoggedFunction = 'start' | 'train' | 'aggregate' | 'timer' | 'datasetCopy';

/** Log group names, known before the deploy so that `aws logs tail` and `flambda logs` can find them. */
export function logGroupNames(stackName: string): Readonly<Record<LoggedFunction, string>> {
  const base = `/flambda/${stackName}`;
  return {
    start: `${base}/start`,
    train: `${base}/train`,
    aggregate: `${base}/aggregate`,
    timer: `${base}/timer`,
    datasetCopy: `${base}/dataset-copy`,
  };
}
