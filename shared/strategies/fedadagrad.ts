import type { StrategyConfig } from '../config/schema.js';
import { createAdaptiveStrategy } from './adaptive.js';
import type { Strategy } from './types.js';

/** FedAdagrad (Reddi et al., 2021): v ← v + Δ², so each coordinate's step shrinks as its updates add up. */
export function createFedAdagrad(config: Extract<StrategyConfig, { name: 'fedadagrad' }>): Strategy {
  return createAdaptiveStrategy('fedadagrad', config, (v, delta) => v + delta * delta);
}
