import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tfjsThroughput } from '../bench/tfjs.js';
import { probeTorch, torchDescribe, torchExperiment, torchThroughput } from '../bench/torch.js';
import { experimentConfigSchema, MODEL_NAMES } from '../shared/config/schema.js';
import { head, loadMnistFromPackage, type Mnist } from '../shared/data/mnist.js';
import { parameterCount, weightSpecs } from '../shared/models/index.js';
import { partitionIndices } from '../shared/partition/index.js';

/** Debian's python3-torch (bench/setup-python.sh); the PyTorch tests say so and skip where it is not installed. */
const torch = await probeTorch();
if (!torch.ok) console.warn(`bench-reference: skipping the PyTorch tests: ${torch.reason}; run bench/setup-python.sh`);

const local = experimentConfigSchema.parse({}).local;
const trainingSettings = { batchSize: local.batchSize, learningRate: local.learningRate, momentum: local.momentum, seed: 7 };

/** A PyTorch parameter shape in tfjs's layout: conv [out, in, kh, kw] → [kh, kw, in, out]; dense [out, in] → [in, out]. */
function tfjsLayout(shape: readonly number[]): number[] {
  if (shape.length === 4) return [shape[2]!, shape[3]!, shape[1]!, shape[0]!];
  if (shape.length === 2) return [shape[1]!, shape[0]!];
  return [...shape];
}

let mnist: Mnist;
let workDir: string;
beforeAll(async () => {
  mnist = await loadMnistFromPackage();
  workDir = await mkdtemp(path.join(os.tmpdir(), 'bench-reference-'));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe.skipIf(!torch.ok)('PyTorch reference (bench/reference/fedavg_torch.py)', () => {
  it('mirrors every flambda model layer for layer', async () => {
    const description = await torchDescribe();
    for (const model of MODEL_NAMES) {
      const mirrored = description.models[model];
      expect(mirrored, model).toBeDefined();
      expect(mirrored!.shapes.map(tfjsLayout), model).toEqual(weightSpecs(model).map((spec) => [...spec.shape]));
      expect(mirrored!.parameters, model).toBe(parameterCount(model));
    }
  });

  it('measures one client on the first N samples with the threads asked for, on OpenBLAS', async () => {
    const result = await torchThroughput({
      ...trainingSettings,
      model: 'cnn-small',
      threads: 1,
      samples: 96,
      warmupBatches: 1,
      malloc: 'keep',
    });
    expect(result).toMatchObject({ model: 'cnn-small', threads: 1, samples: 96, batchSize: 32, malloc: 'keep freed memory' });
    expect(result.parameters).toBe(parameterCount('cnn-small'));
    expect(result.samplesPerSecond).toBeCloseTo(96 / result.seconds, 6);
    // Without libopenblas0-openmp Debian's torch uses the reference BLAS and the comparison would flatter us.
    expect(result.blas).toMatch(/openblas/i);
  });

  it('runs FedAvg on exactly the shards flambda partitioned', async () => {
    const config = experimentConfigSchema.parse({
      clients: 3,
      rounds: 2,
      partition: { kind: 'shards', shardsPerClient: 2 },
      samplesPerClient: 64,
      testSamples: 200,
      seed: 7,
    });
    const partition = partitionIndices(mnist.train.labels, {
      clients: config.clients,
      partition: config.partition,
      seed: config.seed,
      samplesPerClient: config.samplesPerClient,
    });
    const partitionFile = path.join(workDir, 'partition.json');
    await writeFile(partitionFile, JSON.stringify(partition.clientIndices.map((indices) => Array.from(indices))));

    const result = await torchExperiment({
      ...trainingSettings,
      model: 'mlp',
      threads: 1,
      rounds: config.rounds,
      epochs: 1,
      partitionFile,
      testSamples: config.testSamples,
    });

    expect(result.clients.map((client) => client.labelHistogram)).toEqual(partition.stats.clients.map((client) => client.labelHistogram));
    expect(result.rounds.map((round) => round.round)).toEqual([1, 2]);
    expect(result.testSamples).toBe(200);
    for (const round of result.rounds) {
      expect(round.accuracy).toBeGreaterThanOrEqual(0);
      expect(round.accuracy).toBeLessThanOrEqual(1);
      expect(Number.isFinite(round.loss)).toBe(true);
    }
    expect(result.finalAccuracy).toBe(result.rounds.at(-1)!.accuracy);
    expect(result.roundsMs).toBeLessThanOrEqual(result.wallMs);
  });
});

describe('tfjs side of the benchmark (bench/tfjs.ts)', () => {
  it('trains parallel clients in worker threads and adds up their work', async () => {
    const shard = head(mnist.train, 40);
    const result = await tfjsThroughput({ model: 'cnn-small', clients: 2, shard, warmupSamples: 32, local, seed: 3 });

    expect(result.clients).toBe(2);
    expect(result.samples).toBe(2 * shard.count);
    expect(result.perClientSamplesPerSecond).toHaveLength(2);
    expect(result.samplesPerSecond).toBeCloseTo(result.samples / result.seconds, 6);
    // The aggregate spans the slowest client, so it can never beat the clients' rates added up.
    const summed = result.perClientSamplesPerSecond.reduce((total, rate) => total + rate, 0);
    expect(result.samplesPerSecond).toBeLessThanOrEqual(summed * (1 + 1e-9));
    expect(result.backend.tfjsVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(Number.isFinite(result.loss)).toBe(true);
  });
});
