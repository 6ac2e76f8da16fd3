import { describe, expect, it } from 'vitest';
import { experimentConfigSchema, parseStrategyConfig } from '../shared/config/schema.js';
import {
  localStepCount,
  scaffoldClientUpdate,
  scaffoldCorrection,
  scaffoldServerControl,
  scaffoldServerControlUpdate,
  scaffoldStepScale,
  strategyFor,
  type ClientObjective,
  type Strategy,
} from '../shared/strategies/index.js';
import { simulateRounds } from './helpers/strategy-sim.js';
import type { ModelWeights } from '../shared/weights/types.js';

const model = (values: number[]): ModelWeights => [{ name: 'w', shape: [values.length], values: Float32Array.from(values) }];
const valuesOf = (weights: ModelWeights) => Array.from(weights[0]!.values);

function expectValues(weights: ModelWeights, expected: number[]): void {
  const actual = valuesOf(weights);
  expect(actual).toHaveLength(expected.length);
  expected.forEach((value, index) => expect(actual[index], `value ${index}`).toBeCloseTo(value, 6));
}

describe('SCAFFOLD control variates (Karimireddy et al., option II)', () => {
  it("updates a client's control variate: c_i⁺ = c_i − c + (x − y_i)/(K·η)", () => {
    // K·η = 10 · 0.05 = 0.5;  (x − y)/(K·η) = ([1, 1] − [0.5, 1.2]) / 0.5 = [1, −0.4]
    // c_i⁺ = [0.1, 0] − [0.2, −0.1] + [1, −0.4] = [0.9, −0.3];  Δc_i = c_i⁺ − c_i = [0.8, −0.3]
    const update = scaffoldClientUpdate({
      global: model([1, 1]),
      trained: model([0.5, 1.2]),
      serverControl: model([0.2, -0.1]),
      clientControl: model([0.1, 0]),
      steps: 10,
      learningRate: 0.05,
    });
    expectValues(update.control, [0.9, -0.3]);
    expectValues(update.delta, [0.8, -0.3]);
  });

  it("updates the server's: c ← c + (|S|/N)·mean(Δc_i)", () => {
    // 2 of 4 clients reported, mean Δc = [0.4, 0.2]:  c = [0.2, −0.1] + 0.5·[0.4, 0.2] = [0.4, 0]
    const next = scaffoldServerControlUpdate(model([0.2, -0.1]), { mean: model([0.4, 0.2]), contributors: 2, clients: 4 });
    expectValues(next, [0.4, 0]);
    expect(() => scaffoldServerControlUpdate(model([0]), { mean: model([1]), contributors: 5, clients: 4 })).toThrow(
      'scaffold: contributors must be an integer from 1 to clients, 4 (got 5)',
    );
    expect(() => scaffoldServerControlUpdate(model([0, 0]), { mean: model([1]), contributors: 1, clients: 4 })).toThrow(/mean control-variate delta/);
  });

  it('corrects every local gradient by c − c_i', () => {
    expectValues(scaffoldCorrection(model([0.2, -0.1]), model([0.1, 0.3])), [0.1, -0.4]);
  });

  it('recovers a constant gradient exactly, with plain SGD and with tfjs-style momentum', () => {
    // With c = c_i = 0 and a constant gradient g, option II must give back c_i⁺ = g.
    const g = 0.75;
    for (const momentum of [0, 0.5, 0.9]) {
      const learningRate = 0.1;
      const steps = 7;
      // tfjs MomentumOptimizer: a ← β·a + g;  w ← w − η·a  (a starts at 0).
      let w = 1;
      let accumulator = 0;
      for (let k = 0; k < steps; k++) {
        accumulator = momentum * accumulator + g;
        w -= learningRate * accumulator;
      }
      const update = scaffoldClientUpdate({
        global: model([1]),
        trained: model([w]),
        serverControl: model([0]),
        clientControl: model([0]),
        steps,
        learningRate,
        momentum,
      });
      expectValues(update.control, [g]);
    }
    // K = 3, β = 0.5, η = 0.1: the accumulator is 1, 1.5, 1.75, so the weights move 0.1·4.25 = 0.425 per unit gradient,
    // and the closed form gives 0.1·(3 − 0.5·(1 − 0.125)/0.5)/0.5 = 0.1·2.125/0.5 = 0.425.
    expect(scaffoldStepScale(3, 0.1, 0.5)).toBeCloseTo(0.425, 12);
    expect(scaffoldStepScale(10, 0.05)).toBeCloseTo(0.5, 12);
  });

  it('counts local steps the way trainLocal takes them: ⌈samples / batchSize⌉ per epoch', () => {
    expect(localStepCount({ samples: 100, epochs: 2, batchSize: 32 })).toBe(8);
    expect(localStepCount({ samples: 96, epochs: 1, batchSize: 32 })).toBe(3);
    expect(localStepCount({ samples: 5, epochs: 3, batchSize: 32 })).toBe(3);
    expect(() => localStepCount({ samples: 0, epochs: 1, batchSize: 32 })).toThrow('localStepCount: samples must be a positive integer (got 0)');
  });
});

describe('SCAFFOLD server step', () => {
  const scaffold = strategyFor(parseStrategyConfig({ name: 'scaffold', serverLearningRate: 0.5 }));

  it('moves x by η_g along the mean update, updates c and persists it as its state', () => {
    expect(scaffold.client.adoptedState).toEqual(['control']);
    expect(scaffold.client.sideUploads).toEqual(['control-delta']);
    // x = [1, 1] + 0.5·([0.5, 1.5] − [1, 1]) = [0.75, 1.25];  c = 0 + (1/2)·[0.4, −0.2] = [0.2, −0.1]
    const global = model([1, 1]);
    const first = scaffold.server.step({
      round: 1, global, mean: model([0.5, 1.5]), state: undefined,
      side: { 'control-delta': { mean: model([0.4, -0.2]), contributors: 1, clients: 2 } },
    });
    expectValues(first.weights, [0.75, 1.25]);
    expectValues(scaffoldServerControl(first.state, global), [0.2, -0.1]);
    // Round 2 starts from that c:  c = [0.2, −0.1] + (2/2)·[0.2, 0.2] = [0.4, 0.1]
    const second = scaffold.server.step({
      round: 2, global: first.weights, mean: first.weights, state: first.state,
      side: { 'control-delta': { mean: model([0.2, 0.2]), contributors: 2, clients: 2 } },
    });
    expectValues(second.weights, [0.75, 1.25]);
    expectValues(scaffoldServerControl(second.state, global), [0.4, 0.1]);
  });

  it('starts every control variate at zero', () => {
    expect(valuesOf(scaffoldServerControl(undefined, model([3, -4, 5])))).toEqual([0, 0, 0]);
  });

  it('refuses to step without the clients\' control-variate deltas rather than silently running FedAvg', () => {
    expect(() => scaffold.server.step({ round: 1, global: model([1]), mean: model([2]), state: undefined })).toThrow(
      /^scaffold: the server step needs the "control-delta" side upload folded/,
    );
  });
});

/**
 * Two clients with quadratic losses f_i(w) = h_i/2·(w − a_i)² of different curvature: the federation's optimum is
 * Σh_i·a_i / Σh_i, but with several local steps per round FedAvg settles elsewhere (client drift). SCAFFOLD's
 * correction removes the drift. Every piece of the round is the code under test except the local SGD, written here.
 */
describe('SCAFFOLD against client drift', () => {
  const clients = [
    { curvature: 1, optimum: 0 },
    { curvature: 10, optimum: 1 },
  ];
  const federationOptimum = (1 * 0 + 10 * 1) / 11;
  const steps = 10;
  const learningRate = 0.05;

  function localSgd(start: number, client: (typeof clients)[number], correction: number): number {
    let w = start;
    for (let k = 0; k < steps; k++) w -= learningRate * (client.curvature * (w - client.optimum) + correction);
    return w;
  }

  // K = epochs · ⌈samples / batchSize⌉ = 10 local steps of plain SGD, as the client half counts them.
  const local = experimentConfigSchema.parse({ local: { optimizer: 'sgd', momentum: 0, learningRate, batchSize: 10, epochs: 1 } }).local;

  /** Rounds of the strategy's own client and server halves (test/helpers/strategy-sim.ts); only local SGD is written here. */
  function run(strategy: Strategy, rounds: number): number {
    const simulated = clients.map((client) => ({
      samples: 100,
      train: (start: ModelWeights, objective: ClientObjective) =>
        model([localSgd(valuesOf(start)[0]!, client, objective.gradientCorrection ? valuesOf(objective.gradientCorrection)[0]! : 0)]),
    }));
    return valuesOf(simulateRounds(strategy, simulated, model([0.5]), rounds, local))[0]!;
  }

  it('FedAvg drifts away from the optimum; SCAFFOLD converges to it', () => {
    // FedAvg's fixed point: 10 local steps scale client 1's distance to its optimum by 0.95¹⁰ = 0.5987369 and client
    // 2's by 0.5¹⁰ = 0.0009766, so w = (0.5987369·w + 1 + 0.0009766·(w − 1))/2, i.e. w = 0.9990234/1.4002865 = 0.713442,
    // far from the optimum 10/11 = 0.909091.
    const fedavg = run(strategyFor(parseStrategyConfig({ name: 'fedavg' })), 50);
    const scaffold = run(strategyFor(parseStrategyConfig({ name: 'scaffold' })), 50);
    expect(fedavg).toBeCloseTo(0.713442, 5);
    expect(scaffold).toBeCloseTo(federationOptimum, 5);
  });
});
