/**
 * Talking to a LocalStack instance: where it is, whether it answers, and the environment `cdklocal` needs.
 * Used by `npm run deploy:local` (infra/bin/localstack.ts) and test/infra-localstack.test.ts.
 */

export const DEFAULT_LOCALSTACK_ENDPOINT = 'http://127.0.0.1:4566';

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
  return { ok: true, endpoint, version: health.version ?? 'unknown', edition: health.edition ?? 'unknown' };
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
