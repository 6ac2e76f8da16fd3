import type { StrategyConfig } from '../config/schema.js';
import { createAdaptiveStrategy } from './adaptive.js';
import type { Strategy } from './types.js';

/** FedAdam (Reddi et al., 2021): v ← β2·v + (1 − β2)·Δ², an exponential average of the squared pseudo-gradient. */
export function createFedAdam(config: Extract<StrategyConfig, { name: 'fedadam' }>): Strategy {
  const { beta2 } = config;
  return createAdaptiveStrategy('fedadam', config, (v, delta) => beta2 * v + (1 - beta2) * delta * delta);
}
