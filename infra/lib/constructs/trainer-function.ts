import { readFileSync } from 'node:fs';
import type { Duration } from 'aws-cdk-lib';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import type { Role } from 'aws-cdk-lib/aws-iam';
import { Architecture, DockerImageCode, DockerImageFunction, type Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { IgnoreMode } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { REPO_ROOT, TRAINER_DOCKERFILE, TRAINER_DOCKERIGNORE } from '../paths.js';
import type { LambdaArchitecture, TrainerPackaging } from '../settings.js';
import { functionLogGroup, functionRole, PipelineFunction } from './pipeline-function.js';

export interface TrainerFunctionProps {
  /** `zip`: esbuild bundle on the wasm backend. `image`: container with tfjs-node (needs Docker at deploy). */
  readonly packaging: TrainerPackaging;
  readonly memorySize: number;
  readonly timeout: Duration;
  /** Of the zip; the image is always x86_64. */
  readonly architecture: LambdaArchitecture;
  readonly environment: Readonly<Record<string, string>>;
  readonly logRetention: RetentionDays;
  readonly logGroupName: string;
}

/** The patterns of trainer.Dockerfile.dockerignore, so `cdk synth` stages the same small context `docker build` sees. */
export function trainerImageExcludes(): string[] {
  return readFileSync(TRAINER_DOCKERIGNORE, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** functions/train.ts in either packaging, behind one interface. */
export class TrainerFunction extends Construct {
  readonly function: LambdaFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: TrainerFunctionProps) {
    super(scope, id);
    const description = `flambda train (${props.packaging === 'zip' ? 'zip, tfjs wasm backend' : 'container image, tfjs-node'})`;
    if (props.packaging === 'zip') {
      const zip = new PipelineFunction(this, 'Zip', { ...props, handler: 'train', description, tfjs: true });
      this.function = zip.function;
      this.role = zip.role;
      this.logGroup = zip.logGroup;
      return;
    }
    this.logGroup = functionLogGroup(this, props.logGroupName, props.logRetention);
    this.role = functionRole(this, this.logGroup);
    this.function = new DockerImageFunction(this, 'Image', {
      code: DockerImageCode.fromImageAsset(REPO_ROOT, {
        file: TRAINER_DOCKERFILE,
        platform: Platform.LINUX_AMD64,
        ignoreMode: IgnoreMode.DOCKER,
        exclude: trainerImageExcludes(),
      }),
      description,
      architecture: Architecture.X86_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      // FLAMBDA_BACKEND=tensorflow is baked into the image: the engine then fails loudly if tfjs-node cannot load.
      environment: { ...props.environment },
    });
  }
}
