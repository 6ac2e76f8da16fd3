import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

/**
 * The Debian AWS CLI (2.9.19) and boto3 (1.26), installed by .ci/run: real clients that still speak SQS's Query
 * protocol. Absolute paths, as `aws` on PATH may be a pyenv shim of another install.
 */
export const DEBIAN_AWS_CLI = '/usr/bin/aws';
export const DEBIAN_PYTHON = '/usr/bin/python3';

const run = promisify(execFile);

export const awsCliMissing = existsSync(DEBIAN_AWS_CLI) ? undefined : `${DEBIAN_AWS_CLI} is not installed (apt-get install awscli; .ci/run does)`;

export const boto3Missing: string | undefined = await run(DEBIAN_PYTHON, ['-c', 'import boto3']).then(
  () => undefined,
  () => `boto3 is not importable by ${DEBIAN_PYTHON} (apt-get install python3-boto3; .ci/run does)`,
);

/** The environment a user would set for an emulator: any key, a region, no config files of this machine's user. */
export function clientEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_PAGER: '',
  };
}

/** `aws <args> --endpoint-url <endpoint> --output json`, parsed (undefined for commands that print nothing). */
export async function awsCli(endpoint: string, args: readonly string[]): Promise<unknown> {
  const stdout = await awsCliText(endpoint, [...args, '--output', 'json']);
  return stdout.trim() === '' ? undefined : (JSON.parse(stdout) as unknown);
}

/** `aws <args> --endpoint-url <endpoint>` as text (`aws s3 cp` prints progress lines, not JSON). */
export async function awsCliText(endpoint: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run(DEBIAN_AWS_CLI, [...args, '--endpoint-url', endpoint], { env: clientEnv(), maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** Runs a Python script with boto3; `ENDPOINT` is set, and the script prints one JSON document. */
export async function boto3Script(endpoint: string, script: string): Promise<unknown> {
  const { stdout } = await run(DEBIAN_PYTHON, ['-c', script], { env: { ...clientEnv(), ENDPOINT: endpoint }, maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as unknown;
}
