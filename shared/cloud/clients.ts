import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';

export interface CloudClientOptions {
  /** An S3/SQS-compatible endpoint (LocalStack, the local runtime's emulator). Default: `AWS_ENDPOINT_URL`, else AWS. */
  readonly endpoint?: string;
  /** Default: `AWS_REGION`, `AWS_DEFAULT_REGION`, then the SDK's own resolution (us-east-1 for an emulator). */
  readonly region?: string;
  /** Concurrent connections per client, SDK default 50: every long-polling receive holds one for up to 20 s. */
  readonly maxSockets?: number;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The services flambda talks to, as named in the SDK's service-specific endpoint variables (AWS_ENDPOINT_URL_<NAME>). */
export type CloudService = 'S3' | 'SQS' | 'CLOUDFORMATION' | 'LAMBDA' | 'CLOUDWATCH_LOGS';

const EMULATOR_REGION = 'us-east-1';
// Emulators accept any key, but the SDK refuses to sign without one.
const EMULATOR_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** The endpoint a client of `service` talks to: the explicit one, else the SDK's standard environment variables. */
export function resolveEndpoint(options: CloudClientOptions, service: CloudService, env: Env = process.env): string | undefined {
  return nonEmpty(options.endpoint) ?? nonEmpty(env[`AWS_ENDPOINT_URL_${service}`]) ?? nonEmpty(env.AWS_ENDPOINT_URL);
}

function hasCredentialsInEnv(env: Env): boolean {
  return Boolean(
    (nonEmpty(env.AWS_ACCESS_KEY_ID) && nonEmpty(env.AWS_SECRET_ACCESS_KEY)) || nonEmpty(env.AWS_PROFILE) || nonEmpty(env.AWS_WEB_IDENTITY_TOKEN_FILE),
  );
}

export interface CommonConfig {
  endpoint?: string;
  region?: string;
  credentials?: typeof EMULATOR_CREDENTIALS;
  requestHandler?: { httpAgent: { maxSockets: number }; httpsAgent: { maxSockets: number } };
}

/** Endpoint, region, credentials for an emulator, sockets: the configuration every client here starts from. */
export function commonConfig(options: CloudClientOptions, service: CloudService, env: Env): CommonConfig {
  const endpoint = resolveEndpoint(options, service, env);
  const region = nonEmpty(options.region) ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION);
  const sockets = options.maxSockets;
  const requestHandler = sockets === undefined ? {} : { requestHandler: { httpAgent: { maxSockets: sockets }, httpsAgent: { maxSockets: sockets } } };
  if (endpoint === undefined) return { ...(region === undefined ? {} : { region }), ...requestHandler };
  return {
    endpoint,
    region: region ?? EMULATOR_REGION,
    ...(hasCredentialsInEnv(env) ? {} : { credentials: EMULATOR_CREDENTIALS }),
    ...requestHandler,
  };
}

/**
 * The SDK resolves a command's middleware stack (clone, sort, expand: a millisecond or so of CPU) on every request
 * unless told it may keep one per command class. Nothing here adds middleware to a client or command after it is
 * made, so the S3 and SQS clients, which make most of a round's requests, keep them.
 */
const CACHED_MIDDLEWARE = { cacheMiddleware: true } as const;

/** An S3 client; against an emulator endpoint it uses path-style URLs, as `bucket.127.0.0.1` does not resolve. */
export function createS3Client(options: CloudClientOptions = {}, env: Env = process.env): S3Client {
  const config = { ...commonConfig(options, 'S3', env), ...CACHED_MIDDLEWARE };
  return new S3Client(config.endpoint === undefined ? config : { ...config, forcePathStyle: true });
}

/**
 * An SQS client. With an emulator the endpoint is always passed explicitly: otherwise the SDK sends each request to
 * the host in the queue URL, and emulators hand out URLs like http://sqs.us-east-1.localhost:PORT/... that do not
 * resolve.
 */
export function createSqsClient(options: CloudClientOptions = {}, env: Env = process.env): SQSClient {
  return new SQSClient({ ...commonConfig(options, 'SQS', env), ...CACHED_MIDDLEWARE });
}

export function createCloudFormationClient(options: CloudClientOptions = {}, env: Env = process.env): CloudFormationClient {
  return new CloudFormationClient(commonConfig(options, 'CLOUDFORMATION', env));
}
