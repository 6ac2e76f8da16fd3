import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseExperimentConfig } from '../shared/config/parse.js';
import { validateExperimentConfig } from '../shared/pipeline/validate.js';

/** The `dataset` field, natural partitions and the dataset examples, as the CLI and the start step check them. */

const errorsOf = (input: unknown) => {
  const result = validateExperimentConfig(input);
  return result.ok ? [] : result.errors;
};

describe('dataset configs', () => {
  it('accepts the built-in datasets and any imported name', () => {
    for (const dataset of ['mnist', 'fashion-mnist', 'cifar10', 'my-scans.v2']) {
      const result = parseExperimentConfig({ dataset, model: dataset === 'cifar10' ? 'cnn-cifar' : 'cnn-small' });
      expect(result.ok && result.config.dataset, dataset).toBe(dataset);
    }
  });

  it('refuses a model that does not take a built-in dataset\'s images before anything runs, naming those that do', () => {
    expect(errorsOf({ dataset: 'cifar10', model: 'cnn-mcmahan' })).toEqual([
      'model: cnn-mcmahan takes 28×28×1 images (mnist, fashion-mnist), not 32×32×3: for 32×32×3 images choose cnn-small or mlp or cnn-cifar or cnn-tiny (dataset cifar10 has 32×32×3 images)',
    ]);
    expect(errorsOf({ dataset: 'fashion-mnist', model: 'cnn-cifar' })[0]).toMatch(/cnn-cifar takes 32×32×3 images \(cifar10\), not 28×28×1/);
    expect(errorsOf({ dataset: 'cifar10', model: 'mlp' })).toEqual([]);
  });

  it('checks a natural partition\'s client list, and that a built-in dataset cannot be natural', () => {
    expect(errorsOf({ dataset: 'silos', clients: 3, partition: { kind: 'natural', clients: ['a', 'b'] } })).toEqual([
      'partition.clients: must list as many clients as "clients", 3 (got 2)',
    ]);
    expect(errorsOf({ dataset: 'silos', clients: 2, partition: { kind: 'natural', clients: ['a', 'a'] } })).toEqual(['partition.clients[1]: "a" is listed twice']);
    expect(errorsOf({ dataset: 'silos', clients: 1, partition: { kind: 'natural', clients: ['../x'] } })[0]).toMatch(/partition.clients\[0\]: client ids use letters/);
    expect(errorsOf({ dataset: 'mnist', partition: { kind: 'natural' } })[0]).toMatch(/partition: "natural" needs a dataset imported per client/);
    expect(errorsOf({ dataset: 'silos', clients: 3, partition: { kind: 'natural' } })).toEqual([]);
  });
});

describe('dataset example configs', () => {
  const load = async (file: string) => {
    const result = validateExperimentConfig(await readFile(new URL(`../examples/${file}`, import.meta.url)));
    if (!result.ok) throw new Error(`${file}: ${result.errors.join('; ')}`);
    return result.config;
  };

  it.each(['fashion-mnist', 'cifar10'])('%s: the original study (IID, label skew, label skew with SCAFFOLD), differing only there', async (dataset) => {
    const [iid, skew, scaffold] = await Promise.all(['iid', 'label-skew', 'label-skew-scaffold'].map((name) => load(`${dataset}/${name}.json`)));
    for (const config of [iid!, skew!, scaffold!]) {
      expect(config).toMatchObject({ dataset, clients: 5, rounds: 5, model: dataset === 'cifar10' ? 'cnn-cifar' : 'cnn-small', seed: 42 });
      expect(config.local).toMatchObject({ epochs: 1, batchSize: 32 });
    }
    expect(iid!.partition).toEqual({ kind: 'iid' });
    expect(skew!.partition).toEqual({ kind: 'shards', shardsPerClient: 2 });
    expect(scaffold!.strategy).toEqual({ name: 'scaffold', serverLearningRate: 1 });
    const { name: _a, partition: _b, ...iidRest } = iid!;
    const { name: _c, partition: _d, ...skewRest } = skew!;
    expect(skewRest).toEqual(iidRest);
  });

  it('natural.json names a dataset imported per client', async () => {
    expect(await load('natural.json')).toMatchObject({ dataset: 'silos', partition: { kind: 'natural' } });
  });
});
