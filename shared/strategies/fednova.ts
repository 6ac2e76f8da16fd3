import type { StrategyConfig } from '../config/schema.js';
import { localStepCount, scaffoldStepScale } from './scaffold.js';
import { elementwise } from './tensor-math.js';
import type { LocalTrainingConfig } from '../config/schema.js';
import type { ClientHalf, Strategy, StrategyContext } from './types.js';
import { wholeModelServer } from './halves.js';

/**
 * FedNova (Wang et al., NeurIPS 2020): clients that take more local steps (more samples, the same epochs) move
 * further and drag FedAvg's mean toward their own optimum. FedNova divides each client's update Δ_i = θ_i − θ by
 * ‖a_i‖₁, the number of local steps weighted as its optimizer accumulates them (τ_i for plain SGD; with momentum ρ
 * the same sum as SCAFFOLD's step scale), and rescales the mean by τ_eff = Σ p_i·‖a_i‖₁:
 *   θ ← θ + τ_eff·Σ p_i·Δ_i/‖a_i‖₁,   p_i = n_i/Σ n_j.
 * The client uploads θ + Δ_i/‖a_i‖₁, so the pipeline's sample-weighted mean is θ + Σ p_i·Δ_i/‖a_i‖₁ and the server
 * step only rescales it. With equal shards every ‖a_i‖₁ is equal and FedNova is FedAvg.
 */
export function normalisedSteps(samples: number, local: LocalTrainingConfig): number {
  const steps = localStepCount({ samples, epochs: local.epochs, batchSize: local.batchSize });
  return scaffoldStepScale(steps, 1, local.optimizer === 'sgd' ? local.momentum : 0);
}

export function createFedNova(_config: Extract<StrategyConfig, { name: 'fednova' }>, context: StrategyContext): Strategy {
  const client: ClientHalf = {
    adoptedState: [],
    keptState: [],
    sideUploads: [],
    readsServerState: false,
    begin: ({ global, shard }) => ({ start: global, trainSet: shard, objective: {} }),
    finish({ global, trained, samples, local }) {
      const scale = 1 / normalisedSteps(samples, local);
      const upload = elementwise('fednova: client update', [global, trained], (x, y) => x + scale * (y - x));
      return { upload, uploadBase: global, proposals: {}, side: {}, kept: {} };
    },
  };
  return {
    name: 'fednova',
    client,
    server: wholeModelServer(({ global, mean, accepted }) => {
      if (!accepted?.length) return { weights: mean };
      const total = accepted.reduce((sum, update) => sum + update.samples, 0);
      const effective = accepted.reduce((sum, update) => sum + (update.samples / total) * normalisedSteps(update.samples, context.local), 0);
      return { weights: elementwise('fednova', [global, mean], (x, y) => x + effective * (y - x)) };
    }),
  };
}
