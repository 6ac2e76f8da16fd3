import type { LocalTrainingConfig, StrategyConfig } from '../config/schema.js';
import { plainClient } from './halves.js';
import { localStepCount, scaffoldStepScale } from './scaffold.js';
import { elementwise } from './tensor-math.js';
import type { Strategy, StrategyContext } from './types.js';

/**
 * FedNova (Wang et al., NeurIPS 2020): clients that take more local steps (more samples, the same epochs) move
 * further and drag FedAvg's mean toward their own optimum. FedNova divides each client's update Δ_i = θ_i − θ by
 * ‖a_i‖₁, the number of local steps weighted as its optimizer accumulates them (τ_i for plain SGD; with momentum ρ
 * the same sum as SCAFFOLD's step scale), and rescales by τ_eff = Σ p_i·‖a_i‖₁:
 *   θ ← θ + τ_eff·Σ p_i·Δ_i/‖a_i‖₁,   p_i = n_i/Σ n_j.
 * Clients upload their trained weights as in FedAvg; the server weighs update i by n_i/‖a_i‖₁ in the mean, so
 * mean − θ = Σ (n_i/‖a_i‖₁)·Δ_i / Σ (n_j/‖a_j‖₁), and the step multiplies it by τ_eff·Σ p_j/‖a_j‖₁. With equal shards
 * every ‖a_i‖₁ is equal and FedNova is FedAvg.
 */
export function normalisedSteps(samples: number, local: LocalTrainingConfig): number {
  const steps = localStepCount({ samples, epochs: local.epochs, batchSize: local.batchSize });
  return scaffoldStepScale(steps, 1, local.optimizer === 'sgd' ? local.momentum : 0);
}

export function createFedNova(_config: Extract<StrategyConfig, { name: 'fednova' }>, context: StrategyContext): Strategy {
  const steps = (samples: number) => normalisedSteps(samples, context.local);
  return {
    name: 'fednova',
    client: plainClient(),
    server: {
      averagedPart: (model) => model,
      complete: (_previous, averaged) => averaged,
      uploadProblem: () => undefined,
      combineWeight: ({ samples }) => samples / steps(samples),
      step({ global, mean, accepted }) {
        if (!accepted?.length) return { weights: mean };
        const total = accepted.reduce((sum, update) => sum + update.samples, 0);
        const share = (samples: number) => samples / total;
        const effective = accepted.reduce((sum, { samples }) => sum + share(samples) * steps(samples), 0);
        const normaliser = accepted.reduce((sum, { samples }) => sum + share(samples) / steps(samples), 0);
        const scale = effective * normaliser;
        return { weights: elementwise('fednova', [global, mean], (x, y) => x + scale * (y - x)) };
      },
    },
  };
}
