import type { StrategyConfig } from '../config/schema.js';
import { createAdaptiveStrategy } from './adaptive.js';
import type { Strategy } from './types.js';

/**
 * FedYogi (Reddi et al., 2021): v ← v − (1 − β2)·Δ²·sign(v − Δ²). v moves towards Δ² by (1 − β2)·Δ², not Adam's
 * (1 − β2)·(Δ² − v): once updates shrink, v falls slowly, so the effective step η/√v does not jump back up.
 */
export function createFedYogi(config: Extract<StrategyConfig, { name: 'fedyogi' }>): Strategy {
  const { beta2 } = config;
  return createAdaptiveStrategy('fedyogi', config, (v, delta) => v - (1 - beta2) * delta * delta * Math.sign(v - delta * delta));
}
