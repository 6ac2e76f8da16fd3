import { Option, type Command } from 'commander';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createCloudFormationClient, createS3Client } from '../shared/cloud/clients.js';
import { readStackOutputs, requireStackOutput } from '../shared/cloud/cloudformation.js';
import type { ObjectStore } from '../shared/cloud/ports.js';
import { S3ObjectStore } from '../shared/cloud/s3-store.js';
import { startLocalCloud } from '../local/cloud.js';
import { defaultHandlers } from '../local/default-handlers.js';
import { defaultDataDir, DirectoryObjectStore } from '../local/directory-store.js';
import { STACK_OUTPUTS } from '../infra/lib/outputs.js';
import { MAX_TRAIN_BATCH } from '../shared/cloud/resources.js';
import { UserError } from './errors.js';

export type TargetName = 'local' | 'aws' | 'localstack';
export const TARGETS: readonly TargetName[] = ['local', 'aws', 'localstack'];
export const DEFAULT_STACK = 'Flambda';
export const LOCALSTACK_ENDPOINT = 'http://127.0.0.1:4566';
export const LOCAL_BUCKET = 'flambda';

export interface TargetOptions {
  readonly target: TargetName;
  readonly stack: string;
  readonly bucket?: string;
  readonly endpoint?: string;
  /** local target: where the embedded cloud's JSON-line log goes (it would drown the progress display on stdout) */
  readonly logFile?: string;
  /** local target: training worker threads (default: one per core) */
  readonly trainWorkers?: number;
  /** local target: the emulator on a thread of its own (default: on the main thread) */
  readonly emulatorThread?: boolean;
  /** local target: clients per trainer invocation (default: the stack's, 1) */
  readonly trainBatch?: number;
  /** local target: imported datasets to copy from the local dataset library (default: none) */
  readonly datasets?: readonly string[];
}

/** Where experiments go: a bucket to upload configs to and watch, and how to let go of it afterwards. */
export interface Target {
  readonly description: string;
  readonly store: ObjectStore;
  close(): Promise<void>;
}

/** --target, --stack, --bucket, --endpoint: where `run` and `status` find the bucket. */
export function addTargetOptions(command: Command, verb: string): Command {
  return command
    .addOption(new Option('-t, --target <target>', verb).choices(TARGETS).default('local'))
    .option('--stack <name>', 'CloudFormation stack to read the bucket from (aws, localstack)', DEFAULT_STACK)
    .option('--bucket <name>', 'bucket to use instead of the stack output')
    .option('--endpoint <url>', 'S3 endpoint: LocalStack (default $AWS_ENDPOINT_URL or http://127.0.0.1:4566) or a running `flambda dev`');
}

/** --train-batch: clients per trainer invocation, 1 to MAX_TRAIN_BATCH, or undefined when not given. */
export function parseTrainBatch(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const batch = Number(value);
  if (!Number.isInteger(batch) || batch < 1 || batch > MAX_TRAIN_BATCH) {
    throw new UserError(`--train-batch must be an integer from 1 to ${MAX_TRAIN_BATCH}, SQS's most messages a receive (got "${value}")`);
  }
  return batch;
}

/** --workers: a positive integer, or undefined when not given. */
export function parseWorkers(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const workers = Number(value);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new UserError(`--workers must be an integer from 1 to 256 (got "${value}")`);
  return workers;
}

export function parseTargetName(value: string): TargetName {
  if ((TARGETS as readonly string[]).includes(value)) return value as TargetName;
  throw new UserError(`--target must be one of ${TARGETS.join(', ')} (got "${value}")`);
}

export async function openTarget(options: TargetOptions): Promise<Target> {
  if (options.target === 'local' && !options.endpoint) {
    const logStream = options.logFile ? await openLogFile(options.logFile) : undefined;
    const cloud = await startLocalCloud({
      handlers: defaultHandlers(),
      ...(options.datasets?.length ? { datasets: { from: new DirectoryObjectStore(defaultDataDir()), names: options.datasets } } : {}),
      ...(options.trainWorkers ? { trainWorkers: options.trainWorkers } : {}),
      ...(options.emulatorThread ? { emulatorThread: true } : {}),
      ...(options.trainBatch ? { batchSize: { train: options.trainBatch } } : {}),
      ...(logStream ? { log: (event, fields = {}) => logStream.write(`${JSON.stringify({ time: new Date().toISOString(), event, ...fields })}\n`) } : {}),
    });
    return {
      description: `embedded local cloud (${cloud.endpoint}, ${cloud.trainWorkers} training worker${cloud.trainWorkers === 1 ? '' : 's'}${(options.trainBatch ?? 1) > 1 ? `, up to ${options.trainBatch} clients a trainer invocation` : ''}${options.emulatorThread ? ', emulator on a thread of its own' : ''}${options.logFile ? `, log: ${options.logFile}` : ''})`,
      store: cloud.context.store,
      close: async () => {
        await cloud.stop();
        await new Promise((resolve) => (logStream ? logStream.end(resolve) : resolve(undefined)));
      },
    };
  }
  const endpoint = options.endpoint ?? (options.target === 'localstack' ? process.env.AWS_ENDPOINT_URL ?? LOCALSTACK_ENDPOINT : undefined);
  // A `flambda dev` cloud always serves the same bucket as the embedded one.
  const bucket = options.bucket ?? (options.target === 'local' ? LOCAL_BUCKET : await bucketFromStack(options.stack, endpoint));
  const where = options.target === 'aws' && !endpoint ? 'AWS' : endpoint;
  return {
    description: `s3://${bucket} (${where})`,
    store: new S3ObjectStore(createS3Client({ endpoint }), bucket),
    close: async () => {},
  };
}

async function openLogFile(file: string): Promise<WriteStream> {
  await mkdir(path.dirname(file), { recursive: true });
  return createWriteStream(file, { flags: 'a' });
}

async function bucketFromStack(stackName: string, endpoint: string | undefined): Promise<string> {
  try {
    const stack = await readStackOutputs(createCloudFormationClient({ endpoint }), stackName);
    return requireStackOutput(stack, STACK_OUTPUTS.bucketName);
  } catch (error) {
    throw new UserError(`${(error as Error).message}${endpoint ? ` (endpoint ${endpoint})` : ''}; or pass --bucket`);
  }
}
