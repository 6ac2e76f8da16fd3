import { STRATEGY_NAMES, type StrategyConfig } from '../config/schema.js';
import { createFedAvg } from './fedavg.js';
import type { Strategy } from './types.js';

type StrategyName = StrategyConfig['name'];

/**
 * One entry per strategy. Adding one (fedprox, fedadam, …) is its file, its name in the config schema's
 * STRATEGY_NAMES and a line here; the type makes a missing line a compile error.
 */
const registry: { readonly [Name in StrategyName]: (config: StrategyConfig) => Strategy } = {
  fedavg: createFedAvg,
};

export function strategyFor(config: StrategyConfig): Strategy {
  // Configs read back from storage bypass the schema's type, so an unknown name is still possible at run time.
  const create = Object.hasOwn(registry, config.name) ? registry[config.name] : undefined;
  if (create === undefined) {
    throw new Error(`unknown strategy ${JSON.stringify(config.name)}: known strategies are ${STRATEGY_NAMES.map((name) => JSON.stringify(name)).join(', ')}`);
  }
  return create(config);
}

export type { ClientObjective, ServerStepInput, ServerStepResult, Strategy } from './types.js';
