import type { S3Event, SQSEvent, SQSMessageAttributes, SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { ReceivedMessage } from '../shared/cloud/sqs-queue.js';

/** The account id the emulator reports (fauxqs: 000000000000), for ARNs. */
export const LOCAL_ACCOUNT_ID = '000000000000';

function lambdaMessageAttributes(attributes: Readonly<Record<string, MessageAttributeValue>>): SQSMessageAttributes {
  const converted: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(attributes)) {
    converted[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
      // Lambda hands binary attributes over base64-encoded.
      ...(value.BinaryValue !== undefined ? { binaryValue: Buffer.from(value.BinaryValue).toString('base64') } : {}),
      stringListValues: [],
      binaryListValues: [],
    };
  }
  return converted;
}

function recordAttributes(message: ReceivedMessage): SQSRecordAttributes {
  const { ApproximateReceiveCount, SentTimestamp, SenderId, ApproximateFirstReceiveTimestamp, ...rest } = message.attributes;
  const optional = ['AWSTraceHeader', 'SequenceNumber', 'MessageGroupId', 'MessageDeduplicationId'] as const;
  const attributes: SQSRecordAttributes = {
    ApproximateReceiveCount: ApproximateReceiveCount ?? '1',
    SentTimestamp: SentTimestamp ?? String(Date.now()),
    SenderId: SenderId ?? LOCAL_ACCOUNT_ID,
    ApproximateFirstReceiveTimestamp: ApproximateFirstReceiveTimestamp ?? String(Date.now()),
  };
  for (const name of optional) if (rest[name] !== undefined) attributes[name] = rest[name];
  return attributes;
}

/** The event Lambda's SQS event source would deliver for these messages. */
export function sqsEventFor(messages: readonly ReceivedMessage[], queueArn: string, region: string): SQSEvent {
  return {
    Records: messages.map(
      (message): SQSRecord => ({
        messageId: message.messageId,
        receiptHandle: message.receiptHandle,
        body: message.body,
        attributes: recordAttributes(message),
        messageAttributes: lambdaMessageAttributes(message.messageAttributes),
        md5OfBody: message.md5OfBody,
        ...(message.md5OfMessageAttributes ? { md5OfMessageAttributes: message.md5OfMessageAttributes } : {}),
        eventSource: 'aws:sqs',
        eventSourceARN: queueArn,
        awsRegion: region,
      }),
    ),
  };
}

/** A key as S3 writes it into notifications: URL-encoded per path segment, spaces as '+'. */
export function encodeS3EventKey(key: string): string {
  return key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/%20/g, '+'))
    .join('/');
}

export type ObjectCreatedEventName = 'ObjectCreated:Put' | 'ObjectCreated:Copy' | 'ObjectCreated:CompleteMultipartUpload';

export interface ObjectCreated {
  readonly eventName: ObjectCreatedEventName;
  readonly bucket: string;
  /** As stored (decoded). */
  readonly key: string;
  readonly size: number;
  readonly eTag: string;
  readonly sourceIp: string;
  readonly requestId: string;
  readonly time: Date;
  /** Orders events for one key, as S3's sequencer does: a hex string that grows. */
  readonly sequence: number;
}

/** The event an S3 bucket notification would deliver to a Lambda function. */
export function s3EventFor(created: ObjectCreated, region: string, configurationId: string): S3Event {
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: region,
        eventTime: created.time.toISOString(),
        eventName: created.eventName,
        userIdentity: { principalId: `AWS:${LOCAL_ACCOUNT_ID}` },
        requestParameters: { sourceIPAddress: created.sourceIp },
        responseElements: { 'x-amz-request-id': created.requestId, 'x-amz-id-2': 'fauxqs' },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId,
          bucket: {
            name: created.bucket,
            ownerIdentity: { principalId: LOCAL_ACCOUNT_ID },
            arn: `arn:aws:s3:::${created.bucket}`,
          },
          object: {
            key: encodeS3EventKey(created.key),
            size: created.size,
            eTag: created.eTag.replace(/"/g, ''),
            sequencer: created.sequence.toString(16).toUpperCase().padStart(16, '0'),
          },
        },
      },
    ],
  };
}
