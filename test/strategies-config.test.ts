import { describe, expect, it } from 'vitest';
import { parseExperimentConfig } from '../shared/config/parse.js';
import { STRATEGY_NAMES } from '../shared/config/schema.js';

function errorsOf(input: unknown): string[] {
  const result = parseExperimentConfig(input);
  if (result.ok) throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
  return result.errors;
}

const ALL_NAMES = STRATEGY_NAMES.map((name) => JSON.stringify(name)).join(', ');

describe('strategy config', () => {
  it('fills each strategy\'s defaults from its paper, and a resolved config parses back to itself', () => {
    const expected = {
      fedavg: { name: 'fedavg' },
      fedprox: { name: 'fedprox', mu: 0.01 },
      fedavgm: { name: 'fedavgm', serverLearningRate: 1, momentum: 0.9 },
      fedadam: { name: 'fedadam', serverLearningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 0.001 },
      fedyogi: { name: 'fedyogi', serverLearningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 0.001 },
      fedadagrad: { name: 'fedadagrad', serverLearningRate: 0.1, beta1: 0.9, tau: 0.001 },
      scaffold: { name: 'scaffold', serverLearningRate: 1 },
      feddyn: { name: 'feddyn', alpha: 0.01 },
      fednova: { name: 'fednova' },
    } as const;
    expect(Object.keys(expected)).toEqual([...STRATEGY_NAMES]);
    for (const name of STRATEGY_NAMES) {
      const result = parseExperimentConfig({ strategy: { name } });
      if (!result.ok) throw new Error(result.errors.join('\n'));
      expect(result.config.strategy).toEqual(expected[name]);
      expect(parseExperimentConfig(JSON.stringify(result.config))).toEqual(result);
    }
  });

  it('keeps the parameters given', () => {
    const result = parseExperimentConfig({ strategy: { name: 'fedyogi', serverLearningRate: 0.03, beta2: 0.9 } });
    expect(result.ok && result.config.strategy).toEqual({ name: 'fedyogi', serverLearningRate: 0.03, beta1: 0.9, beta2: 0.9, tau: 0.001 });
  });

  it.each([
    [{ strategy: { name: 'fedsgd' } }, `strategy.name: must be one of ${ALL_NAMES} (got "fedsgd")`],
    [{ strategy: {} }, `strategy.name: missing; must be one of ${ALL_NAMES}`],
    [{ strategy: 'fedavg' }, `strategy: must be an object with "name" one of ${ALL_NAMES} (got "fedavg")`],
    [{ strategy: { name: 'fedprox', mu: -1 } }, 'strategy.mu: must be a number from 0 to 10 (got -1)'],
    [{ strategy: { name: 'fedavgm', momentum: 1 } }, 'strategy.momentum: must be a number from 0 to 0.999 (got 1)'],
    [{ strategy: { name: 'fedadam', beta1: 1 } }, 'strategy.beta1: must be a number at least 0 and less than 1 (got 1)'],
    [{ strategy: { name: 'fedyogi', tau: 0 } }, 'strategy.tau: must be a number greater than 0 and at most 1 (got 0)'],
    [{ strategy: { name: 'scaffold', serverLearningRate: 0 } }, 'strategy.serverLearningRate: must be a number greater than 0 and at most 10 (got 0)'],
    [{ strategy: { name: 'fedavg', mu: 0.1 } }, 'strategy.mu: unknown key; allowed keys in strategy: "name"'],
    [{ strategy: { name: 'fedprox', muu: 0.1 } }, 'strategy.muu: unknown key (did you mean "mu"?); allowed keys in strategy: "name", "mu"'],
    [
      { strategy: { name: 'scaffold' }, local: { optimizer: 'adam' } },
      'local.optimizer: must be "sgd" when strategy.name is "scaffold", whose control-variate update assumes SGD steps (got "adam")',
    ],
  ])('%j → %s', (input, expected) => {
    expect(errorsOf(input)).toEqual([expected]);
  });

  it('rejects β2 for FedAdagrad, whose second moment has no decay', () => {
    expect(errorsOf({ strategy: { name: 'fedadagrad', beta2: 0.9 } })[0]).toMatch(
      /^strategy\.beta2: unknown key .*; allowed keys in strategy: "name", "serverLearningRate", "beta1", "tau"$/,
    );
  });
});

describe('personalization config', () => {
  it('is optional and keeps the layer prefixes given', () => {
    const none = parseExperimentConfig({});
    expect(none.ok && none.config.personalization).toBeUndefined();
    const result = parseExperimentConfig({ personalization: { localLayers: ['logits', 'dense1'] } });
    expect(result.ok && result.config.personalization).toEqual({ localLayers: ['logits', 'dense1'] });
  });

  it.each([
    [{ personalization: { localLayers: [] } }, 'personalization.localLayers: must name at least one layer, e.g. ["logits"] (got an empty array)'],
    [{ personalization: { localLayers: ['logits', ''] } }, 'personalization.localLayers[1]: must be a weight-name prefix of 1 to 128 characters (got "")'],
    [{ personalization: { localLayers: ['logits', 'logits'] } }, 'personalization.localLayers[1]: "logits" is listed twice'],
    [{ personalization: { localLayers: 'logits' } }, 'personalization.localLayers: must be an array (got "logits")'],
    [{ personalization: { layers: ['logits'] } }, 'personalization.layers: unknown key; allowed keys in personalization: "localLayers"'],
  ])('%j → %s', (input, expected) => {
    expect(errorsOf(input)).toContain(expected);
  });
});
