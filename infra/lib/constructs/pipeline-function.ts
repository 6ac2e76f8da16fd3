import path from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { RUNTIME_PIN_REASON } from '../acknowledgements.js';
import { ESM_REQUIRE_BANNER, NEVER_BUNDLED, ZIP_NODE_TARGET, WASM_BINARIES } from '../bundle-options.js';
import { FUNCTIONS_DIR, LOCK_FILE, REPO_ROOT } from '../paths.js';
import type { LambdaArchitecture } from '../settings.js';

export type HandlerName = 'start' | 'train' | 'aggregate' | 'timer';

/**
 * Lambda's Node runtime for every zip function, the major of ZIP_NODE_TARGET. The container-image trainer stays on
 * Node 22 (IMAGE_NODE_TARGET): tfjs-node 4.22.0 calls util.isNullOrUndefined, which Node 23 removed.
 */
export const NODE_RUNTIME = Runtime.NODEJS_24_X;

/** Lambda unpacks zip code here; FLAMBDA_WASM_DIR points at it because the bundle's .wasm files sit next to index.mjs. */
export const LAMBDA_TASK_ROOT = '/var/task';

/** The esbuild settings of every zip function; `withWasm` adds the tfjs-backend-wasm binaries to the asset. */
export function esmBundling(withWasm: boolean): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    target: ZIP_NODE_TARGET,
    banner: ESM_REQUIRE_BANNER,
    minify: true,
    // Stack traces in CloudWatch name our source files (NODE_OPTIONS=--enable-source-maps below).
    sourceMap: true,
    sourceMapMode: SourceMapMode.DEFAULT,
    sourcesContent: false,
    // The SDK is bundled so each function runs the versions package-lock.json pins, not the runtime's.
    externalModules: [...NEVER_BUNDLED],
    tsconfig: path.join(REPO_ROOT, 'tsconfig.json'),
    forceDockerBundling: false,
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      // inputDir is the repo root (or its mount when CDK falls back to Docker bundling), so the path works in both.
      afterBundling: (inputDir: string, outputDir: string) =>
        withWasm
          ? WASM_BINARIES.map(
              (file) => `cp "${path.posix.join(inputDir, 'node_modules/@tensorflow/tfjs-backend-wasm/dist', file)}" "${outputDir}/${file}"`,
            )
          : [],
    },
  };
}

export interface PipelineFunctionProps {
  readonly handler: HandlerName;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly architecture: LambdaArchitecture;
  /** Runs TensorFlow.js: ships the wasm binaries and selects the wasm backend. */
  readonly tfjs: boolean;
  readonly environment: Readonly<Record<string, string>>;
  readonly logRetention: RetentionDays;
  /** A fixed name (logGroupNames in names.ts), so the log group is known before the deploy. */
  readonly logGroupName: string;
}

/**
 * One handler of functions/ as an esbuild-bundled zip function with its own role and log group. The role starts
 * empty but for writing to that log group (no AWSLambdaBasicExecutionRole): the stack adds exactly the bucket
 * prefixes and queues the handler uses.
 */
export class PipelineFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    this.logGroup = functionLogGroup(this, props.logGroupName, props.logRetention);
    this.role = functionRole(this, this.logGroup);
    this.function = new NodejsFunction(this, 'Function', {
      entry: path.join(FUNCTIONS_DIR, `${props.handler}.ts`),
      handler: 'handler',
      description: props.description,
      runtime: NODE_RUNTIME,
      architecture: props.architecture === 'arm64' ? Architecture.ARM_64 : Architecture.X86_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      projectRoot: REPO_ROOT,
      depsLockFilePath: LOCK_FILE,
      bundling: esmBundling(props.tfjs),
      environment: {
        ...props.environment,
        NODE_OPTIONS: '--enable-source-maps',
        ...(props.tfjs ? { FLAMBDA_BACKEND: 'wasm', FLAMBDA_WASM_DIR: LAMBDA_TASK_ROOT } : {}),
      },
    });
    Validations.of(this.function).acknowledge({ id: 'AwsSolutions-L1', reason: RUNTIME_PIN_REASON });
  }
}

/**
 * A function's log group under a fixed name. Deleted with the stack whatever `removal` says: a retained group with a
 * fixed name would make the next deploy of the same stack fail ("already exists"), and results live in the bucket.
 */
export function functionLogGroup(scope: Construct, logGroupName: string, retention: RetentionDays): LogGroup {
  return new LogGroup(scope, 'Logs', { logGroupName, retention, removalPolicy: RemovalPolicy.DESTROY });
}

export function functionRole(scope: Construct, logGroup: LogGroup): Role {
  const role = new Role(scope, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  logGroup.grantWrite(role);
  return role;
}
