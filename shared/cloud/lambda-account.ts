import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { commonConfig, type CloudClientOptions } from './clients.js';

/** The account's Lambda concurrency in the client's region, as GetAccountSettings reports it. */
export interface AccountConcurrency {
  readonly region: string;
  /** Concurrent executions of the whole account in this region (new accounts may get as little as 10). */
  readonly limit: number;
  /** What is left after every function's reserved concurrency: the pool all our functions share. */
  readonly unreserved: number;
}

export class AccountSettingsError extends Error {
  override name = 'AccountSettingsError';
}

export function createLambdaClient(options: CloudClientOptions = {}, env: Readonly<Record<string, string | undefined>> = process.env): LambdaClient {
  return new LambdaClient(commonConfig(options, 'LAMBDA', env));
}

/** Reads Lambda GetAccountSettings; throws an AccountSettingsError that says what to check when it cannot. */
export async function readAccountConcurrency(client: LambdaClient): Promise<AccountConcurrency> {
  const region = await client.config.region().catch(() => undefined);
  if (!region) throw new AccountSettingsError('no AWS region configured: set AWS_REGION (or a region in your AWS profile)');
  let limit: number | undefined;
  let unreserved: number | undefined;
  try {
    const settings = await client.send(new GetAccountSettingsCommand({}));
    limit = settings.AccountLimit?.ConcurrentExecutions;
    unreserved = settings.AccountLimit?.UnreservedConcurrentExecutions;
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new AccountSettingsError(
      `Lambda GetAccountSettings in ${region} failed (${reason}): check your AWS credentials and region, and that they allow lambda:GetAccountSettings`,
      { cause: error },
    );
  }
  if (limit === undefined || unreserved === undefined) {
    throw new AccountSettingsError(`Lambda GetAccountSettings in ${region} returned no concurrency limits`);
  }
  return { region, limit, unreserved };
}
