/**
 * Does the account's Lambda concurrency leave room for the pipeline? All four functions share the account's
 * unreserved pool (no function has reserved concurrency, see docs/deploy.md), and the train event source may run
 * `trainConcurrency` trainers at once. When the trainers take the whole pool, aggregate, timer and start invocations
 * are throttled; a throttled SQS invocation counts as a receive, so round deadlines and updates drift towards their
 * dead-letter queues. Pure: the caller reads the numbers (Lambda GetAccountSettings) and prints the verdict.
 */

/**
 * Concurrency to keep free for the other three functions: the aggregate FIFO queue runs one invocation per
 * experiment in flight, the timer's event source starts by polling five batches at once, and start runs once per
 * config upload.
 */
export const OTHER_FUNCTIONS_HEADROOM = 10;

/** The smallest maximum concurrency an SQS event source accepts. */
export const MIN_TRAIN_CONCURRENCY = 2;

export interface ConcurrencyInput {
  /** Account-wide concurrent executions in the region. */
  readonly limit: number;
  /** Unreserved concurrent executions: the pool the pipeline's functions share. */
  readonly unreserved: number;
  /** The train event source's maximum concurrency the stack is (or will be) deployed with. */
  readonly trainConcurrency: number;
}

export type ConcurrencyVerdict =
  | { readonly level: 'ok'; readonly message: string }
  | { readonly level: 'warn' | 'refuse'; readonly message: string; readonly suggestedTrainConcurrency: number };

/** The largest trainConcurrency that keeps OTHER_FUNCTIONS_HEADROOM free, but never below the event source's minimum. */
export function suggestedTrainConcurrency(unreserved: number): number {
  return Math.max(MIN_TRAIN_CONCURRENCY, unreserved - OTHER_FUNCTIONS_HEADROOM);
}

export function concurrencyVerdict({ limit, unreserved, trainConcurrency }: ConcurrencyInput): ConcurrencyVerdict {
  const left = unreserved - trainConcurrency;
  const suggestion = suggestedTrainConcurrency(unreserved);
  const fits = unreserved - OTHER_FUNCTIONS_HEADROOM >= MIN_TRAIN_CONCURRENCY;
  const setting = fits
    ? `-c trainConcurrency=${suggestion} (or less)`
    : `-c trainConcurrency=${MIN_TRAIN_CONCURRENCY} (even that leaves fewer than ${OTHER_FUNCTIONS_HEADROOM})`;
  const quotaAdvice =
    limit < 1000
      ? ` This account's limit is ${limit} concurrent executions (new accounts start low): request more under Service Quotas → AWS Lambda → Concurrent executions.`
      : '';
  if (left <= 0) {
    return {
      level: 'refuse',
      suggestedTrainConcurrency: suggestion,
      message:
        `trainConcurrency ${trainConcurrency} can take all ${unreserved} unreserved Lambda executions, so aggregate, timer and start ` +
        `would be throttled and their messages driven into the dead-letter queues. Deploy with ${setting}.${quotaAdvice}`,
    };
  }
  if (left < OTHER_FUNCTIONS_HEADROOM) {
    return {
      level: 'warn',
      suggestedTrainConcurrency: suggestion,
      message:
        `trainConcurrency ${trainConcurrency} leaves ${left} of ${unreserved} unreserved executions for aggregate, timer and start ` +
        `(${OTHER_FUNCTIONS_HEADROOM} recommended)` +
        `${trainConcurrency > suggestion ? `; with several experiments at once, consider ${setting}` : ''}.${quotaAdvice}`,
    };
  }
  return {
    level: 'ok',
    message: `trainConcurrency ${trainConcurrency} leaves ${left} of ${unreserved} unreserved executions (limit ${limit}) for the other functions.`,
  };
}
