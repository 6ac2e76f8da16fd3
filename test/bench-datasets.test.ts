import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderDatasetsPage, type StudyResult, type StudyRun } from '../bench/datasets-page.js';
import { describeMachine } from '../bench/machine.js';
import { probeTorch, torchExperiment, type TorchExperiment } from '../bench/torch.js';
import { experimentConfigSchema } from '../shared/config/schema.js';
import type { DatasetRecord } from '../shared/data/catalog.js';
import { partitionIndices } from '../shared/partition/index.js';
import { fabricateMetrics } from './report-fixtures.js';
import { gzip, idxFiles, syntheticImages } from './helpers/datasets.js';

/** The pieces of `npm run bench:datasets` that can run in a test: the PyTorch side on any idx dataset, and the page. */

const torch = await probeTorch();

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bench-datasets-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!torch.ok)('PyTorch reference on datasets other than MNIST', () => {
  it('reads gzipped 4-D idx files with their class count and per-channel normalisation, on flambda\'s shards', async () => {
    const shape = [12, 10, 3] as const;
    const train = syntheticImages(60, shape, 5, 1);
    const test = syntheticImages(20, shape, 5, 2);
    for (const [prefix, set] of [['train', train], ['t10k', test]] as const) {
      const files = idxFiles(set, shape);
      await writeFile(path.join(dir, `${prefix}-images-idx4-ubyte.gz`), gzip(files.images));
      await writeFile(path.join(dir, `${prefix}-labels-idx1-ubyte.gz`), gzip(files.labels));
    }
    const partition = partitionIndices(train.labels, { clients: 2, partition: { kind: 'iid' }, seed: 3, samplesPerClient: null, classes: 5 });
    const partitionFile = path.join(dir, 'partition.json');
    await writeFile(partitionFile, JSON.stringify(partition.clientIndices.map((indices) => Array.from(indices))));
    const local = experimentConfigSchema.parse({}).local;
    const result = await torchExperiment({
      model: 'cnn-small', threads: 1, rounds: 1, epochs: 1, partitionFile, testSamples: null, dataDir: dir, classes: 5,
      normalization: { mean: [0.4, 0.45, 0.5], std: [0.2, 0.2, 0.25] },
      batchSize: local.batchSize, learningRate: local.learningRate, momentum: local.momentum, seed: 3,
    });
    expect(result.dataDir).toBe(dir);
    expect(result.testSamples).toBe(20);
    expect(result.clients.map((client) => client.labelHistogram)).toEqual(partition.stats.clients.map((client) => client.labelHistogram));
    expect(result.clients[0]!.labelHistogram).toHaveLength(5);
    // cnn-small on 12×10×3: conv 3→16 (448), conv 16→32 (4,640), dense 3·2·32→128 (24,704), logits 128→5 (645)
    expect(result.parameters).toBe(448 + 4640 + 3 * 2 * 32 * 128 + 128 + 128 * 5 + 5);
  }, 120_000);
});

function torchResult(accuracies: number[]): TorchExperiment {
  return {
    engine: 'pytorch', torchVersion: 'test', pythonVersion: '3', threads: 1, interopThreads: 1, blas: 'openblas', blasInfo: '', mkldnn: true, malloc: '',
    mode: 'experiment', model: 'cnn-small', parameters: 1, partition: 'file', seed: 42, epochs: 1, batchSize: 32, learningRate: 0.05, momentum: 0.9,
    testSamples: 10_000, clients: [], finalAccuracy: accuracies.at(-1)!, roundsMs: 1000, wallMs: 2000,
    rounds: accuracies.map((accuracy, index) => ({ round: index + 1, accuracy, loss: 1, roundMs: 200, trainMs: 150 })),
  };
}

function run(key: string, label: string, accuracies: number[], torchAccuracies?: number[]): StudyRun {
  const metrics = fabricateMetrics({ rounds: accuracies.length, experimentId: key });
  return {
    id: key,
    file: `examples/fashion-mnist/${key}.json`,
    label,
    config: experimentConfigSchema.parse({ dataset: 'fashion-mnist' }),
    metrics: { ...metrics, rounds: metrics.rounds.map((round, index) => ({ ...round, accuracy: accuracies[index]! })) },
    ...(torchAccuracies ? { torch: { result: torchResult(torchAccuracies), sameShards: true } } : {}),
  };
}

describe('docs/datasets.md as the bench writes it', () => {
  const record = { name: 'fashion-mnist', classNames: ['T-shirt/top'], test: { samples: 10_000, labelHistogram: [] } } as unknown as DatasetRecord;
  const study = (iidTorch: number): StudyResult => ({
    dataset: 'fashion-mnist',
    record,
    runs: [
      run('iid', 'IID, FedAvg', [0.85, 0.88, 0.9012], [0.86, 0.88, iidTorch]),
      run('label-skew', 'label skew, FedAvg', [0.4, 0.6, 0.7012], [0.4, 0.55, 0.68]),
      run('label-skew-scaffold', 'label skew, SCAFFOLD', [0.45, 0.62, 0.7312]),
    ],
  });

  it('judges the goal from the numbers, states the label-skew gap, and marks CIFAR-10 as not measured with the command', async () => {
    const machine = await describeMachine();
    const met = renderDatasetsPage({ results: [study(0.8990)], machine, torch: { version: '1.13', threads: 1 }, quick: false, totalMs: 60_000 });
    expect(met.markdown).toContain('flambda ends at 90.12 %, PyTorch at 89.90 %: +0.22 points, **the goal is met**.');
    expect(met.markdown).toContain('Label skew (2 shards per client) costs FedAvg 20.00 points against IID in flambda and 21.90 in PyTorch.');
    expect(met.markdown).toContain('SCAFFOLD, the best remedy on MNIST ([noniid.md](noniid.md)), ends at 73.12 %: 17.00 points below IID, 3.00 points above FedAvg on the same skew.');
    expect(met.markdown).toMatch(/### CIFAR-10\n\n\*\*Not measured here\*\*/);
    expect(met.markdown).toContain('npm run bench:datasets -- --cifar10 /path/to/cifar-10-binary.tar.gz');
    expect(met.markdown).toContain('| `cnn-cifar` | McMahan et al.\'s CIFAR-10 CNN | 32×32×3 images | `cifar10` | 1,756,426 on 32×32×3, 10 classes |');
    expect(Object.keys(met.charts)).toEqual(['datasets-fashion-mnist.svg']);

    const missed = renderDatasetsPage({ results: [study(0.89)], machine, torch: { version: '1.13', threads: 1 }, quick: false, totalMs: 60_000 });
    expect(missed.markdown).toContain('+1.12 points, **the goal is missed by 0.62 points**.');
  });

  it('says when a run ends at chance, and how often over the other seeds, with their spread', async () => {
    const machine = await describeMachine();
    const collapsed: StudyResult = {
      dataset: 'fashion-mnist',
      record: { ...record, classes: 10 },
      runs: [run('iid', 'IID, FedAvg', [0.85, 0.9], [0.86, 0.9]), run('label-skew', 'label skew, FedAvg', [0.3, 0.1], [0.3, 0.6])],
      seedRuns: [
        { ...run('seed1', 'label skew, FedAvg, seed 1', [0.3, 0.5], [0.3, 0.1]), config: experimentConfigSchema.parse({ seed: 1 }) },
        { ...run('seed2', 'label skew, FedAvg, seed 2', [0.3, 0.7], [0.3, 0.65]), config: experimentConfigSchema.parse({ seed: 2 }) },
      ],
    };
    const page = renderDatasetsPage({ results: [collapsed], machine, torch: { version: '1.13', threads: 1 }, quick: false, totalMs: 1 });
    expect(page.markdown).toContain('flambda FedAvg ends at chance (10.00 %): the global model answers one class for every image.');
    expect(page.markdown).toContain('Over 3 seeds of label skew with FedAvg, flambda ends at chance in 1 and PyTorch in 1 of 3 (table below).');
    expect(page.markdown).toContain('| mean (min to max) | 43.33 % (10.00 % to 70.00 %) | 45.00 % (10.00 % to 65.00 %) |');
  });
});
