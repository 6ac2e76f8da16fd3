import type { SQSEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTrainHandler } from '../functions/train.js';
import { startLocalCloud, type LocalCloud } from '../local/cloud.js';
import { defaultHandlers } from '../local/default-handlers.js';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import type { ModelWeights } from '../shared/weights/types.js';
import { keys } from '../shared/protocol/keys.js';
import { readGlobal, uploadConfig, waitForStatus } from './helpers/pipeline.js';

/**
 * Several clients a trainer invocation (the train queue's batch size: `flambda run --train-batch`, the stack's
 * `-c trainBatchSize`), on the embedded local cloud with real training and real S3 and SQS calls: a round must come
 * out as it does with one client an invocation, and the invocations must really have carried several clients.
 */

const config = { clients: 7, rounds: 2, model: 'mlp', samplesPerClient: 24, testSamples: 200, seed: 11 } as const;

interface Outcome {
  readonly model: ModelWeights;
  readonly metrics: ExperimentMetrics;
  /** records per trainer invocation, in the order they came */
  readonly batches: readonly number[];
}

/** The experiment on a fresh cloud whose train event source hands out up to `trainBatch` messages, trained in this thread. */
async function runWith(trainBatch: number): Promise<Outcome> {
  const batches: number[] = [];
  let cloud: LocalCloud | undefined;
  try {
    cloud = await startLocalCloud({
      batchSize: { train: trainBatch },
      handlers: (context: PipelineContext) => {
        const train = createTrainHandler(async () => context);
        return {
          ...defaultHandlers()(context),
          train: (event: SQSEvent) => {
            batches.push(event.Records.length);
            return train(event);
          },
        };
      },
    });
    const id = `batch-${trainBatch}`;
    await uploadConfig(cloud, id, config);
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 120_000);
    expect(status.state, JSON.stringify(status.errors)).toBe('completed');
    const metrics = JSON.parse((await cloud.context.store.getText(keys.metrics(id)))!) as ExperimentMetrics;
    // round 1's: what later rounds train from, before float32 rounding can compound through training
    return { model: await readGlobal(cloud, id, 1), metrics, batches };
  } finally {
    await cloud?.stop();
  }
}

describe('several clients a trainer invocation, through the whole pipeline', () => {
  let single: Outcome;
  let batched: Outcome;

  beforeAll(async () => {
    single = await runWith(1);
    batched = await runWith(4);
  }, 240_000);

  it('hands a trainer invocation up to 4 clients, every client trained once a round', () => {
    expect(single.batches.every((size) => size === 1)).toBe(true);
    expect(Math.max(...batched.batches)).toBeGreaterThan(1);
    expect(Math.max(...batched.batches)).toBeLessThanOrEqual(4);
    expect(batched.batches.reduce((total, size) => total + size, 0)).toBe(2 * config.clients);
  });

  it('gives the global model of one client an invocation, to float32 rounding, with the same clients in its metrics', () => {
    let largest = 0;
    for (const [index, tensor] of single.model.entries()) {
      for (let i = 0; i < tensor.values.length; i++) {
        const scale = Math.max(1e-3, Math.abs(tensor.values[i]!));
        largest = Math.max(largest, Math.abs(tensor.values[i]! - batched.model[index]!.values[i]!) / scale);
      }
    }
    expect(largest).toBeLessThan(1e-5);
    for (const round of [0, 1]) {
      const clients = (outcome: Outcome) => outcome.metrics.rounds[round]!.clients.map((client) => client.clientId).sort();
      expect(clients(batched)).toEqual(clients(single));
      expect(clients(batched)).toHaveLength(config.clients);
    }
  });
});
