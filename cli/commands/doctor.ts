import { Command, Option } from 'commander';
import { checkAccountConcurrency } from '../../infra/lib/preflight.js';
import { LOCALSTACK_START_HINT, localStackEndpoint, MIN_LOCALSTACK_VERSION, probeLocalStack } from '../../infra/lib/localstack.js';
import { DEFAULT_TRAIN_CONCURRENCY } from '../../infra/lib/settings.js';
import { UserError } from '../errors.js';
import { TARGETS, type TargetName } from '../targets.js';

/** The Node.js the CLI and the local cloud need (package.json engines). */
export const MIN_NODE_VERSION = '20.11.0';

type Level = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  readonly name: string;
  readonly level: Level;
  readonly message: string;
}

interface DoctorOptions {
  target: TargetName;
  trainConcurrency?: string;
  endpoint?: string;
}

const SYMBOL: Record<Level, string> = { ok: '✔', warn: '⚠', fail: '✘' };

export function doctorCommand(): Command {
  return new Command('doctor')
    .description(
      'Check that flambda can run on a target before you use it: Node.js here; with --target aws, whether the ' +
        "account's Lambda concurrency leaves room for trainConcurrency trainers plus the other functions; with " +
        '--target localstack, that LocalStack answers, has the services the stack needs and is new enough. ' +
        'Exit code 1 if a check fails.',
    )
    .addOption(new Option('-t, --target <target>', 'what to check').choices(TARGETS).default('local'))
    .option('--train-concurrency <n>', `aws: the -c trainConcurrency you deploy with (default ${DEFAULT_TRAIN_CONCURRENCY})`)
    .option('--endpoint <url>', 'aws: a Lambda-compatible endpoint instead of AWS; localstack: LocalStack (default $LOCALSTACK_ENDPOINT, $AWS_ENDPOINT_URL or http://127.0.0.1:4566)')
    .addHelpText('after', '\nExamples:\n  flambda doctor --target aws\n  flambda doctor --target aws --train-concurrency 8\n  flambda doctor --target localstack')
    .action(async (options: DoctorOptions) => {
      const checks = await runChecks(options);
      for (const check of checks) console.log(`${SYMBOL[check.level]} ${check.name}: ${check.message}`);
      process.exitCode = checks.some((check) => check.level === 'fail') ? 1 : 0;
    });
}

function parseTrainConcurrency(value: string | undefined): number {
  if (value === undefined) return DEFAULT_TRAIN_CONCURRENCY;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 2 || parsed > 1000) throw new UserError(`--train-concurrency must be an integer from 2 to 1000 (got "${value}")`);
  return parsed;
}

async function runChecks(options: DoctorOptions): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [nodeCheck(process.versions.node)];
  if (options.target === 'aws') checks.push(await concurrencyCheck(parseTrainConcurrency(options.trainConcurrency), options.endpoint));
  if (options.target === 'localstack') checks.push(await localStackCheck(options.endpoint ?? localStackEndpoint()));
  return checks;
}

export function nodeCheck(version: string): DoctorCheck {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [needMajor = 0, needMinor = 0] = MIN_NODE_VERSION.split('.').map(Number);
  const enough = major > needMajor || (major === needMajor && minor >= needMinor);
  return enough
    ? { name: 'node', level: 'ok', message: `v${version} (flambda needs ≥ ${MIN_NODE_VERSION})` }
    : { name: 'node', level: 'fail', message: `v${version}; flambda needs Node.js ${MIN_NODE_VERSION} or newer` };
}

async function concurrencyCheck(trainConcurrency: number, endpoint: string | undefined): Promise<DoctorCheck> {
  const result = await checkAccountConcurrency(trainConcurrency, endpoint ? { endpoint } : {});
  if (result.level === 'unknown') return { name: 'lambda concurrency', level: 'fail', message: result.message };
  const where = `${result.region}: limit ${result.limit}, unreserved ${result.unreserved}`;
  const level: Level = result.level === 'refuse' ? 'fail' : result.level;
  return { name: 'lambda concurrency', level, message: `${where}. ${result.message}` };
}

async function localStackCheck(endpoint: string): Promise<DoctorCheck> {
  const probe = await probeLocalStack(endpoint);
  if (probe.ok) {
    return { name: 'localstack', level: 'ok', message: `${probe.version} (${probe.edition}) at ${probe.endpoint}; flambda needs ≥ ${MIN_LOCALSTACK_VERSION}` };
  }
  return { name: 'localstack', level: 'fail', message: `${probe.reason}. Start it with:\n    ${LOCALSTACK_START_HINT}` };
}
