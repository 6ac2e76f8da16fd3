/**
 * Run as its own process by test/local-worker-pool.test.ts: a worker dies, and the pool is closed while its
 * replacement is still starting. The process must then exit by itself: a replacement that became ready after close()
 * and was never terminated would keep it alive.
 */
import { TrainWorkerPool } from '../../local/worker-pool.js';
import { sqsEventFor } from '../../local/events.js';

const pool = await TrainWorkerPool.start({
  size: 1,
  workerModule: new URL('./barrier-train-handler.ts', import.meta.url),
  connection: { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', bucket: 'unused', queueUrls: { train: 'unused', aggregate: 'unused', timer: 'unused' } },
  log: (event) => console.log(JSON.stringify({ event })),
});
const event = sqsEventFor(
  [{ messageId: 'm-1', receiptHandle: 'r-1', body: JSON.stringify({ id: 'dies', exitNow: true }), md5OfBody: '', attributes: {}, messageAttributes: {} }],
  'arn:aws:sqs:us-east-1:000000000000:flambda-train',
  'us-east-1',
);
const outcome = await pool.invoke(event).then(() => 'handled', (error: Error) => error.message);
// The dead worker's replacement is starting now; close before it is ready.
await pool.close();
console.log(JSON.stringify({ outcome }));
