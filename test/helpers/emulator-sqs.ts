import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll } from 'vitest';
import { startEmulator, type Emulator } from '../../local/emulator.js';
import { createSqsClient } from '../../shared/cloud/clients.js';

/**
 * The local emulator on a free port and an SDK SQS client pointed at it, started before a test file's tests and closed
 * after them: what the SQS adapter's tests talk to.
 */
export function useEmulatorSqs(): { readonly emulator: () => Emulator; readonly sqs: () => SQSClient } {
  let emulator: Emulator | undefined;
  let sqs: SQSClient | undefined;
  beforeAll(async () => {
    emulator = await startEmulator({ port: 0, host: '127.0.0.1', region: 'us-east-1', onObjectWritten: () => {} });
    sqs = createSqsClient({ endpoint: emulator.endpoint });
  });
  afterAll(async () => {
    sqs?.destroy();
    await emulator?.close();
  });
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the ${what} is used before the test file's beforeAll started it`);
    return value;
  };
  return { emulator: () => started(emulator, 'emulator'), sqs: () => started(sqs, 'SQS client') };
}
