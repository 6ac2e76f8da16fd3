import { createAggregateHandler } from '../functions/aggregate.js';
import { createStartHandler } from '../functions/start.js';
import { createTimerHandler } from '../functions/timer.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import type { LocalHandlersFactory } from './types.js';

// Beside this module: functions/train.ts under tsx or vitest, functions/train.js once compiled.
const TRAIN_MODULE = new URL(`../functions/train${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`, import.meta.url);

/**
 * The real handlers from functions/*.ts, on the local cloud's context. Training, the CPU-bound step, runs in worker
 * threads; the start, aggregate and timer functions run in this thread.
 */
export function defaultHandlers(): LocalHandlersFactory {
  return (context: PipelineContext) => {
    const getContext = async () => context;
    return {
      start: createStartHandler(getContext),
      aggregate: createAggregateHandler(getContext),
      timer: createTimerHandler(getContext),
      train: { workerModule: TRAIN_MODULE },
    };
  };
}
