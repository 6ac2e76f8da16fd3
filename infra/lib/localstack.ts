/**
 * Talking to a LocalStack instance: where it is, whether it answers, and the environment `cdklocal` needs.
 * Used by `npm run deploy:local` (infra/bin/localstack.ts) and test/infra-localstack.test.ts.
 */

export const DEFAULT_LOCALSTACK_ENDPOINT = 'http://127.0.0.1:4566';

/**
 * The oldest LocalStack that can run the stack: 4.11 added the nodejs24.x Lambda runtime (localstack/localstack#13410,
 * Nov 2025), which the zip functions and aws-cdk-lib's own custom-resource handlers use. Later releases are
 * calendar-versioned (2026.03, …) and compare as newer.
 */
export const MIN_LOCALSTACK_VERSION = '4.11.0';

/**
 * Lambda runtimes in the template that MIN_LOCALSTACK_VERSION supports (test/infra-hardening.test.ts checks that the
 * stack uses no other: a newer one from an aws-cdk-lib upgrade means raising the minimum).
 */
export const LOCALSTACK_MIN_VERSION_RUNTIMES: readonly string[] = ['nodejs20.x', 'nodejs22.x', 'nodejs24.x', 'python3.12', 'python3.13'];

/** The variable LocalStack's images require since March 2026 (they refuse to start without it). */
export const LOCALSTACK_AUTH_TOKEN_VARIABLE = 'LOCALSTACK_AUTH_TOKEN';

/** The start command the docs give and the error messages repeat. */
export const LOCALSTACK_START_HINT =
  `${LOCALSTACK_AUTH_TOKEN_VARIABLE}=<your auth token> localstack start -d   ` +
  `(or: docker run -d -p 4566:4566 -e ${LOCALSTACK_AUTH_TOKEN_VARIABLE} -v /var/run/docker.sock:/var/run/docker.sock localstack/localstack)`;

/** What the stack and its deployment use; a LocalStack started with SERVICES=… must include these. */
export const REQUIRED_SERVICES = ['cloudformation', 'iam', 'lambda', 'logs', 's3', 'sqs', 'sts', 'ssm', 'cloudwatch'] as const;

export type LocalStackProbe =
  | { readonly ok: true; readonly endpoint: string; readonly version: string; readonly edition: string }
  | { readonly ok: false; readonly endpoint: string; readonly reason: string };

interface Health {
  readonly services?: Readonly<Record<string, string>>;
  readonly version?: string;
  readonly edition?: string;
}

/** The endpoint to use: LOCALSTACK_ENDPOINT, else AWS_ENDPOINT_URL, else LocalStack's default port on loopback. */
export function localStackEndpoint(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return (env.LOCALSTACK_ENDPOINT?.trim() || env.AWS_ENDPOINT_URL?.trim() || DEFAULT_LOCALSTACK_ENDPOINT).replace(/\/+$/, '');
}

/** Asks `<endpoint>/_localstack/health` and checks the services the stack needs are there. Never throws. */
export async function probeLocalStack(endpoint: string, timeoutMs = 3000): Promise<LocalStackProbe> {
  let health: Health;
  try {
    const response = await fetch(`${endpoint}/_localstack/health`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return { ok: false, endpoint, reason: `${endpoint}/_localstack/health answered HTTP ${response.status}` };
    health = (await response.json()) as Health;
  } catch (error) {
    const cause = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
    return { ok: false, endpoint, reason: `nothing answers ${endpoint}/_localstack/health (${cause})` };
  }
  const services = health.services ?? {};
  const missing = REQUIRED_SERVICES.filter((service) => !['available', 'running'].includes(services[service] ?? 'missing'));
  if (missing.length > 0) {
    return { ok: false, endpoint, reason: `LocalStack at ${endpoint} lacks ${missing.map((service) => `${service} (${services[service] ?? 'missing'})`).join(', ')}` };
  }
  const version = health.version ?? 'unknown';
  if (versionAtLeast(version, MIN_LOCALSTACK_VERSION) === false) {
    return { ok: false, endpoint, reason: `LocalStack at ${endpoint} is ${version}; flambda needs ${MIN_LOCALSTACK_VERSION} or newer (its functions run nodejs24.x)` };
  }
  return { ok: true, endpoint, version, edition: health.edition ?? 'unknown' };
}

/**
 * Whether a LocalStack version (`4.11.1`, `4.12.1.dev23`, `2026.03.0`) is at least `minimum`; undefined when it
 * cannot be read, so that an unusual build is let through rather than refused.
 */
export function versionAtLeast(version: string, minimum: string): boolean | undefined {
  const parse = (text: string) => /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim())?.slice(1).map((part) => Number(part ?? 0));
  const have = parse(version);
  const need = parse(minimum);
  if (!have || !need) return undefined;
  for (let index = 0; index < need.length; index++) {
    if (have[index]! !== need[index]!) return have[index]! > need[index]!;
  }
  return true;
}

/**
 * The environment for `cdklocal`: it refuses AWS_ENDPOINT_URL without AWS_ENDPOINT_URL_S3, and the S3 one needs a
 * host with an `s3.` label that resolves to LocalStack (localhost.localstack.cloud does, to 127.0.0.1) so the CDK
 * CLI's virtual-hosted bucket URLs reach it. Region variables are passed through (cdklocal drops AWS_* otherwise).
 */
export function cdklocalEnvironment(endpoint: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  let s3Endpoint = env.AWS_ENDPOINT_URL_S3?.trim();
  if (!s3Endpoint) {
    const url = new URL(endpoint);
    if (!['127.0.0.1', 'localhost', 'localhost.localstack.cloud'].includes(url.hostname)) {
      throw new Error(
        `LocalStack at ${endpoint} is not on this machine: set AWS_ENDPOINT_URL_S3 to an S3 endpoint whose "s3." subdomains ` +
          'resolve to it (see https://docs.localstack.cloud/references/network-troubleshooting/endpoint-url/)',
      );
    }
    s3Endpoint = `${url.protocol}//s3.localhost.localstack.cloud:${url.port || '4566'}`;
  }
  const allow = new Set((env.AWS_ENVAR_ALLOWLIST ?? '').split(',').map((name) => name.trim()).filter(Boolean));
  for (const name of ['AWS_REGION', 'AWS_DEFAULT_REGION']) if (env[name]) allow.add(name);
  return { ...env, AWS_ENDPOINT_URL: endpoint, AWS_ENDPOINT_URL_S3: s3Endpoint, AWS_ENVAR_ALLOWLIST: [...allow].join(',') };
}
