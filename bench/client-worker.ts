/**
 * One benchmark client in a worker thread: warms up, says ready, and on "go" runs one timed trainLocal over its
 * samples. Started by bench/tfjs.ts through local/worker-bootstrap.mjs (which loads TypeScript through tsx).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { head } from '../shared/data/mnist.js';
import { initBackend, trainLocal } from '../shared/engine/index.js';
import { initialWeights } from '../shared/engine/build-model.js';
import type { ClientWorkerData, FromClientWorker } from './tfjs.js';

if (!parentPort) throw new Error('bench/client-worker.ts runs as a worker thread of bench/tfjs.ts, not on its own');
const port = parentPort;
const data = workerData as ClientWorkerData;

function post(message: FromClientWorker): void {
  port.postMessage(message);
}

/** Wall-clock milliseconds comparable across threads (each worker has its own performance.timeOrigin). */
const now = () => performance.timeOrigin + performance.now();

try {
  const backend = await initBackend();
  const weights = initialWeights(data.model, data.seed);
  const train = (count: number) =>
    trainLocal({ model: data.model, weights, shard: head(data.shard, count), local: data.local, seed: data.seed, loop: data.loop });
  // Compiles kernels and sizes the wasm heap, which the first batches of a fresh process would otherwise pay for.
  await train(data.warmupSamples);
  port.once('message', () => {
    void (async () => {
      try {
        const startedAt = now();
        const result = await train(data.shard.count);
        post({ type: 'done', startedAt, finishedAt: now(), samples: result.samples, loss: result.loss });
      } catch (error) {
        post({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      }
    })();
  });
  post({ type: 'ready', backend });
} catch (error) {
  post({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
}
