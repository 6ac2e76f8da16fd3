/**
 * `npm run deploy [-- cdk arguments]`: checks the account's Lambda concurrency against the trainConcurrency being
 * deployed (infra/lib/concurrency.ts), then runs `cdk deploy` with the same arguments. A refusal stops the deploy;
 * FLAMBDA_SKIP_CONCURRENCY_CHECK=1 deploys anyway. LocalStack deploys (`-c target=localstack`) are not checked.
 */
import { spawnSync } from 'node:child_process';
import { checkAccountConcurrency } from '../lib/preflight.js';
import { REPO_ROOT } from '../lib/paths.js';
import { SettingsError, settingsFromContext } from '../lib/settings.js';
import { cdkJsonContext } from '../lib/synth.js';
import { contextFromArgs } from '../lib/cdk-args.js';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const context = { ...cdkJsonContext(), ...contextFromArgs(args) };
  const settings = settingsFromContext((key) => context[key], context);
  if (settings.target === 'aws' && process.env.FLAMBDA_SKIP_CONCURRENCY_CHECK !== '1') {
    const check = await checkAccountConcurrency(settings.trainConcurrency);
    if (check.level === 'unknown') {
      console.warn(`flambda: could not check Lambda concurrency (${check.message}); deploying anyway.`);
    } else {
      const where = `${check.region} (limit ${check.limit}, unreserved ${check.unreserved})`;
      if (check.level === 'refuse') {
        console.error(`flambda: not deploying to ${where}: ${check.message}\nSet FLAMBDA_SKIP_CONCURRENCY_CHECK=1 to deploy anyway.`);
        return 1;
      }
      console.log(`flambda: Lambda concurrency in ${where}: ${check.message}`);
    }
  }
  const result = spawnSync('npx', ['--no-install', 'cdk', 'deploy', '--no-notices', ...args], { cwd: REPO_ROOT, stdio: 'inherit' });
  return result.status ?? 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof SettingsError || error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
