import { connectCloud, type CloudConnection } from '../cloud/connect.js';
import { jsonLineLog, type Log, type PipelineContext } from './context.js';

export interface CloudContextOptions extends CloudConnection {
  readonly log?: Log;
  readonly experimentRetentionDays?: number;
}

/** A PipelineContext over real S3 and SQS (AWS, LocalStack, or the local emulator when `endpoint` is set). */
export function createCloudContext(options: CloudContextOptions): PipelineContext {
  const { store, queues } = connectCloud(options);
  return {
    store,
    queues,
    now: () => new Date(),
    log: options.log ?? jsonLineLog,
    ...(options.experimentRetentionDays !== undefined ? { experimentRetentionDays: options.experimentRetentionDays } : {}),
  };
}

/** FLAMBDA_EXPERIMENT_RETENTION_DAYS: a positive number of days, or unset / 0 for objects that never expire. */
export function retentionFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const text = env.FLAMBDA_EXPERIMENT_RETENTION_DAYS;
  if (text === undefined || text.trim() === '') return undefined;
  const days = Number(text);
  if (!Number.isFinite(days) || days < 0) {
    throw new MissingEnvironmentError(`environment variable FLAMBDA_EXPERIMENT_RETENTION_DAYS must be a number of days ≥ 0 (got "${text}")`);
  }
  return days > 0 ? days : undefined;
}

export class MissingEnvironmentError extends Error {
  override name = 'MissingEnvironmentError';
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new MissingEnvironmentError(`environment variable ${name} is not set (the CDK stack sets it on every function)`);
  return value;
}

let fromEnv: PipelineContext | undefined;

/** The Lambda handlers' context: built once per container from the variables the stack sets. */
export async function contextFromEnv(): Promise<PipelineContext> {
  fromEnv ??= createCloudContext({
    bucket: required(process.env, 'FLAMBDA_BUCKET'),
    queueUrls: {
      train: required(process.env, 'FLAMBDA_TRAIN_QUEUE_URL'),
      aggregate: required(process.env, 'FLAMBDA_AGGREGATE_QUEUE_URL'),
      timer: required(process.env, 'FLAMBDA_TIMER_QUEUE_URL'),
    },
    experimentRetentionDays: retentionFromEnv(process.env),
  });
  return fromEnv;
}
