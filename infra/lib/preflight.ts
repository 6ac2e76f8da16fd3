import { concurrencyVerdict, type ConcurrencyVerdict } from './concurrency.js';
import { createLambdaClient, readAccountConcurrency } from '../../shared/cloud/lambda-account.js';
import type { CloudClientOptions } from '../../shared/cloud/clients.js';

/**
 * The account check run before a deploy (`npm run deploy`) and by `flambda doctor --target aws`: reads the Lambda
 * concurrency of the credentials' account and region and judges `trainConcurrency` against it.
 */
export type ConcurrencyCheck =
  | (ConcurrencyVerdict & { readonly region: string; readonly limit: number; readonly unreserved: number })
  | { readonly level: 'unknown'; readonly message: string };

export async function checkAccountConcurrency(trainConcurrency: number, options: CloudClientOptions = {}): Promise<ConcurrencyCheck> {
  const client = createLambdaClient(options);
  try {
    const account = await readAccountConcurrency(client);
    return { ...concurrencyVerdict({ ...account, trainConcurrency }), region: account.region, limit: account.limit, unreserved: account.unreserved };
  } catch (error) {
    return { level: 'unknown', message: error instanceof Error ? error.message : String(error) };
  } finally {
    client.destroy();
  }
}
