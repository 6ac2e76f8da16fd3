import { STRATEGY_NAMES, type ExperimentConfig, type StrategyConfig } from '../config/schema.js';
import { createFedAdagrad } from './fedadagrad.js';
import { createFedAdam } from './fedadam.js';
import { createFedAvg } from './fedavg.js';
import { createFedAvgM } from './fedavgm.js';
import { createFedProx } from './fedprox.js';
import { createFedYogi } from './fedyogi.js';
import { withPersonalization } from './fedper.js';
import { createScaffold } from './scaffold.js';
import type { Strategy } from './types.js';

type StrategyName = StrategyConfig['name'];

/**
 * One entry per strategy, each taking its own config variant. Adding one is its file, its variant in the config
 * schema and a line here; the type makes a missing line a compile error.
 */
const registry: { readonly [Name in StrategyName]: (config: Extract<StrategyConfig, { name: Name }>) => Strategy } = {
  fedavg: createFedAvg,
  fedprox: createFedProx,
  fedavgm: createFedAvgM,
  fedadam: createFedAdam,
  fedyogi: createFedYogi,
  fedadagrad: createFedAdagrad,
  scaffold: createScaffold,
};

export function strategyFor(config: StrategyConfig): Strategy {
  // Configs read back from storage bypass the schema's type, so an unknown name is still possible at run time.
  const create = Object.hasOwn(registry, config.name) ? registry[config.name] : undefined;
  if (create === undefined) {
    throw new Error(`unknown strategy ${JSON.stringify(config.name)}: known strategies are ${STRATEGY_NAMES.map((name) => JSON.stringify(name)).join(', ')}`);
  }
  // TypeScript cannot tie registry[config.name] to config's variant; the registry's type already does, per name.
  return (create as (config: StrategyConfig) => Strategy)(config);
}

/** The experiment's strategy as the pipeline runs it: `strategy`, wrapped by FedPer when `personalization` is set. */
export function experimentStrategy(config: Pick<ExperimentConfig, 'strategy' | 'personalization'>): Strategy {
  const strategy = strategyFor(config.strategy);
  return config.personalization ? withPersonalization(strategy, config.personalization) : strategy;
}

export {
  localStepCount,
  scaffoldClientUpdate,
  scaffoldCorrection,
  scaffoldServerControl,
  scaffoldServerControlUpdate,
  scaffoldStepScale,
  type ScaffoldClientUpdate,
  type ScaffoldClientUpdateArgs,
} from './scaffold.js';
export { StrategyError } from './errors.js';
export type {
  ClientFinishInput,
  ClientHalf,
  ClientObjective,
  ClientPlan,
  ClientResult,
  ClientRoundInput,
  KeptState,
  LogitAdjustment,
  ServerHalf,
  ServerStepInput,
  ServerStepResult,
  SideUploadFold,
  Strategy,
} from './types.js';
export { labelCounts, logitAdjustmentFor, withLocalObjective } from './local-objectives.js';
