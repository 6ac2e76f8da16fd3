import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { doctorCommand, nodeCheck } from '../cli/commands/doctor.js';
import { contextFromArgs } from '../infra/lib/cdk-args.js';
import { concurrencyVerdict, OTHER_FUNCTIONS_HEADROOM } from '../infra/lib/concurrency.js';
import {
  LOCALSTACK_AUTH_TOKEN_VARIABLE,
  LOCALSTACK_MIN_VERSION_RUNTIMES,
  MIN_LOCALSTACK_VERSION,
  probeLocalStack,
  REQUIRED_SERVICES,
  versionAtLeast,
} from '../infra/lib/localstack.js';
import { REPO_ROOT } from '../infra/lib/paths.js';
import { createLogsClient, searchLogEvents } from '../shared/cloud/log-events.js';
import { lambdaAccountSettings, startFakeEndpoint, type FakeEndpoint } from './helpers/fake-endpoints.js';

/**
 * The deploy tooling around the stack: the Lambda concurrency check (a pure verdict, `flambda doctor --target aws`
 * and `npm run deploy`'s preflight, both through the real AWS SDK against a fake Lambda endpoint), the LocalStack
 * version gate, and the CloudWatch Logs search behind `flambda logs --target aws`. No AWS account is involved.
 */
const execFileAsync = promisify(execFile);
const endpoints: FakeEndpoint[] = [];
afterEach(async () => {
  for (const endpoint of endpoints.splice(0)) await endpoint.close();
  process.exitCode = undefined;
});

async function fake(handler: Parameters<typeof startFakeEndpoint>[0]): Promise<FakeEndpoint> {
  const endpoint = await startFakeEndpoint(handler);
  endpoints.push(endpoint);
  return endpoint;
}

/** Runs a command as cli/main.ts mounts it; returns what it printed and the exit code it set. */
async function run(command: Command, args: readonly string[]) {
  const out: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')));
  try {
    await new Command('flambda').exitOverride().addCommand(command).parseAsync([command.name(), ...args], { from: 'user' });
  } finally {
    log.mockRestore();
  }
  return { stdout: out.join('\n'), exitCode: process.exitCode };
}

describe('Lambda concurrency verdict', () => {
  it('accepts a trainConcurrency that leaves the other functions their headroom', () => {
    expect(concurrencyVerdict({ limit: 1000, unreserved: 1000, trainConcurrency: 50 })).toMatchObject({ level: 'ok' });
    expect(concurrencyVerdict({ limit: 100, unreserved: 60, trainConcurrency: 60 - OTHER_FUNCTIONS_HEADROOM }).level).toBe('ok');
  });

  it('warns when trainers would leave fewer than the headroom, suggesting a value that fits', () => {
    const verdict = concurrencyVerdict({ limit: 50, unreserved: 50, trainConcurrency: 45 });
    expect(verdict).toMatchObject({ level: 'warn', suggestedTrainConcurrency: 40 });
    expect(verdict.message).toContain('leaves 5 of 50 unreserved executions');
    expect(verdict.message).toContain('-c trainConcurrency=40');
  });

  it('refuses when trainers alone can take the whole pool, as in a new account with the default 50', () => {
    const verdict = concurrencyVerdict({ limit: 10, unreserved: 10, trainConcurrency: 50 });
    expect(verdict).toMatchObject({ level: 'refuse', suggestedTrainConcurrency: 2 });
    expect(verdict.message).toContain('can take all 10 unreserved Lambda executions');
    expect(verdict.message).toContain('-c trainConcurrency=2 (even that leaves fewer than 10)');
    expect(verdict.message).toContain('Service Quotas');
    // Reserved concurrency elsewhere in the account shrinks the pool: the unreserved number is what counts.
    expect(concurrencyVerdict({ limit: 1000, unreserved: 50, trainConcurrency: 50 }).level).toBe('refuse');
    expect(concurrencyVerdict({ limit: 1000, unreserved: 50, trainConcurrency: 50 }).message).toContain('-c trainConcurrency=40 (or less)');
  });
});

describe('flambda doctor', () => {
  it('reads the account concurrency through Lambda GetAccountSettings and fails on a pool trainers can exhaust', async () => {
    const lambda = await fake(lambdaAccountSettings(10, 10));
    const { stdout, exitCode } = await run(doctorCommand(), ['--target', 'aws', '--endpoint', lambda.url]);
    expect(lambda.requests.map((request) => `${request.method} ${request.url.split('?')[0]}`)).toEqual(['GET /2016-08-19/account-settings']);
    expect(stdout).toMatch(/^✔ node: v\d+/m);
    expect(stdout).toMatch(/^✘ lambda concurrency: us-east-1: limit 10, unreserved 10\. trainConcurrency 50 can take all 10/m);
    expect(exitCode).toBe(1);
  });

  it('passes with room to spare, and judges the --train-concurrency you will deploy with', async () => {
    const lambda = await fake(lambdaAccountSettings(1000, 900));
    expect(await run(doctorCommand(), ['--target', 'aws', '--endpoint', lambda.url])).toMatchObject({ exitCode: 0 });
    const small = await fake(lambdaAccountSettings(100, 100));
    const warned = await run(doctorCommand(), ['--target', 'aws', '--endpoint', small.url, '--train-concurrency', '95']);
    expect(warned.stdout).toMatch(/^⚠ lambda concurrency: .*leaves 5 of 100/m);
    expect(warned.exitCode).toBe(0);
  });

  it('fails with the reason when the account cannot be read', async () => {
    const broken = await fake(() => ({ status: 403, body: { message: 'not allowed' } }));
    const { stdout, exitCode } = await run(doctorCommand(), ['--target', 'aws', '--endpoint', broken.url]);
    expect(stdout).toMatch(/✘ lambda concurrency: Lambda GetAccountSettings in us-east-1 failed .*lambda:GetAccountSettings/);
    expect(exitCode).toBe(1);
  });

  it('fails on a LocalStack older than the minimum, saying how to start one', async () => {
    const services = Object.fromEntries(REQUIRED_SERVICES.map((service) => [service, 'available']));
    const old = await fake(({ url }) => (url === '/_localstack/health' ? { status: 200, body: { services, version: '4.10.2', edition: 'pro' } } : undefined));
    const { stdout, exitCode } = await run(doctorCommand(), ['--target', 'localstack', '--endpoint', old.url]);
    expect(stdout).toContain(`is 4.10.2; flambda needs ${MIN_LOCALSTACK_VERSION} or newer`);
    expect(stdout).toContain(`${LOCALSTACK_AUTH_TOKEN_VARIABLE}=<your auth token> localstack start -d`);
    expect(exitCode).toBe(1);
  });

  it('checks the Node.js version against package.json engines', () => {
    const engines = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines).toBe('>=20.11');
    expect(nodeCheck('20.11.0').level).toBe('ok');
    expect(nodeCheck('24.1.0').level).toBe('ok');
    expect(nodeCheck('20.10.9')).toMatchObject({ level: 'fail', message: 'v20.10.9; flambda needs Node.js 20.11.0 or newer' });
  });
});

describe('npm run deploy preflight', () => {
  it('reads -c pairs the way cdk does', () => {
    expect(contextFromArgs(['-c', 'trainConcurrency=8', '--context', 'trainer=image', '--context=stackName=A', '--require-approval', 'never', '-c'])).toEqual({
      trainConcurrency: '8',
      trainer: 'image',
      stackName: 'A',
    });
  });

  it('stops before cdk deploy when the account cannot fit the trainers', async () => {
    const lambda = await fake(lambdaAccountSettings(10, 10));
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_') && name !== 'FLAMBDA_SKIP_CONCURRENCY_CHECK'));
    const failure = await execFileAsync(process.execPath, ['--import', 'tsx', 'infra/bin/deploy.ts', '-c', 'trainConcurrency=50'], {
      cwd: REPO_ROOT,
      env: { ...env, AWS_ENDPOINT_URL_LAMBDA: lambda.url, AWS_REGION: 'eu-west-1' },
      timeout: 120_000,
    }).then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('flambda: not deploying to eu-west-1 (limit 10, unreserved 10): trainConcurrency 50 can take all 10');
    expect(failure?.stderr).toContain('FLAMBDA_SKIP_CONCURRENCY_CHECK=1');
    expect(lambda.requests).toHaveLength(1);
  }, 150_000);
});

describe('LocalStack version gate', () => {
  it('compares semantic and calendar versions', () => {
    expect(versionAtLeast('4.11.0', MIN_LOCALSTACK_VERSION)).toBe(true);
    expect(versionAtLeast('4.12.1.dev23', MIN_LOCALSTACK_VERSION)).toBe(true);
    expect(versionAtLeast('2026.03.0', MIN_LOCALSTACK_VERSION)).toBe(true);
    expect(versionAtLeast('4.10.9', MIN_LOCALSTACK_VERSION)).toBe(false);
    expect(versionAtLeast('3.8.1', MIN_LOCALSTACK_VERSION)).toBe(false);
    expect(versionAtLeast('latest', MIN_LOCALSTACK_VERSION)).toBeUndefined();
  });

  it('lets a new-enough LocalStack through the health probe', async () => {
    const services = Object.fromEntries(REQUIRED_SERVICES.map((service) => [service, 'running']));
    const current = await fake(({ url }) => (url === '/_localstack/health' ? { status: 200, body: { services, version: '2026.03.0', edition: 'pro' } } : undefined));
    expect(await probeLocalStack(current.url)).toEqual({ ok: true, endpoint: current.url, version: '2026.03.0', edition: 'pro' });
    expect(LOCALSTACK_MIN_VERSION_RUNTIMES).toContain('nodejs24.x');
  });
});

describe('CloudWatch Logs search (flambda logs --target aws)', () => {
  it('follows every page of every log group and merges the events by time', async () => {
    const pages: Record<string, { events: { timestamp: number; message: string }[]; nextToken?: string }[]> = {
      '/flambda/Flambda/train': [
        { events: [{ timestamp: 30, message: 'train 1' }], nextToken: 't1' },
        { events: [{ timestamp: 50, message: 'train 2' }] },
      ],
      '/flambda/Flambda/aggregate': [{ events: [{ timestamp: 40, message: 'aggregate 1' }] }],
    };
    const logs = await fake(({ target, body }) => {
      if (target !== 'Logs_20140328.FilterLogEvents') return undefined;
      const request = JSON.parse(body) as { logGroupName: string; filterPattern: string; startTime?: number; nextToken?: string };
      expect(request).toMatchObject({ filterPattern: '"exp-1"', startTime: 10 });
      const groupPages = pages[request.logGroupName]!;
      return { status: 200, body: groupPages[request.nextToken === 't1' ? 1 : 0] };
    });
    const client = createLogsClient({ endpoint: logs.url });
    try {
      const result = await searchLogEvents(client, { logGroups: Object.keys(pages), filterPattern: '"exp-1"', startTime: 10 });
      expect(result.truncated).toBe(false);
      expect(result.events.map((event) => [event.timestamp, event.logGroup, event.message])).toEqual([
        [30, '/flambda/Flambda/train', 'train 1'],
        [40, '/flambda/Flambda/aggregate', 'aggregate 1'],
        [50, '/flambda/Flambda/train', 'train 2'],
      ]);
      expect(logs.requests).toHaveLength(3);
      const limited = await searchLogEvents(client, { logGroups: Object.keys(pages), filterPattern: '"exp-1"', startTime: 10, limit: 1 });
      expect(limited).toMatchObject({ truncated: true, events: [{ message: 'train 1' }] });
    } finally {
      client.destroy();
    }
  });
});
