import { describe, expect, it } from 'vitest';
import { createWeightedMean } from '../shared/aggregate/weighted-mean.js';
import { parseStrategyConfig, STRATEGY_NAMES, type StrategyConfig, type StrategyConfigInput } from '../shared/config/schema.js';
import { strategyFor, type Strategy } from '../shared/strategies/index.js';
import type { ModelWeights } from '../shared/weights/types.js';
import { clientInput } from './helpers/strategy-sim.js';

const model = (values: number[]): ModelWeights => [{ name: 'w', shape: [values.length], values: Float32Array.from(values) }];
const valuesOf = (weights: ModelWeights) => Array.from(weights[0]!.values);
const strategy = (input: StrategyConfigInput): Strategy => strategyFor(parseStrategyConfig(input));

/** Asserts each value to 6 decimals: the hand-computed numbers are float64, the strategies store float32. */
function expectValues(weights: ModelWeights, expected: number[]): void {
  const actual = valuesOf(weights);
  expect(actual).toHaveLength(expected.length);
  expected.forEach((value, index) => expect(actual[index], `value ${index}`).toBeCloseTo(value, 6));
}

describe('strategy registry', () => {
  it('has a strategy for every name the config accepts, under that name', () => {
    for (const name of STRATEGY_NAMES) expect(strategy({ name }).name).toBe(name);
  });

  it('names the known strategies when asked for an unknown one', () => {
    const stored = JSON.parse('{"name":"fedsomething"}') as StrategyConfig;
    expect(() => strategyFor(stored)).toThrow(
      /unknown strategy "fedsomething": known strategies are "fedavg", "fedprox", "fedavgm", "fedadam", "fedyogi", "fedadagrad", "scaffold"/,
    );
  });
});

describe('FedAvg', () => {
  const fedavg = strategy({ name: 'fedavg' });

  it('adds nothing to the client objective, starts from the global model and keeps no client state', () => {
    const global = model([1, 2]);
    const plan = fedavg.client.begin(clientInput(global));
    expect(plan.objective).toEqual({});
    expect(plan.start).toBe(global);
    expect([fedavg.client.adoptedState, fedavg.client.keptState, fedavg.client.sideUploads]).toEqual([[], [], []]);
    expect(fedavg.client.readsServerState).toBe(false);
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
      const step = fedavg.server.step({ round, global, mean: mean.result(), state });
      // The exact weighted mean, rounded once to float32.
      expect(valuesOf(step.weights)).toEqual([
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
    const fromZero = fedavg.server.step({ round: 3, global: model([0, 0]), mean, state: undefined });
    const fromElsewhere = fedavg.server.step({ round: 3, global: model([10, -10]), mean, state: undefined });
    expect(fromElsewhere.weights).toEqual(fromZero.weights);
    expect(valuesOf(fromZero.weights)).toEqual([0.25, -0.5]);
  });
});

describe('FedProx', () => {
  it('asks clients for the proximal term μ (default 0.01) and aggregates like FedAvg', () => {
    expect(strategy({ name: 'fedprox' }).client.begin(clientInput(model([0]))).objective).toEqual({ proximalMu: 0.01 });
    const fedprox = strategy({ name: 'fedprox', mu: 0.5 });
    expect(fedprox.client.begin(clientInput(model([0]))).objective).toEqual({ proximalMu: 0.5 });
    const global = model([1, 2]);
    const mean = model([0.5, -0.75]);
    const step = fedprox.server.step({ round: 1, global, mean, state: undefined });
    expect(step.weights).toEqual(strategy({ name: 'fedavg' }).server.step({ round: 1, global, mean, state: undefined }).weights);
    expect(step.state).toBeUndefined();
  });
});

describe('FedAvgM', () => {
  it('carries server momentum from round 1 into round 2', () => {
    const fedavgm = strategy({ name: 'fedavgm', serverLearningRate: 0.5, momentum: 0.9 });
    // Round 1: Δ = mean − global = [1, 0] − [0, 1] = [1, −1];  v = 0.9·0 + Δ = [1, −1];
    //          x = [0, 1] + 0.5·[1, −1] = [0.5, 0.5].
    const first = fedavgm.server.step({ round: 1, global: model([0, 1]), mean: model([1, 0]), state: undefined });
    expectValues(first.weights, [0.5, 0.5]);
    // Round 2: Δ = [1, 0.5] − [0.5, 0.5] = [0.5, 0];  v = 0.9·[1, −1] + [0.5, 0] = [1.4, −0.9];
    //          x = [0.5, 0.5] + 0.5·[1.4, −0.9] = [1.2, 0.05].
    const second = fedavgm.server.step({ round: 2, global: first.weights, mean: model([1, 0.5]), state: first.state });
    expectValues(second.weights, [1.2, 0.05]);
  });

  it('with momentum 0 and server learning rate 1 is exactly FedAvg', () => {
    const fedavgm = strategy({ name: 'fedavgm', serverLearningRate: 1, momentum: 0 });
    const mean = model([0.1, -3.7, 12.25]);
    const step = fedavgm.server.step({ round: 1, global: model([5, 0.3, -2]), mean, state: undefined });
    expect(step.weights).toEqual(mean);
  });

  it('defaults to serverLearningRate 1 and momentum 0.9', () => {
    expect(parseStrategyConfig({ name: 'fedavgm' })).toEqual({ name: 'fedavgm', serverLearningRate: 1, momentum: 0.9 });
  });
});

describe('FedAdam, FedYogi and FedAdagrad (Reddi et al.)', () => {
  // One round on three coordinates: x = [1, −0.5, 0.25], mean = [1.25, −0.5, 0.125], so Δ = [0.25, 0, −0.125]
  // (every number exact in float32). m starts at 0 and v at τ².
  const global = model([1, -0.5, 0.25]);
  const mean = model([1.25, -0.5, 0.125]);

  it('FedAdam: one step on known numbers, then a second from its state', () => {
    const fedadam = strategy({ name: 'fedadam', serverLearningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
    // m = 0.9·0 + 0.1·Δ                = [0.025, 0, −0.0125]
    // v = 0.99·τ² + 0.01·Δ²  (τ² = 1e-6) = [9.9e-7 + 6.25e-4, 9.9e-7, 9.9e-7 + 1.5625e-4] = [6.2599e-4, 9.9e-7, 1.5724e-4]
    // √v = [0.0250197922, 0.0009949874, 0.0125395375]
    // x += 0.1·m / (√v + 0.001):
    //   1    + 0.0025  / 0.0260197922 = 1 + 0.0960807060 = 1.0960807060
    //   −0.5 + 0                                          = −0.5
    //   0.25 − 0.00125 / 0.0135395375 = 0.25 − 0.0923222084 = 0.1576777916
    const first = fedadam.server.step({ round: 1, global, mean, state: undefined });
    expectValues(first.weights, [1.096080706, -0.5, 0.1576777916]);
    expect(first.state).toBeDefined();

    // Round 2 with Δ = 0 (mean = global = [2, 2, 2]): the first moment keeps moving the model.
    //   m = 0.9·0.025 = 0.0225;  v = 0.99·6.2599e-4 = 6.197301e-4;  √v = 0.0248943789
    //   x = 2 + 0.1·0.0225 / (0.0248943789 + 0.001) = 2 + 0.00225 / 0.0258943789 = 2.0868914451
    // Coordinate 2 mirrors it with m = −0.01125, v = 0.99·1.5724e-4 = 1.556676e-4, √v = 0.0124766823:
    //   x = 2 − 0.001125 / 0.0134766823 = 2 − 0.0834775191 = 1.9165224809
    const second = fedadam.server.step({ round: 2, global: model([2, 2, 2]), mean: model([2, 2, 2]), state: first.state });
    expectValues(second.weights, [2.0868914451, 2, 1.9165224809]);
  });

  it('FedYogi: v grows towards a large Δ² and shrinks towards a small one, by (1 − β2)·Δ² each time', () => {
    const fedyogi = strategy({ name: 'fedyogi', serverLearningRate: 0.1, beta1: 0.9, beta2: 0.5, tau: 0.01 });
    // Round 1: Δ = 1.25 − 1 = 0.25, Δ² = 0.0625 > v = τ² = 1e-4, so sign(v − Δ²) = −1:
    //   v = 1e-4 + 0.5·0.0625 = 0.03135;  m = 0.1·0.25 = 0.025;  √v = 0.1770593121
    //   x = 1 + 0.1·0.025 / (0.1770593121 + 0.01) = 1 + 0.0025 / 0.1870593121 = 1.0133647450
    const first = fedyogi.server.step({ round: 1, global: model([1]), mean: model([1.25]), state: undefined });
    expectValues(first.weights, [1.013364745]);
    // Round 2: Δ = 2.0625 − 2 = 0.0625, Δ² = 0.00390625 < v = 0.03135, so sign = +1:
    //   v = 0.03135 − 0.5·0.00390625 = 0.029396875;  m = 0.9·0.025 + 0.1·0.0625 = 0.02875;  √v = 0.1714551691
    //   x = 2 + 0.002875 / 0.1814551691 = 2.0158441339
    const second = fedyogi.server.step({ round: 2, global: model([2]), mean: model([2.0625]), state: first.state });
    expectValues(second.weights, [2.0158441339]);
  });

  it('FedAdagrad: v sums Δ², so the same Δ moves the model less in round 2', () => {
    const fedadagrad = strategy({ name: 'fedadagrad', serverLearningRate: 0.1, beta1: 0, tau: 1e-3 });
    // β1 = 0, so m = Δ = 0.25 in both rounds.
    // Round 1: v = 1e-6 + 0.0625 = 0.062501;  √v = 0.2500020000;  x = 1 + 0.025 / 0.2510020000 = 1.0996008000
    const first = fedadagrad.server.step({ round: 1, global: model([1]), mean: model([1.25]), state: undefined });
    expectValues(first.weights, [1.0996008]);
    // Round 2: v = 0.062501 + 0.0625 = 0.125001;  √v = 0.3535548048;  x = 2 + 0.025 / 0.3545548048 = 2.0705109610
    const second = fedadagrad.server.step({ round: 2, global: model([2]), mean: model([2.25]), state: first.state });
    expectValues(second.weights, [2.070510961]);
  });

  it('FedAdagrad with β1 = 0.9 on the three-coordinate case', () => {
    const fedadagrad = strategy({ name: 'fedadagrad', serverLearningRate: 0.1, beta1: 0.9, tau: 1e-3 });
    // m = [0.025, 0, −0.0125];  v = 1e-6 + Δ² = [0.062501, 1e-6, 0.015626];  √v = [0.250002, 0.001, 0.1250040]
    // x = [1 + 0.0025/0.251002, −0.5, 0.25 − 0.00125/0.126004] = [1.0099600800, −0.5, 0.2400796800]
    expectValues(fedadagrad.server.step({ round: 1, global, mean, state: undefined }).weights, [1.00996008, -0.5, 0.24007968]);
  });

  it('default to serverLearningRate 0.01 (Adam, Yogi) or 0.1 (Adagrad), β1 0.9, β2 0.99, τ 1e-3', () => {
    expect(parseStrategyConfig({ name: 'fedadam' })).toEqual({ name: 'fedadam', serverLearningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
    expect(parseStrategyConfig({ name: 'fedyogi' })).toEqual({ name: 'fedyogi', serverLearningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
    expect(parseStrategyConfig({ name: 'fedadagrad' })).toEqual({ name: 'fedadagrad', serverLearningRate: 0.1, beta1: 0.9, tau: 1e-3 });
  });
});

describe('every strategy', () => {
  const twoTensors = (a: number[], b: number[]): ModelWeights => [
    { name: 'dense/kernel', shape: [2, 2], values: Float32Array.from(a) },
    { name: 'dense/bias', shape: [2], values: Float32Array.from(b) },
  ];
  const copy = (weights: ModelWeights): ModelWeights => weights.map((tensor) => ({ ...tensor, shape: [...tensor.shape], values: tensor.values.slice() }));
  const controlDeltas = { mean: twoTensors([0.1, 0.2, 0.3, 0.4], [0.5, 0.6]), contributors: 2, clients: 4 };

  it.each(STRATEGY_NAMES)('%s never changes its inputs, over two rounds', (name) => {
    const s = strategy({ name });
    const global = twoTensors([1, 2, 3, 4], [0.5, -0.5]);
    const mean = twoTensors([1.5, 1, 3, 5], [0, 0.25]);
    const inputs = { global: copy(global), mean: copy(mean), side: { 'control-delta': { ...controlDeltas, mean: copy(controlDeltas.mean) } } };
    const first = s.server.step({ round: 1, state: undefined, ...inputs });
    const stateAfterFirst = first.state === undefined ? undefined : copy(first.state);
    const second = s.server.step({ round: 2, state: first.state, ...inputs, global: first.weights });
    expect(inputs.global).toEqual(global);
    expect(inputs.mean).toEqual(mean);
    expect(inputs.side['control-delta'].mean).toEqual(controlDeltas.mean);
    expect(first.state).toEqual(stateAfterFirst);
    // The result keeps the model's layout.
    expect(second.weights.map(({ name: tensor, shape }) => ({ tensor, shape }))).toEqual([
      { tensor: 'dense/kernel', shape: [2, 2] },
      { tensor: 'dense/bias', shape: [2] },
    ]);
  });

  it.each(['fedavgm', 'fedadam', 'fedyogi', 'fedadagrad', 'scaffold'] as const)(
    '%s refuses a stored state that does not fit the model, naming itself',
    (name) => {
      const stepOn = (s: Strategy, values: number[], state: ModelWeights | undefined) =>
        s.server.step({
          round: 2, global: model(values), mean: model(values), state,
          side: { 'control-delta': { mean: model(values.map(() => 0)), contributors: 1, clients: 1 } },
        });
      const s = strategy({ name });
      const otherModelsState = stepOn(s, [1, 2, 3], undefined).state;
      expect(() => stepOn(s, [1, 2], otherModelsState)).toThrow(new RegExp(`^${name}: the stored server state does not fit the model`));
      const otherStrategysState = stepOn(strategy({ name: name === 'fedavgm' ? 'scaffold' : 'fedavgm' }), [1, 2], undefined).state;
      expect(() => stepOn(s, [1, 2], otherStrategysState)).toThrow(/does not fit the model/);
    },
  );
});
