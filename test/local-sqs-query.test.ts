import { createHash } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListDeadLetterSourceQueuesCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
  SQSServiceException,
  TagQueueCommand,
  UntagQueueCommand,
} from '@aws-sdk/client-sqs';
import { AwsQueryProtocol } from '@aws-sdk/core/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../local/emulator.js';
import { SQS_XML_NAMESPACE } from '../local/sqs-query.js';
import { awsCli, awsCliMissing, boto3Missing, boto3Script } from './helpers/aws-clients.js';

/**
 * The emulator's SQS through the Query protocol, from three clients: the SDK v3 switched to its own AwsQueryProtocol
 * (every action, cheap), the Debian AWS CLI and boto3 (what users have). And the queue URLs it hands out resolve.
 */
// Each `aws` start is ~1.5 s of Python on a quiet 2-core machine and several times that on a busy one.
const CLI_TIMEOUT_MS = 600_000;
let emulator: Emulator;
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
let query: SQSClient;
let json: SQSClient;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, host: '127.0.0.1', region: 'us-east-1', onObjectWritten: () => {} });
  const common = { endpoint: emulator.endpoint, region: 'us-east-1', credentials };
  query = new SQSClient({
    ...common,
    protocol: AwsQueryProtocol,
    protocolSettings: { defaultNamespace: 'com.amazonaws.sqs', xmlNamespace: SQS_XML_NAMESPACE, version: '2012-11-05' },
  });
  json = new SQSClient(common);
});

afterAll(async () => {
  query?.destroy();
  json?.destroy();
  await emulator?.close();
});

describe('the SDK v3 speaking the Query protocol', () => {
  it('creates, lists and finds queues, with URLs on the endpoint it called', async () => {
    const { QueueUrl } = await query.send(new CreateQueueCommand({ QueueName: 'q-standard', Attributes: { VisibilityTimeout: '45' }, tags: { team: 'fl' } }));
    expect(QueueUrl).toBe(`${emulator.endpoint}/000000000000/q-standard`);
    const fifo = await query.send(new CreateQueueCommand({ QueueName: 'q-group.fifo', Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'true' } }));
    expect((await query.send(new ListQueuesCommand({ QueueNamePrefix: 'q-' }))).QueueUrls?.sort()).toEqual([fifo.QueueUrl, QueueUrl].sort());
    expect((await query.send(new GetQueueUrlCommand({ QueueName: 'q-standard' }))).QueueUrl).toBe(QueueUrl);
    const attributes = await query.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['VisibilityTimeout', 'QueueArn'] }));
    expect(attributes.Attributes).toEqual({ VisibilityTimeout: '45', QueueArn: 'arn:aws:sqs:us-east-1:000000000000:q-standard' });
    await query.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: { DelaySeconds: '0', VisibilityTimeout: '60' } }));
    expect((await json.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['VisibilityTimeout'] }))).Attributes).toEqual({ VisibilityTimeout: '60' });
  });

  it('sends and receives with message attributes, system attributes and batches', async () => {
    const { QueueUrl } = await query.send(new GetQueueUrlCommand({ QueueName: 'q-standard' }));
    const sent = await query.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody: 'line 1\r\nline 2 <&> "quoted" \'single\' é',
        MessageAttributes: {
          text: { DataType: 'String', StringValue: 'v' },
          count: { DataType: 'Number', StringValue: '3' },
          bytes: { DataType: 'Binary', BinaryValue: new Uint8Array([0, 1, 2, 255]) },
        },
      }),
    );
    expect(sent.MessageId).toMatch(/^[\w-]+$/);
    const batch = await query.send(
      new SendMessageBatchCommand({ QueueUrl, Entries: [{ Id: 'a', MessageBody: 'A' }, { Id: 'b', MessageBody: 'B', DelaySeconds: 0 }] }),
    );
    expect(batch.Successful?.map((entry) => entry.Id).sort()).toEqual(['a', 'b']);
    expect(batch.Failed ?? []).toEqual([]);

    const received = await query.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }),
    );
    const messages = received.Messages ?? [];
    expect(messages.map((message) => message.Body).sort()).toEqual(['A', 'B', 'line 1\r\nline 2 <&> "quoted" \'single\' é'].sort());
    const first = messages.find((message) => message.MessageId === sent.MessageId)!;
    expect(first.MessageAttributes?.text).toEqual({ DataType: 'String', StringValue: 'v' });
    expect(first.MessageAttributes?.count).toEqual({ DataType: 'Number', StringValue: '3' });
    expect([...(first.MessageAttributes?.bytes?.BinaryValue ?? [])]).toEqual([0, 1, 2, 255]);
    expect(first.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(first.MD5OfMessageAttributes).toBe(sent.MD5OfMessageAttributes);

    const visibility = await query.send(
      new ChangeMessageVisibilityBatchCommand({ QueueUrl, Entries: messages.map((message, index) => ({ Id: `m${index}`, ReceiptHandle: message.ReceiptHandle!, VisibilityTimeout: 0 })) }),
    );
    expect(visibility.Successful).toHaveLength(3);
    const again = await query.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));
    expect(again.Messages?.map((message) => message.Attributes?.ApproximateReceiveCount)).toEqual(['2', '2', '2']);
    const deleted = await query.send(
      new DeleteMessageBatchCommand({ QueueUrl, Entries: again.Messages!.map((message, index) => ({ Id: `d${index}`, ReceiptHandle: message.ReceiptHandle! })) }),
    );
    expect(deleted.Successful).toHaveLength(3);
    const counts = await query.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
    expect(counts.Attributes?.ApproximateNumberOfMessages).toBe('0');
    expect(counts.Attributes?.ApproximateNumberOfMessagesNotVisible).toBe('0');
  });

  it('tags, untags and deletes queues', async () => {
    const { QueueUrl } = await query.send(new CreateQueueCommand({ QueueName: 'q-tags' }));
    await query.send(new TagQueueCommand({ QueueUrl, Tags: { a: '1', b: '2' } }));
    await query.send(new UntagQueueCommand({ QueueUrl, TagKeys: ['a'] }));
    expect((await query.send(new ListQueueTagsCommand({ QueueUrl }))).Tags).toEqual({ b: '2' });
    await query.send(new DeleteQueueCommand({ QueueUrl }));
    expect((await query.send(new ListQueuesCommand({ QueueNamePrefix: 'q-tags' }))).QueueUrls ?? []).toEqual([]);
  });

  it("answers errors with SQS's Query codes, which the SDK maps to its exception classes", async () => {
    const missing = await query.send(new GetQueueUrlCommand({ QueueName: 'no-such-queue' })).catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(QueueDoesNotExist);
    const sendToMissing = await query.send(new SendMessageCommand({ QueueUrl: `${emulator.endpoint}/000000000000/gone`, MessageBody: 'x' })).catch((error: unknown) => error);
    expect(sendToMissing).toBeInstanceOf(QueueDoesNotExist);
    // fauxqs has no ListDeadLetterSourceQueues: said so in the protocol the client speaks.
    const unsupported = await query.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: `${emulator.endpoint}/000000000000/q-standard` })).catch((error: unknown) => error);
    expect(unsupported).toBeInstanceOf(SQSServiceException);
    expect((unsupported as SQSServiceException).name).toBe('InvalidAction');
    expect((unsupported as SQSServiceException).message).toContain('ListDeadLetterSourceQueues');
  });
});

describe('queue URLs', () => {
  it('accepts the URL of a queue in every form a client may hold', async () => {
    const { QueueUrl } = await json.send(new CreateQueueCommand({ QueueName: 'q-forms' }));
    const port = new URL(emulator.endpoint).port;
    expect(QueueUrl).toBe(`http://127.0.0.1:${port}/000000000000/q-forms`);
    for (const form of [QueueUrl!, `http://localhost:${port}/000000000000/q-forms`, `http://sqs.us-east-1.localhost:${port}/000000000000/q-forms`]) {
      await json.send(new SendMessageCommand({ QueueUrl: form, MessageBody: form }));
    }
    const received = await json.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    expect(received.Messages).toHaveLength(3);
  });
});

describe.skipIf(awsCliMissing)(`the Debian AWS CLI (${awsCliMissing ?? '/usr/bin/aws'})`, () => {
  it('lists, finds, sends to, receives from, changes, deletes and purges', async () => {
    const endpoint = emulator.endpoint;
    const created = (await awsCli(endpoint, ['sqs', 'create-queue', '--queue-name', 'cli-q'])) as { QueueUrl: string };
    expect(created.QueueUrl).toBe(`${endpoint}/000000000000/cli-q`);
    expect(((await awsCli(endpoint, ['sqs', 'list-queues', '--queue-name-prefix', 'cli-'])) as { QueueUrls: string[] }).QueueUrls).toEqual([created.QueueUrl]);
    expect(await awsCli(endpoint, ['sqs', 'get-queue-url', '--queue-name', 'cli-q'])).toEqual({ QueueUrl: created.QueueUrl });
    const queueUrl = created.QueueUrl;
    const sent = (await awsCli(endpoint, [
      'sqs', 'send-message', '--queue-url', queueUrl, '--message-body', 'from the CLI',
      '--message-attributes', JSON.stringify({ kind: { DataType: 'String', StringValue: 'cli' }, blob: { DataType: 'Binary', BinaryValue: 'AAEC/w==' } }),
    ])) as { MessageId: string; MD5OfMessageBody: string };
    expect(sent.MD5OfMessageBody).toBe(createHash('md5').update('from the CLI').digest('hex'));
    // Long polling: the CLI waits up to 5 s and gets the message already there at once.
    const received = (await awsCli(endpoint, [
      'sqs', 'receive-message', '--queue-url', queueUrl, '--attribute-names', 'All', '--message-attribute-names', 'All', '--wait-time-seconds', '5',
    ])) as { Messages: { MessageId: string; Body: string; ReceiptHandle: string; Attributes: Record<string, string>; MessageAttributes: Record<string, { StringValue?: string; BinaryValue?: string }> }[] };
    expect(received.Messages).toHaveLength(1);
    const [message] = received.Messages;
    expect(message).toMatchObject({ MessageId: sent.MessageId, Body: 'from the CLI', Attributes: { ApproximateReceiveCount: '1' } });
    expect(message!.MessageAttributes).toEqual({ kind: { DataType: 'String', StringValue: 'cli' }, blob: { DataType: 'Binary', BinaryValue: 'AAEC/w==' } });

    await awsCli(endpoint, ['sqs', 'change-message-visibility', '--queue-url', queueUrl, '--receipt-handle', message!.ReceiptHandle, '--visibility-timeout', '0']);
    const redelivered = (await awsCli(endpoint, ['sqs', 'receive-message', '--queue-url', queueUrl, '--attribute-names', 'ApproximateReceiveCount', '--wait-time-seconds', '2'])) as typeof received;
    expect(redelivered.Messages[0]!.Attributes.ApproximateReceiveCount).toBe('2');
    await awsCli(endpoint, ['sqs', 'delete-message', '--queue-url', queueUrl, '--receipt-handle', redelivered.Messages[0]!.ReceiptHandle]);

    await awsCli(endpoint, ['sqs', 'send-message', '--queue-url', queueUrl, '--message-body', 'to purge']);
    await awsCli(endpoint, ['sqs', 'purge-queue', '--queue-url', queueUrl]);
    const attributes = (await awsCli(endpoint, ['sqs', 'get-queue-attributes', '--queue-url', queueUrl, '--attribute-names', 'All'])) as { Attributes: Record<string, string> };
    expect(attributes.Attributes).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0', QueueArn: 'arn:aws:sqs:us-east-1:000000000000:cli-q' });
  }, CLI_TIMEOUT_MS);

  it('sends to a FIFO queue with group and deduplication ids', async () => {
    const endpoint = emulator.endpoint;
    const { QueueUrl } = (await awsCli(endpoint, ['sqs', 'create-queue', '--queue-name', 'cli-q.fifo', '--attributes', 'FifoQueue=true'])) as { QueueUrl: string };
    const send = (body: string, dedup: string) =>
      awsCli(endpoint, ['sqs', 'send-message', '--queue-url', QueueUrl, '--message-body', body, '--message-group-id', 'experiment-1', '--message-deduplication-id', dedup]) as Promise<{ MessageId: string; SequenceNumber: string }>;
    const first = await send('one', 'd1');
    expect(first.SequenceNumber).toMatch(/^\d+$/);
    expect((await send('one again', 'd1')).MessageId).toBe(first.MessageId);
    await send('two', 'd2');
    type Received = { Messages: { Body: string; ReceiptHandle: string; Attributes: Record<string, string> }[] };
    const receive = () => awsCli(endpoint, ['sqs', 'receive-message', '--queue-url', QueueUrl, '--max-number-of-messages', '10', '--attribute-names', 'All']) as Promise<Received>;
    // As SQS does: one receive hands out the group's messages in order, up to the 10 asked for.
    const batch = (await receive()).Messages;
    expect(batch.map((message) => message.Body)).toEqual(['one', 'two']);
    expect(batch[0]!.Attributes).toMatchObject({ MessageGroupId: 'experiment-1', MessageDeduplicationId: 'd1' });
    for (const message of batch) await awsCli(endpoint, ['sqs', 'delete-message', '--queue-url', QueueUrl, '--receipt-handle', message.ReceiptHandle]);
    await send('three', 'd3');
    expect((await receive()).Messages.map((message) => message.Body)).toEqual(['three']);
  }, CLI_TIMEOUT_MS);

  it('reports a missing queue with the Query error code', async () => {
    const error = await awsCli(emulator.endpoint, ['sqs', 'get-queue-url', '--queue-name', 'absent']).catch((failure: { stderr: string }) => failure.stderr);
    expect(error).toContain('AWS.SimpleQueueService.NonExistentQueue');
  }, CLI_TIMEOUT_MS);
});

describe.skipIf(boto3Missing)(`boto3 (${boto3Missing ?? 'Debian python3-boto3'})`, () => {
  it('works end to end, with exceptions and a long poll that returns when a message arrives', async () => {
    const result = (await boto3Script(
      emulator.endpoint,
      `
import json, os, threading, time, boto3
sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
url = sqs.create_queue(QueueName='boto-q', Attributes={'VisibilityTimeout': '30'})['QueueUrl']
out = {'url': url, 'listed': sqs.list_queues(QueueNamePrefix='boto-')['QueueUrls'], 'found': sqs.get_queue_url(QueueName='boto-q')['QueueUrl']}
try:
    sqs.get_queue_url(QueueName='absent')
except sqs.exceptions.QueueDoesNotExist as error:
    out['missing'] = error.response['Error']['Code']
polled = {}
def poll():
    started = time.time()
    polled['response'] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=15, AttributeNames=['All'], MessageAttributeNames=['All'])
    polled['seconds'] = time.time() - started
poller = threading.Thread(target=poll); poller.start(); time.sleep(1)
sqs.send_message(QueueUrl=url, MessageBody='late', MessageAttributes={'k': {'DataType': 'String', 'StringValue': 'v'}})
poller.join()
message = polled['response']['Messages'][0]
out['longPoll'] = {'body': message['Body'], 'attributes': message['MessageAttributes'], 'returnedBeforeTimeout': polled['seconds'] < 14}
sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message['ReceiptHandle'], VisibilityTimeout=0)
again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, AttributeNames=['ApproximateReceiveCount'])['Messages'][0]
out['receiveCount'] = again['Attributes']['ApproximateReceiveCount']
sqs.delete_message(QueueUrl=url, ReceiptHandle=again['ReceiptHandle'])
fifo = sqs.create_queue(QueueName='boto-q.fifo', Attributes={'FifoQueue': 'true'})['QueueUrl']
sqs.send_message(QueueUrl=fifo, MessageBody='f', MessageGroupId='g', MessageDeduplicationId='d')
sqs.purge_queue(QueueUrl=fifo)
out['afterPurge'] = sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=['ApproximateNumberOfMessages'])['Attributes']
print(json.dumps(out))
`,
    )) as Record<string, unknown>;
    const url = `${emulator.endpoint}/000000000000/boto-q`;
    expect(result).toEqual({
      url,
      listed: [url],
      found: url,
      missing: 'AWS.SimpleQueueService.NonExistentQueue',
      longPoll: { body: 'late', attributes: { k: { StringValue: 'v', DataType: 'String' } }, returnedBeforeTimeout: true },
      receiveCount: '2',
      afterPurge: { ApproximateNumberOfMessages: '0' },
    });
  }, CLI_TIMEOUT_MS);
});
