/**
 * `npm run deploy:local` / `npm run destroy:local`: checks LocalStack answers, then runs cdklocal with the
 * environment it needs. Usage: tsx infra/bin/localstack.ts deploy|destroy [extra cdk arguments]
 */
import { spawnSync } from 'node:child_process';
import { cdklocalEnvironment, LOCALSTACK_START_HINT, localStackEndpoint, MIN_LOCALSTACK_VERSION, probeLocalStack } from '../lib/localstack.js';
import { REPO_ROOT } from '../lib/paths.js';

const COMMANDS: Record<string, string[][]> = {
  deploy: [
    ['bootstrap'],
    ['deploy', '--require-approval', 'never', '-c', 'target=localstack', '--outputs-file', 'cdk.out/localstack-outputs.json'],
  ],
  destroy: [['destroy', '--force', '-c', 'target=localstack']],
};

async function main(): Promise<number> {
  const [command = '', ...extra] = process.argv.slice(2);
  const steps = COMMANDS[command];
  if (!steps) {
    console.error(`usage: tsx infra/bin/localstack.ts ${Object.keys(COMMANDS).join('|')} [cdk arguments]`);
    return 2;
  }
  const endpoint = localStackEndpoint();
  const probe = await probeLocalStack(endpoint);
  if (!probe.ok) {
    console.error(
      `flambda: ${probe.reason}.\nStart LocalStack ${MIN_LOCALSTACK_VERSION} or newer first (it needs Docker and an auth token), e.g.\n  ` +
        `${LOCALSTACK_START_HINT}\nor point LOCALSTACK_ENDPOINT / AWS_ENDPOINT_URL at a running one.`,
    );
    return 1;
  }
  console.log(`flambda: LocalStack ${probe.version} (${probe.edition}) at ${endpoint}`);
  const env = cdklocalEnvironment(endpoint);
  for (const [index, step] of steps.entries()) {
    const args = index === steps.length - 1 ? [...step, ...extra] : step;
    const result = spawnSync('npx', ['--no-install', 'cdklocal', ...args, '--no-notices'], { cwd: REPO_ROOT, env, stdio: 'inherit' });
    if (result.status !== 0) return result.status ?? 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
