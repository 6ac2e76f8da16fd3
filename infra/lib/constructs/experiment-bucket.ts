import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { EXPERIMENTS_PREFIX } from '../../../shared/protocol/keys.js';
import type { RemovalChoice } from '../settings.js';

export interface ExperimentBucketProps {
  /** `retain` (default) keeps bucket and data when the stack is deleted; `destroy` empties and deletes it. */
  readonly removal: RemovalChoice;
  /** Objects under experiments/ expire this many days after they were written; 0 keeps them. */
  readonly experimentRetentionDays: number;
  /** Adopt this existing bucket (`-c bucketName=`) instead of creating one; the props above then do not apply. */
  readonly existingBucketName?: string;
}

/**
 * The one bucket: configs, MNIST, shards, models, results. Private, SSE-S3, TLS-only. No versioning: every object
 * the pipeline writes is re-derivable from its config or is written once, and versions would double storage for
 * the per-round models and updates.
 */
export class ExperimentBucket extends Construct {
  readonly bucket: IBucket;
  /** Whether this stack created the bucket (false when it adopted one). */
  readonly owned: boolean;

  constructor(scope: Construct, id: string, props: ExperimentBucketProps) {
    super(scope, id);
    if (props.existingBucketName !== undefined) {
      // An adopted bucket keeps its own encryption, policy and lifecycle: the stack only adds grants and the S3
      // notification, and never deletes it.
      this.bucket = Bucket.fromBucketName(this, 'Bucket', props.existingBucketName);
      this.owned = false;
      return;
    }
    this.owned = true;
    const destroy = props.removal === 'destroy';
    const bucket = new Bucket(this, 'Bucket', {
      // SSE-S3 rather than KMS: nothing reads the data but our own functions, and a KMS key would add a request
      // charge on every shard/update read plus key grants for each function.
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      removalPolicy: destroy ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      autoDeleteObjects: destroy,
      lifecycleRules: [
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        ...(props.experimentRetentionDays > 0
          ? [{ id: 'expire-old-experiments', prefix: EXPERIMENTS_PREFIX, expiration: Duration.days(props.experimentRetentionDays) }]
          : []),
      ],
    });
    // The TLS-only policy stays with a retained bucket: CDK would otherwise delete it with the stack, leaving the
    // orphaned bucket (which a later stack may adopt with -c bucketName) without it.
    if (!destroy) bucket.policy?.applyRemovalPolicy(RemovalPolicy.RETAIN);
    this.bucket = bucket;
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Private, TLS-only bucket whose functions log each pipeline step (start, train, round closed) per experiment ' +
        'to CloudWatch Logs. Server access logs would need a second bucket and record ' +
        'every shard and update request; where an audit trail is required, enable CloudTrail S3 data events.',
    });
  }
}
