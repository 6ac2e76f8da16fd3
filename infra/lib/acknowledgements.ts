import { CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag acknowledgements shared by several constructs. Each one names a single finding (v3 has no rule-wide
 * suppression) and says why it is acceptable, so a new wildcard still fails the synth.
 */

/** What aws-cdk-lib's bucket grants expand to; the resource side is always one bucket and one key pattern. */
export const GRANT_ACTION_REASONS = {
  read: {
    'Action::s3:GetObject*':
      'From Bucket.grantRead on one key pattern: GetObject plus its read-only variants (version, tagging, attributes).',
    'Action::s3:GetBucket*':
      'Part of Bucket.grantRead: read-only metadata (location, encryption, policy status) of this one bucket, no object data.',
    'Action::s3:List*':
      'From Bucket.grantRead on this one bucket: without s3:ListBucket S3 answers 403 instead of 404 for a missing ' +
      'key, and the pipeline reads optional objects (status, round state, server state) and treats "missing" as a state.',
  },
  write: {
    'Action::s3:Abort*':
      'From Bucket.grantPut on one key pattern: lets the writer abort its own failed multipart uploads (objects > 8 MiB).',
  },
} as const;

/**
 * Acknowledges the findings of `bucket.grantRead/grantPut(grantee, pattern)` for exactly the patterns granted;
 * `wildcards` says what the `*` in them stand for.
 */
export function acknowledgeBucketGrants(
  scope: IConstruct,
  bucket: IBucket,
  grants: { readonly read: readonly string[]; readonly write: readonly string[] },
  wildcards: string,
): void {
  const validations = Validations.of(scope);
  const actions = {
    ...(grants.read.length > 0 ? GRANT_ACTION_REASONS.read : {}),
    ...(grants.write.length > 0 ? GRANT_ACTION_REASONS.write : {}),
  };
  for (const [finding, reason] of Object.entries(actions)) {
    validations.acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason });
  }
  const bucketArn = bucketArnAsNagShowsIt(bucket);
  for (const pattern of new Set([...grants.read, ...grants.write])) {
    validations.acknowledge({
      id: `AwsSolutions-IAM5[Resource::${bucketArn}/${pattern}]`,
      reason: `One kind of object only (${pattern}): the wildcards stand for ${wildcards}.`,
    });
  }
}

/** A bucket's ARN as cdk-nag prints it: `<LogicalId.Arn>` for one this stack creates, the literal ARN for an adopted one. */
function bucketArnAsNagShowsIt(bucket: IBucket): string {
  const resource = bucket.node.defaultChild;
  if (resource instanceof CfnElement) return `<${Stack.of(bucket).getLogicalId(resource)}.Arn>`;
  return `arn:<AWS::Partition>:s3:::${bucket.bucketName}`;
}

/** Lambda runtime pin (AwsSolutions-L1), acknowledged on each zip function. */
export const RUNTIME_PIN_REASON =
  'Pinned to nodejs24.x on purpose: the bundles target node24 and are run by the test suite; a newer runtime is ' +
  'adopted as a tested change (tfjs 4.22 wasm glue, native fetch/streams), not automatically.';

/** aws-cdk-lib's BucketNotificationsHandler comes with AWSLambdaBasicExecutionRole; it runs only during deployments. */
export function acknowledgeCdkHandlers(stack: Stack): void {
  for (const child of stack.node.children) {
    if (child.node.id.startsWith('BucketNotificationsHandler')) {
      Validations.of(child).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          'aws-cdk-lib\'s BucketNotificationsHandler (it applies the S3 → start function notification at deploy time) ' +
          'ships with this role; it only writes its own logs and runs only during deployments.',
      });
    }
  }
}
