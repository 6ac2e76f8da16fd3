/**
 * A train worker thread: builds one handler from the module in workerData, then handles SQS events one at a time,
 * as one Lambda execution environment does. Started by worker-pool.ts through worker-bootstrap.mjs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SQSBatchResponse } from 'aws-lambda';
import { createCloudContext } from '../shared/pipeline/context-from-env.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { serializeError, type FromWorker, type ToWorker, type TrainWorkerData } from './worker-protocol.js';
import type { SQSHandlerFn } from './types.js';

type TrainHandlerFactory = (getContext: () => Promise<PipelineContext>) => SQSHandlerFn;

if (!parentPort) throw new Error('local/train-worker.ts runs as a worker thread of the local cloud, not on its own');
const port = parentPort;
const data = workerData as TrainWorkerData;

function post(message: FromWorker): void {
  port.postMessage(message);
}

const context = createCloudContext({
  endpoint: data.endpoint,
  region: data.region,
  bucket: data.bucket,
  queueUrls: data.queueUrls,
  // One log for the whole local cloud: the parent's.
  log: (event, fields) => {
    try {
      post({ type: 'log', event, ...(fields ? { fields } : {}) });
    } catch {
      post({ type: 'log', event, fields: JSON.parse(JSON.stringify(fields ?? {})) as Record<string, unknown> });
    }
  },
});

const loaded: unknown = await import(data.handlerModule);
const createTrainHandler = (loaded as { createTrainHandler?: unknown }).createTrainHandler;
if (typeof createTrainHandler !== 'function') {
  throw new Error(`${data.handlerModule} does not export a function createTrainHandler(getContext)`);
}
const handler = (createTrainHandler as TrainHandlerFactory)(async () => context);

port.on('message', (message: ToWorker) => {
  void (async () => {
    try {
      const response: SQSBatchResponse | void = await handler(message.event);
      post({ type: 'result', id: message.id, response: response ?? undefined });
    } catch (error) {
      post({ type: 'error', id: message.id, error: serializeError(error) });
    }
  })();
});
post({ type: 'ready' });
