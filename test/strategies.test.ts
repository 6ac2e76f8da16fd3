import { describe, expect, it } from 'vitest';
import { createWeightedMean } from '../shared/aggregate/weighted-mean.js';
import { STRATEGY_NAMES, type StrategyConfig } from '../shared/config/schema.js';
import { strategyFor } from '../shared/strategies/index.js';
import type { ModelWeights } from '../shared/weights/types.js';

const model = (values: number[]): ModelWeights => [{ name: 'w', shape: [values.length], values: Float32Array.from(values) }];

describe('strategy registry', () => {
  it('has a strategy for every name the config accepts', () => {
    for (const name of STRATEGY_NAMES) expect(strategyFor({ name }).name).toBe(name);
  });

  it('names the known strategies when asked for an unknown one', () => {
    const stored = JSON.parse('{"name":"fedsomething"}') as StrategyConfig;
    expect(() => strategyFor(stored)).toThrow(/unknown strategy "fedsomething": known strategies are "fedavg"/);
  });
});

describe('FedAvg', () => {
  const fedavg = strategyFor({ name: 'fedavg' });

  it('adds nothing to the client objective', () => {
    expect(fedavg.clientObjective.proximalMu).toBeUndefined();
  });

  it('makes the sample-weighted mean of 3 clients the next global model', () => {
    const global = model([0, 0, 0]);
    const clients = [
      { weights: model([1, 4, -2]), samples: 600 },
      { weights: model([2, 0, 2]), samples: 200 },
      { weights: model([-4, 8, 6]), samples: 200 },
    ];
    const mean = createWeightedMean(global);
    for (const { weights, samples } of clients) mean.add(weights, samples);

    let state: ModelWeights | undefined;
    for (const round of [1, 2]) {
      const step = fedavg.serverStep({ round, global, mean: mean.result(), state });
      // The exact weighted mean, rounded once to float32.
      expect(Array.from(step.weights[0]!.values)).toEqual([
        (600 * 1 + 200 * 2 + 200 * -4) / 1000,
        (600 * 4 + 200 * 0 + 200 * 8) / 1000,
        (600 * -2 + 200 * 2 + 200 * 6) / 1000,
      ].map(Math.fround));
      expect(step.state).toBeUndefined();
      state = step.state;
    }
  });

  it('ignores the previous global model: the next one is the clients\' mean alone', () => {
    const mean = model([0.25, -0.5]);
    const fromZero = fedavg.serverStep({ round: 3, global: model([0, 0]), mean, state: undefined });
    const fromElsewhere = fedavg.serverStep({ round: 3, global: model([10, -10]), mean, state: undefined });
    expect(fromElsewhere.weights).toEqual(fromZero.weights);
    expect(Array.from(fromZero.weights[0]!.values)).toEqual([0.25, -0.5]);
  });
});
