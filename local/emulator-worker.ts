/**
 * The emulator's own thread (`emulatorThread: true`; started by emulator-thread.ts through worker-bootstrap.mjs):
 * fauxqs answers every S3 and SQS request of the local cloud here, so that its CPU (parsing, hashing and copying every
 * body) runs beside the aggregator and the event sources instead of on their thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startEmulator } from './emulator.js';
import type { EmulatorThreadData, FromEmulatorThread, ToEmulatorThread } from './emulator-thread.js';

if (!parentPort) throw new Error('local/emulator-worker.ts runs as a worker thread of the local cloud, not on its own');
const port = parentPort;
const data = workerData as EmulatorThreadData;
const announced = new Int32Array(data.announced);
const post = (message: FromEmulatorThread) => port.postMessage(message);

try {
  const emulator = await startEmulator({
    port: data.port,
    host: data.host,
    region: data.region,
    onObjectWritten: (write) => {
      // Counted before the message leaves, so the parent never sees its counter behind a write a client already saw.
      Atomics.add(announced, 0, 1);
      post({ type: 'written', write });
    },
  });
  port.on('message', (message: ToEmulatorThread) => {
    if (message.type !== 'close') return;
    void emulator.close().then(
      () => post({ type: 'closed' }),
      (error: unknown) => post({ type: 'closed', error: String(error) }),
    );
  });
  post({ type: 'ready', endpoint: emulator.endpoint, port: emulator.port });
} catch (error) {
  post({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
}
