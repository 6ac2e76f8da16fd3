import { createS3Client, createSqsClient, type CloudClientOptions } from './clients.js';
import type { ObjectStore, PipelineQueues } from './ports.js';
import { S3ObjectStore } from './s3-store.js';
import { SqsMessageQueue } from './sqs-queue.js';

/** Where a pipeline's bucket and queues are: what a Lambda reads from its environment, or the local runtime hands a worker. */
export interface CloudConnection extends CloudClientOptions {
  readonly bucket: string;
  readonly queueUrls: { readonly train: string; readonly aggregate: string; readonly timer: string };
}

export interface CloudPorts {
  readonly store: ObjectStore;
  readonly queues: PipelineQueues;
  /** Closes the SDK clients' keep-alive sockets, so a process that is done can exit. */
  destroy(): void;
}

/** The pipeline's ports over the AWS SDK, for AWS or (with `endpoint`) an emulator. */
export function connectCloud(connection: CloudConnection): CloudPorts {
  const clientOptions: CloudClientOptions = {
    ...(connection.endpoint !== undefined ? { endpoint: connection.endpoint } : {}),
    ...(connection.region !== undefined ? { region: connection.region } : {}),
  };
  const s3 = createS3Client(clientOptions);
  const sqs = createSqsClient(clientOptions);
  return {
    store: new S3ObjectStore(s3, connection.bucket),
    queues: {
      train: new SqsMessageQueue(sqs, connection.queueUrls.train),
      aggregate: new SqsMessageQueue(sqs, connection.queueUrls.aggregate),
      timer: new SqsMessageQueue(sqs, connection.queueUrls.timer),
    },
    destroy() {
      s3.destroy();
      sqs.destroy();
    },
  };
}
