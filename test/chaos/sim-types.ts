import type { QueueRole } from '../../shared/cloud/resources.js';
import type { ExperimentStatus } from '../../shared/metrics/types.js';
import type { SimQueueSettings } from './sim-cloud.js';

/** The vocabulary of the fault-injection harness: operations, faults, schedules, settings and outcomes. */

export type FunctionName = 'start' | QueueRole;
export type OperationKind = 's3.put' | 's3.delete' | 'sqs.send' | 'sqs.visibility' | 'sqs.delete';

export interface Operation {
  readonly index: number;
  readonly kind: OperationKind;
  readonly target: string;
  readonly fn: FunctionName;
}

export type Fault =
  /** the invocation performing mutating operation `at` dies just before or just after it */
  | { readonly kind: 'crash'; readonly at: number; readonly when: 'before' | 'after' }
  /** read number `at` fails with an S3 error (as after the SDK's own retries) */
  | { readonly kind: 'read-error'; readonly at: number }
  /** mutating operation `at`, an S3 PUT, fails with an S3 error (as after the SDK's own retries); the invocation goes on */
  | { readonly kind: 'write-error'; readonly at: number }
  /** delivery number `at`, once handled, is delivered again */
  | { readonly kind: 'duplicate'; readonly at: number }
  /** if delivery number `at` is a timer's, it sees a clock `seconds` ahead: it forwards its deadline early */
  | { readonly kind: 'skew'; readonly at: number; readonly seconds: number }
  /** the train message of this client and round waits `seconds` before it can be received (a slow client) */
  | { readonly kind: 'delay-train'; readonly round: number; readonly clientId: string; readonly seconds: number };

export interface Schedule {
  readonly seed: number;
  readonly faults: readonly Fault[];
}

export interface SimSettings {
  readonly experimentId: string;
  readonly config: Record<string, unknown>;
  /** visibility timeouts and redrive, as deployed */
  readonly queues: Readonly<Record<QueueRole, Omit<SimQueueSettings, 'name'>>>;
  /** seconds between Lambda's retries of a failed asynchronous (S3-triggered) invocation */
  readonly startRetryDelaysSeconds: readonly number[];
  readonly maxVirtualSeconds: number;
  readonly maxInvocations: number;
  /** messages of one FIFO group the aggregator gets per invocation (the stack's event source: 10); default 1 */
  readonly aggregateBatchSize?: number;
  /** train messages a trainer gets per invocation (the stack's `-c trainBatchSize`, flambda run's --train-batch); default 1 */
  readonly trainBatchSize?: number;
  /**
   * A crash replaces the container, as Lambda replaces one whose invocation died: what it cached and remembered is
   * gone, and the next invocations start cold. Default: the same warm container outlives crashes (the stricter case
   * for what a cache may hold).
   */
  readonly replaceContainerOnCrash?: boolean;
}

export interface SimOutcome {
  readonly status: ExperimentStatus | undefined;
  /** sha-256 of the final model, and of each round's global model */
  readonly finalModel: string | undefined;
  readonly globals: readonly (string | undefined)[];
  /** the accepted clients of each round, as its metrics list them */
  readonly accepted: readonly (readonly string[])[];
  readonly operations: readonly Operation[];
  readonly reads: number;
  readonly deliveries: number;
  readonly invocations: number;
  readonly deadLetters: number;
  readonly faultsFired: number;
  readonly virtualSeconds: number;
  readonly invocationStats: readonly InvocationStats[];
  /** the run hit a limit (virtual time or invocations) instead of draining */
  readonly limit?: string;
}

/** What one invocation cost: S3 requests and bytes, SQS calls (the lease and sends; the event source's delete apart). */
export interface InvocationStats {
  readonly fn: FunctionName;
  /** the message's type (train, start, update, deadline) */
  readonly type: string;
  s3Reads: number;
  s3ReadBytes: number;
  /** reads of a round's per-client objects (a report, an update and the files sent with it, a verdict), and their bytes */
  clientReads: number;
  clientReadBytes: number;
  /** reads of an experiment's config.resolved.json and partition.json (a warm aggregator reads them once a round) */
  experimentReads: number;
  s3Writes: number;
  s3WriteBytes: number;
  sqsCalls: number;
}

