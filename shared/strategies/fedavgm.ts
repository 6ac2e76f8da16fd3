import type { StrategyConfig } from '../config/schema.js';
import { packState, unpackState } from './server-state.js';
import { elementwise, filledLike } from './tensor-math.js';
import { plainClient, wholeModelServer } from './halves.js';
import type { Strategy } from './types.js';

const SLOTS = ['velocity'] as const;

/**
 * FedAvgM (Hsu et al., 2019): server momentum on the pseudo-gradient Δ = mean − global,
 *   v ← β·v + Δ,   x ← x + η·v   (v = 0 before round 1),
 * so β = 0, η = 1 is FedAvg. The velocity v is the persisted state.
 */
export function createFedAvgM({ serverLearningRate, momentum }: Extract<StrategyConfig, { name: 'fedavgm' }>): Strategy {
  return {
    name: 'fedavgm',
    client: plainClient(),
    server: wholeModelServer(({ global, mean, state }) => {
      const previous = state === undefined ? filledLike(global) : unpackState('fedavgm', state, global, SLOTS).velocity;
      const velocity = elementwise('fedavgm', [previous, mean, global], (v, y, x) => momentum * v + (y - x));
      // From the unrounded velocity, so that β = 0, η = 1 gives exactly the mean, as FedAvg does.
      const weights = elementwise('fedavgm', [previous, mean, global], (v, y, x) => x + serverLearningRate * (momentum * v + (y - x)));
      return { weights, state: packState(SLOTS, { velocity }) };
    }),
  };
}
