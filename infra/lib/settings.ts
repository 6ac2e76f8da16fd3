import { z } from 'zod';
import { EVENT_SOURCE_BATCH_SIZE, MAX_TRAIN_BATCH } from '../../shared/cloud/resources.js';
import { DEFAULT_STACK_NAME, stackNameProblem } from './names.js';

export { DEFAULT_STACK_NAME } from './names.js';

/**
 * Deploy-time choices, read from CDK context (`-c key=value` or cdk.json). CDK passes every context value from the
 * command line as a string, so numbers are coerced here; a bad value or a misspelt key fails the synth, naming it.
 */

const TARGETS = ['aws', 'localstack'] as const;

/** The train event source's default maximum concurrency (`-c trainConcurrency`). */
export const DEFAULT_TRAIN_CONCURRENCY = 50;
const KEY_ID = /^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const KEY_ARN = /^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:\d{12}:key\/(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const LOG_RETENTION_DAYS: readonly number[] = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

const contextSchema = z.strictObject({
  stackName: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9-]*$/, 'letters, digits and hyphens, starting with a letter')
    .superRefine((name, context) => {
      const problem = stackNameProblem(name);
      if (problem) context.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  /** `localstack` changes only defaults (destroyable data, host architecture); every value can still be set. */
  target: z.enum(TARGETS).default('aws'),
  trainer: z.enum(['zip', 'image']).default('zip'),
  /** `retain` keeps the bucket and its data when the stack is deleted; `destroy` empties and deletes it. */
  removal: z.enum(['retain', 'destroy']).optional(),
  architecture: z.enum(['arm64', 'x86_64']).optional(),
  /** Objects under experiments/ expire this many days after they were written; 0 keeps them forever. */
  experimentRetentionDays: z.coerce.number().int().min(0).max(3650).default(30),
  logRetentionDays: z.coerce
    .number()
    .int()
    .refine((days) => LOG_RETENTION_DAYS.includes(days), `one of CloudWatch Logs' retention periods: ${LOG_RETENTION_DAYS.join(', ')}`)
    .default(30),
  /** Upper bound on concurrently running trainers (SQS event source maxConcurrency, 2–1000). */
  trainConcurrency: z.coerce.number().int().min(2).max(1000).default(DEFAULT_TRAIN_CONCURRENCY),
  /**
   * Clients per trainer invocation (the train event source's batch size, 1–10): for many small clients, whose
   * invocations, cold starts and event-source scaling cost more than their training (docs/scale.md).
   */
  trainBatchSize: z.coerce.number().int().min(1).max(MAX_TRAIN_BATCH).default(EVENT_SOURCE_BATCH_SIZE.train),
  /** An SNS topic that every alarm notifies; without it the alarms only change state in CloudWatch. */
  alarmTopicArn: z.string().regex(/^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'an SNS topic ARN').optional(),
  /**
   * Adopt an existing bucket instead of creating one, e.g. the bucket a destroyed stack retained. The stack then
   * only adds its S3 notification and the functions' grants; the bucket's own settings stay as they are.
   */
  bucketName: z
    .string()
    .regex(/^(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name: 3–63 lower-case letters, digits, dots and hyphens')
    .optional(),
  /** The KMS key given to `cdk bootstrap --bootstrap-kms-key-id`: the MNIST copy reads the assets it encrypts. */
  bootstrapKmsKeyId: z
    .string()
    .superRefine((value, context) => {
      if (/(^alias\/)|(:alias\/)/.test(value)) {
        context.addIssue({ code: 'custom', message: 'a key id or key ARN, not an alias (IAM cannot grant kms:Decrypt through an alias)' });
      } else if (!KEY_ID.test(value) && !KEY_ARN.test(value)) {
        context.addIssue({ code: 'custom', message: 'a KMS key id (1234abcd-12ab-34cd-56ef-1234567890ab, mrk-…) or key ARN (arn:aws:kms:<region>:<account>:key/<id>)' });
      }
    })
    .optional(),
});

export type DeployTarget = (typeof TARGETS)[number];
export type TrainerPackaging = 'zip' | 'image';
export type RemovalChoice = 'retain' | 'destroy';
export type LambdaArchitecture = 'arm64' | 'x86_64';

export interface FlambdaSettings {
  readonly stackName: string;
  readonly target: DeployTarget;
  readonly trainer: TrainerPackaging;
  readonly removal: RemovalChoice;
  /** of the zip functions; the tfjs-node trainer image is always x86_64 (see infra/docker/trainer.Dockerfile) */
  readonly architecture: LambdaArchitecture;
  readonly experimentRetentionDays: number;
  readonly logRetentionDays: number;
  readonly trainConcurrency: number;
  /** clients per trainer invocation: the train event source's batch size */
  readonly trainBatchSize: number;
  readonly alarmTopicArn: string | undefined;
  readonly bucketName: string | undefined;
  readonly bootstrapKmsKeyId: string | undefined;
}

/** Receives before a message moves to its dead-letter queue: shared with the local cloud, reasons beside it. */
export { MAX_RECEIVE_COUNTS } from '../../shared/cloud/resources.js';

export const CONTEXT_KEYS = Object.keys(contextSchema.shape) as readonly (keyof typeof contextSchema.shape)[];

export class SettingsError extends Error {
  override name = 'SettingsError';
}

function hostArchitecture(): LambdaArchitecture {
  return process.arch === 'arm64' ? 'arm64' : 'x86_64';
}

/** Plain-named context keys that CDK itself may write (`cdk acknowledge`); its others contain ':' or start with '@'. */
const CDK_PLAIN_CONTEXT_KEYS: ReadonlySet<string> = new Set(['acknowledged-issue-numbers']);

/** Context keys that look like ours but are not (`-c trainr=image` would otherwise deploy the default quietly). */
export function unknownContextKeys(allContext: Readonly<Record<string, unknown>>): string[] {
  const ours: ReadonlySet<string> = new Set(CONTEXT_KEYS);
  return Object.keys(allContext).filter((key) => !/[:@/]/.test(key) && !ours.has(key) && !CDK_PLAIN_CONTEXT_KEYS.has(key));
}

/**
 * Builds the settings from a context lookup (`node.tryGetContext`); `allContext` (`node.getAllContext()`), when
 * given, is checked for misspelt keys.
 */
export function settingsFromContext(
  tryGetContext: (key: string) => unknown,
  allContext?: Readonly<Record<string, unknown>>,
): FlambdaSettings {
  const unknown = allContext ? unknownContextKeys(allContext) : [];
  if (unknown.length > 0) {
    throw new SettingsError(`unknown CDK context ${unknown.map((key) => `-c ${key}`).join(', ')}: flambda reads ${CONTEXT_KEYS.join(', ')}`);
  }
  const raw: Record<string, unknown> = {};
  for (const key of CONTEXT_KEYS) {
    const value = tryGetContext(key);
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const parsed = contextSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  -c ${issue.path.join('.') || '?'}: ${issue.message}`);
    throw new SettingsError(`invalid CDK context:\n${problems.join('\n')}`);
  }
  const context = parsed.data;
  const local = context.target === 'localstack';
  return {
    stackName: context.stackName ?? DEFAULT_STACK_NAME,
    target: context.target,
    trainer: context.trainer,
    // LocalStack state is disposable and `cdklocal destroy` should leave nothing behind; real data is kept by default.
    removal: context.removal ?? (local ? 'destroy' : 'retain'),
    // LocalStack runs Lambdas in containers of the function's architecture; a foreign one needs QEMU on the host.
    architecture: context.architecture ?? (local ? hostArchitecture() : 'arm64'),
    experimentRetentionDays: context.experimentRetentionDays,
    logRetentionDays: context.logRetentionDays,
    trainConcurrency: context.trainConcurrency,
    trainBatchSize: context.trainBatchSize,
    alarmTopicArn: context.alarmTopicArn,
    bucketName: context.bucketName,
    bootstrapKmsKeyId: context.bootstrapKmsKeyId,
  };
}
