import { connectCloud, type CloudConnection } from '../cloud/connect.js';
import { jsonLineLog, type Log, type PipelineContext } from './context.js';

export interface CloudContextOptions extends CloudConnection {
  readonly log?: Log;
}

/** A PipelineContext over real S3 and SQS (AWS, LocalStack, or the local emulator when `endpoint` is set). */
export function createCloudContext(options: CloudContextOptions): PipelineContext {
  const { store, queues } = connectCloud(options);
  return { store, queues, now: () => new Date(), log: options.log ?? jsonLineLog };
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
  });
  return fromEnv;
}
