import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  defaultExperimentConfig,
  loadExperimentConfig,
  MAX_CONFIG_BYTES,
  parseExperimentConfig,
} from '../shared/config/parse.js';
import { resolveMinClients } from '../shared/config/schema.js';

function errorsOf(input: unknown): string[] {
  const result = parseExperimentConfig(input);
  if (result.ok) throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
  return result.errors;
}

describe('experiment config defaults', () => {
  it('{} is the original proof of concept: MNIST, 5 clients, 5 rounds, cnn-small, FedAvg, IID', () => {
    const config = defaultExperimentConfig();
    expect(config).toMatchObject({
      dataset: 'mnist',
      clients: 5,
      rounds: 5,
      model: 'cnn-small',
      strategy: { name: 'fedavg' },
      partition: { kind: 'iid' },
      local: { epochs: 1, batchSize: 32 },
      samplesPerClient: null,
    });
    expect(resolveMinClients(config)).toBe(5);
  });

  it('fills defaults inside partial objects and per partition kind', () => {
    const result = parseExperimentConfig({ local: { epochs: 3 }, partition: { kind: 'dirichlet' } });
    expect(result.ok && result.config.local).toEqual({ ...defaultExperimentConfig().local, epochs: 3 });
    expect(result.ok && result.config.partition).toEqual({ kind: 'dirichlet', alpha: 0.5 });
    const shards = parseExperimentConfig({ partition: { kind: 'shards' } });
    expect(shards.ok && shards.config.partition).toEqual({ kind: 'shards', shardsPerClient: 2 });
  });

  it('a resolved config parses back to itself, so it can be stored and re-read', () => {
    const result = parseExperimentConfig({ clients: 7, round: { minClients: 6 }, partition: { kind: 'shards' } });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    const again = parseExperimentConfig(JSON.stringify(result.config));
    expect(again).toEqual(result);
  });

  it('accepts JSON as a string, as bytes (with or without a BOM) and as a parsed object', () => {
    const text = '{ "clients": 3, "$schema": "../docs/config.schema.json" }';
    for (const input of [text, new TextEncoder().encode(text), `\uFEFF${text}`, JSON.parse(text) as unknown]) {
      const result = parseExperimentConfig(input);
      expect(result.ok && result.config.clients).toBe(3);
    }
  });
});

describe('example configs', () => {
  const load = async (file: string) => loadExperimentConfig(await readFile(new URL(`../examples/${file}`, import.meta.url)), { source: file });

  it('mnist-iid and mnist-label-skew are the original study, differing only in the partition', async () => {
    const iid = await load('mnist-iid.json');
    const skew = await load('mnist-label-skew.json');
    for (const config of [iid, skew]) {
      expect(config).toMatchObject({ dataset: 'mnist', clients: 5, rounds: 5, model: 'cnn-small', strategy: { name: 'fedavg' } });
      expect(config.local).toMatchObject({ epochs: 1, batchSize: 32 });
    }
    expect(iid.partition).toEqual({ kind: 'iid' });
    expect(skew.partition).toEqual({ kind: 'shards', shardsPerClient: 2 });
    const { name: _iidName, partition: _iidPartition, ...iidRest } = iid;
    const { name: _skewName, partition: _skewPartition, ...skewRest } = skew;
    expect(skewRest).toEqual(iidRest);
  });

  it('quick is a small smoke run', async () => {
    expect(await load('quick.json')).toMatchObject({ clients: 3, rounds: 2, samplesPerClient: 300 });
  });

  it('the scale examples split MNIST over 1,000 clients of 60 samples, asking 100 of them a round and all of them', async () => {
    const sampled = await load('scale/mnist-1000-clients.json');
    const everyone = await load('scale/mnist-1000-per-round.json');
    for (const config of [sampled, everyone]) expect(config).toMatchObject({ dataset: 'mnist', clients: 1000, samplesPerClient: 60, model: 'cnn-small' });
    expect(sampled.sampling).toMatchObject({ perRound: 100 });
    expect(everyone.sampling).toBeUndefined();
  });
});

describe('config errors', () => {
  it.each([
    [{ model: 'cnn' }, 'model: must be one of "cnn-mcmahan", "cnn-small", "mlp", "cnn-cifar", "cnn-tiny" (got "cnn")'],
    [{ clients: 0 }, 'clients: must be an integer from 1 to 1000 (got 0)'],
    [{ rounds: 1001 }, 'rounds: must be an integer from 1 to 1000 (got 1001)'],
    [{ clients: 2.5 }, 'clients: must be an integer from 1 to 1000 (got 2.5)'],
    [{ clients: '5' }, 'clients: must be an integer from 1 to 1000 (got "5")'],
    [{ partition: { kind: 'dirichlet', alpha: 0 } }, 'partition.alpha: must be a number greater than 0 and at most 1000 (got 0)'],
    [{ partition: { kind: 'shards', shardsPerClient: 101 } }, 'partition.shardsPerClient: must be an integer from 1 to 100 (got 101)'],
    [{ partition: { kind: 'pathological' } }, 'partition.kind: must be one of "iid", "shards", "dirichlet", "natural" (got "pathological")'],
    [{ partition: {} }, 'partition.kind: missing; must be one of "iid", "shards", "dirichlet", "natural"'],
    [{ partition: 'iid' }, 'partition: must be an object with "kind" one of "iid", "shards", "dirichlet", "natural" (got "iid")'],
    [{ local: { momentum: 1 } }, 'local.momentum: must be a number from 0 to 0.999 (got 1)'],
    [{ local: { optimizer: 'rmsprop' } }, 'local.optimizer: must be one of "sgd", "adam" (got "rmsprop")'],
    [{ local: 32 }, 'local: must be an object (got 32)'],
    [{ samplesPerClient: 0 }, 'samplesPerClient: must be an integer from 1 to 60000, or null (got 0)'],
    [{ dataset: 'CIFAR/10' }, 'dataset: must be "mnist", "fashion-mnist", "cifar10" or the name of a dataset imported with `flambda dataset import` (lowercase letters, digits, ".", "_" and "-", starting with a letter or digit, at most 64 characters) (got "CIFAR/10")'],
    [{ name: '' }, 'name: must be a string of 1 to 128 characters (got "")'],
    [{ strategy: { name: 'fedsgd' } }, 'strategy.name: must be one of "fedavg", "fedprox", "fedavgm", "fedadam", "fedyogi", "fedadagrad", "scaffold", "feddyn", "fednova" (got "fedsgd")'],
    [{ clients: 4, round: { minClients: 5 } }, 'round.minClients: must be at most the number of clients, 4 (got 5)'],
    [{ clients: 1000, partition: { kind: 'shards', shardsPerClient: 61 } }, 'partition.shardsPerClient: clients × shardsPerClient (1000 × 61) must not exceed the 60000 training samples'],
    [[], 'config: must be a JSON object (got an array)'],
    [null, 'config: must be a JSON object (got null)'],
  ])('%j → %s', (input, expected) => {
    expect(errorsOf(input)).toEqual([expected]);
  });

  it('names an unknown key, suggests the likely one and lists the allowed keys', () => {
    const [rounds] = errorsOf({ rouns: 3 });
    expect(rounds).toMatch(/^rouns: unknown key \(did you mean "rounds"\?\); allowed top-level keys: "\$schema", "name", .*"round"(, "[A-Za-z$]+")*$/);
    const [alpha] = errorsOf({ partition: { kind: 'dirichlet', alpah: 0.1 } });
    expect(alpha).toBe('partition.alpah: unknown key (did you mean "alpha"?); allowed keys in partition: "kind", "alpha"');
    const [batch] = errorsOf({ local: { batchsize: 64 } });
    expect(batch).toContain('local.batchsize: unknown key (did you mean "batchSize"?)');
    const [unrelated] = errorsOf({ 'learning rate': 0.1 });
    expect(unrelated).toMatch(/^\["learning rate"\]: unknown key; allowed top-level keys: /);
  });

  it('reports every problem at once, in words and without zod internals', () => {
    const errors = errorsOf({ model: 'cnn', clients: -1, local: { epochs: 0, extra: true }, partition: { kind: 'shards', alpha: 1 } });
    expect(errors).toHaveLength(5);
    expect(errors.map((error) => error.split(':')[0])).toEqual(
      expect.arrayContaining(['model', 'clients', 'local.epochs', 'local.extra', 'partition.alpha']),
    );
    for (const error of errors) {
      expect(error).not.toMatch(/Invalid input|"code"|ZodError|\n\s+at /);
    }
  });

  it('locates JSON syntax errors by line and column', () => {
    expect(errorsOf('{\n  "clients": 5,\n  "rounds": 2\n  "model": "mlp"\n}')).toEqual([
      "invalid JSON at line 4, column 3: Expected ',' or '}' after property value",
    ]);
    expect(errorsOf('{"clients": 5,}')[0]).toMatch(/^invalid JSON at line 1, column 15: /);
    expect(errorsOf('{"clients": 5')[0]).toMatch(/^invalid JSON at line 1, column 14: /);
    expect(errorsOf('{"clients": tru}')[0]).toMatch(/^invalid JSON/);
    expect(errorsOf(' \n ')).toEqual(['config is empty: write a JSON object ({} runs the defaults)']);
    expect(errorsOf(Uint8Array.of(0x7b, 0xff, 0x7d))).toEqual(['config is not UTF-8 text']);
  });

  it('accepts a config of exactly 64 KiB and rejects one byte more', () => {
    const padTo = (bytes: number) => `{"name": "padded"}${' '.repeat(bytes - '{"name": "padded"}'.length)}`;
    expect(parseExperimentConfig(padTo(MAX_CONFIG_BYTES)).ok).toBe(true);
    expect(errorsOf(padTo(MAX_CONFIG_BYTES + 1))).toEqual(['config is at least 65537 bytes; the limit is 65536 bytes (64 KiB)']);
    expect(errorsOf(new TextEncoder().encode(padTo(MAX_CONFIG_BYTES + 1)))).toEqual(['config is 65537 bytes; the limit is 65536 bytes (64 KiB)']);
    // Multi-byte characters count as the bytes they take in UTF-8.
    expect(errorsOf(`{"name": "${'é'.repeat(MAX_CONFIG_BYTES / 2)}"}`)[0]).toMatch(/^config is \d+ bytes; the limit/);
  });

  it('loadExperimentConfig throws a ConfigError carrying the same messages', () => {
    let thrown: unknown;
    try {
      loadExperimentConfig('{"clients": 0, "model": "cnn"}', { source: 'bad.json' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const error = thrown as ConfigError;
    expect(error.errors).toEqual(errorsOf('{"clients": 0, "model": "cnn"}'));
    expect(error.message).toBe(`bad.json is invalid:\n  - ${error.errors.join('\n  - ')}`);
  });
});
