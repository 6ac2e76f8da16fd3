import { describe, expect, it } from 'vitest';
import { experimentConfigSchema, parseStrategyConfig, type StrategyConfigInput } from '../shared/config/schema.js';
import { normalisedSteps } from '../shared/strategies/fednova.js';
import { strategyFor, type ClientObjective, type StrategyContext } from '../shared/strategies/index.js';
import type { ModelWeights } from '../shared/weights/types.js';
import { clientInput, simulateRounds } from './helpers/strategy-sim.js';

const model = (values: number[]): ModelWeights => [{ name: 'w', shape: [values.length], values: Float32Array.from(values) }];
const valuesOf = (weights: ModelWeights) => Array.from(weights[0]!.values);

const learningRate = 0.05;
const local = experimentConfigSchema.parse({ local: { optimizer: 'sgd', momentum: 0, learningRate, batchSize: 10, epochs: 1 } }).local;
const context = (clients: number): StrategyContext => ({ local, clients });
const strategy = (input: StrategyConfigInput, clients: number) => strategyFor(parseStrategyConfig(input), context(clients));

/**
 * Local SGD on f(w) = h/2·(w − a)², with what the client half asks for: a proximal pull μ·(w − start) and a constant
 * gradient correction. One step per 10 samples (batchSize 10, one epoch), as the client halves count them.
 */
function quadraticClient(curvature: number, optimum: number, samples: number, rate = learningRate) {
  return {
    samples,
    train(start: ModelWeights, objective: ClientObjective): ModelWeights {
      const w0 = valuesOf(start)[0]!;
      const mu = objective.proximalMu ?? 0;
      const correction = objective.gradientCorrection ? valuesOf(objective.gradientCorrection)[0]! : 0;
      let w = w0;
      for (let k = 0; k < samples / 10; k++) w -= rate * (curvature * (w - optimum) + mu * (w - w0) + correction);
      return model([w]);
    },
  };
}

describe('FedDyn (Acar et al., 2021)', () => {
  it('asks for −g_k and α, and proposes g_k − α·(θ_k − θ) as the client\'s next state', () => {
    const feddyn = strategy({ name: 'feddyn', alpha: 0.5 }, 4);
    expect(feddyn.client.adoptedState).toEqual(['gradient']);
    const input = clientInput(model([1, 2]), { adopted: { gradient: model([0.25, -1]) } });
    const plan = feddyn.client.begin(input);
    expect(plan.objective.proximalMu).toBe(0.5);
    expect(valuesOf(plan.objective.gradientCorrection!)).toEqual([-0.25, 1]);
    const result = feddyn.client.finish({ ...input, plan, trained: model([3, 0]), samples: 10 });
    // g⁺ = [0.25, −1] − 0.5·([3, 0] − [1, 2]) = [−0.75, 0]
    expect(valuesOf(result.proposals.gradient!)).toEqual([-0.75, 0]);
    // Before its first accepted update a client's g_k is zero: no correction.
    expect(valuesOf(feddyn.client.begin(clientInput(model([1, 2]))).objective.gradientCorrection!)).toEqual([-0, -0]);
  });

  it('steps the server: h ← h − α·(|P|/m)·(mean − θ), θ ← mean − h/α', () => {
    const feddyn = strategy({ name: 'feddyn', alpha: 0.5 }, 4);
    const accepted = [{ clientId: 'a', samples: 10 }, { clientId: 'b', samples: 10 }];
    const first = feddyn.server.step({ round: 1, global: model([1]), mean: model([3]), state: undefined, accepted });
    // h = 0 − 0.5·(2/4)·(3 − 1) = −0.5;  θ = 3 − (−0.5)/0.5 = 4
    expect(valuesOf(first.weights)).toEqual([4]);
    const second = feddyn.server.step({ round: 2, global: model([4]), mean: model([4]), state: first.state, accepted });
    // h stays −0.5 (no move);  θ = 4 + 1 = 5
    expect(valuesOf(second.weights)).toEqual([5]);
  });

  it('removes client drift where FedAvg keeps it: converges to the federation optimum of two skewed clients', () => {
    const clients = [quadraticClient(1, 0, 100), quadraticClient(10, 1, 100)];
    const optimum = 10 / 11;
    const fedavg = valuesOf(simulateRounds(strategy({ name: 'fedavg' }, 2), clients, model([0.5]), 300, local))[0]!;
    const feddyn = valuesOf(simulateRounds(strategy({ name: 'feddyn', alpha: 0.1 }, 2), clients, model([0.5]), 300, local))[0]!;
    expect(Math.abs(fedavg - optimum)).toBeGreaterThan(0.15);
    expect(feddyn).toBeCloseTo(optimum, 4);
  });
});

describe('FedNova (Wang et al., 2020)', () => {
  it('counts the local steps as the optimizer accumulates them', () => {
    expect(normalisedSteps(100, local)).toBe(10);
    expect(normalisedSteps(101, local)).toBe(11);
    // Heavy-ball momentum ρ: ‖a‖₁ = (τ − ρ(1 − ρ^τ)/(1 − ρ))/(1 − ρ); τ = 2, ρ = 0.5: (2 − 0.5·0.75/0.5)/0.5 = 2.5
    expect(normalisedSteps(20, { ...local, momentum: 0.5 })).toBeCloseTo(2.5, 12);
  });

  it('is FedAvg when every client takes the same number of steps', () => {
    const clients = [quadraticClient(1, 0, 100), quadraticClient(10, 1, 100)];
    const fedavg = simulateRounds(strategy({ name: 'fedavg' }, 2), clients, model([0.5]), 5, local);
    const fednova = simulateRounds(strategy({ name: 'fednova' }, 2), clients, model([0.5]), 5, local);
    expect(valuesOf(fednova)[0]).toBeCloseTo(valuesOf(fedavg)[0]!, 6);
  });

  it('settles where the clients\' normalised updates cancel, while FedAvg leans to the client taking more steps', () => {
    // Same curvature, different step counts (10 and 40). One client's update from θ is c_i·(a_i − θ), c_i = 1 − (1 − η)^τ_i;
    // FedNova's normalisation is exact where c_i/τ_i ≈ η, i.e. for small η·τ_i, as in the paper's analysis.
    const rate = 0.005;
    const slow = { ...local, learningRate: rate };
    const clients = [quadraticClient(1, 0, 100, rate), quadraticClient(1, 1, 400, rate)];
    const tau = [10, 40];
    const p = [0.2, 0.8];
    const c = tau.map((steps) => 1 - (1 - rate) ** steps);
    const optimumOf = (weight: (i: number) => number) => (p[1]! * weight(1) * 1) / (p[0]! * weight(0) + p[1]! * weight(1));
    const fedavgFixedPoint = optimumOf((i) => c[i]!);
    const fednovaFixedPoint = optimumOf((i) => c[i]! / tau[i]!);
    const federationOptimum = 0.8;
    const fedavg = valuesOf(simulateRounds(strategyFor(parseStrategyConfig({ name: 'fedavg' }), { local: slow, clients: 2 }), clients, model([0.5]), 300, slow))[0]!;
    const fednova = valuesOf(simulateRounds(strategyFor(parseStrategyConfig({ name: 'fednova' }), { local: slow, clients: 2 }), clients, model([0.5]), 300, slow))[0]!;
    expect(fedavg).toBeCloseTo(fedavgFixedPoint, 4);
    expect(fednova).toBeCloseTo(fednovaFixedPoint, 4);
    // FedAvg settles 0.14 from the optimum Σ p_i·a_i, FedNova 0.012.
    expect(Math.abs(fednova - federationOptimum)).toBeLessThan(Math.abs(fedavg - federationOptimum) / 5);
  });
});
