import { StackOutputsError } from '../shared/cloud/cloudformation.js';
import { ObjectStoreError } from '../shared/cloud/s3-store.js';

/** A mistake the user can fix (bad path, bad option): printed as one line, exit code 2. */
export class UserError extends Error {
  override name = 'UserError';
}

/**
 * The cloud could not be reached or refused us: the environment's fault (endpoint, credentials, region), not a bug,
 * so one line that says what to check instead of a stack trace. Undefined for anything else.
 */
export function cloudAccessError(error: unknown): UserError | undefined {
  if (!(error instanceof ObjectStoreError) && !(error instanceof StackOutputsError)) return undefined;
  const text = `${error.message} ${error.cause instanceof Error ? `${error.cause.name} ${error.cause.message}` : ''}`;
  const hint = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|socket hang up/i.test(text)
    ? 'nothing answers at that endpoint: start `flambda dev` (or LocalStack) there, or fix --endpoint'
    : /Region is missing/i.test(text)
      ? 'no AWS region: set AWS_REGION (or a profile with a region)'
      : /credential/i.test(text)
        ? 'no usable AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY'
        : /AccessDenied|Forbidden|InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken/i.test(text)
          ? 'AWS refused the request: check the credentials and their permissions on the bucket'
          : /NoSuchBucket/i.test(text)
            ? 'that bucket does not exist: check --bucket or --stack'
            : undefined;
  return new UserError(hint ? `${error.message}\n  ${hint}` : error.message);
}
