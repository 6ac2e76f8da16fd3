import { experimentConfigSchema, parseStrategyConfig, STRATEGY_NAMES, type ExperimentConfig, type StrategyConfig } from '../config/schema.js';
import { createFedAdagrad } from './fedadagrad.js';
import { createFedAdam } from './fedadam.js';
import { createFedAvg } from './fedavg.js';
import { createFedAvgM } from './fedavgm.js';
import { createFedProx } from './fedprox.js';
import { createFedYogi } from './fedyogi.js';
import { personalizationProblems, withPersonalization } from './fedper.js';
import { createScaffold } from './scaffold.js';
import { createFedDyn } from './feddyn.js';
import { createFedNova } from './fednova.js';
import type { Strategy, StrategyContext } from './types.js';

type StrategyName = StrategyConfig['name'];

/**
 * One entry per strategy, each taking its own config variant. Adding one is its file, its variant in the config
 * schema and a line here; the type makes a missing line a compile error.
 */
const registry: { readonly [Name in StrategyName]: (config: Extract<StrategyConfig, { name: Name }>, context: StrategyContext) => Strategy } = {
  fedavg: createFedAvg,
  fedprox: createFedProx,
  fedavgm: createFedAvgM,
  fedadam: createFedAdam,
  fedyogi: createFedYogi,
  fedadagrad: createFedAdagrad,
  scaffold: createScaffold,
  feddyn: createFedDyn,
  fednova: createFedNova,
};

/** The schema's defaults for one client: what a strategy is built with when no experiment is given (tests, docs). */
const DEFAULT_CONTEXT: StrategyContext = { local: experimentConfigSchema.parse({}).local, clients: 1 };

export function strategyFor(config: StrategyConfig, context: StrategyContext = DEFAULT_CONTEXT): Strategy {
  // Configs read back from storage bypass the schema's type, so an unknown name is still possible at run time.
  const create = Object.hasOwn(registry, config.name) ? registry[config.name] : undefined;
  if (create === undefined) {
    throw new Error(`unknown strategy ${JSON.stringify(config.name)}: known strategies are ${STRATEGY_NAMES.map((name) => JSON.stringify(name)).join(', ')}`);
  }
  // TypeScript cannot tie registry[config.name] to config's variant; the registry's type already does, per name.
  return (create as (config: StrategyConfig, context: StrategyContext) => Strategy)(config, context);
}

/**
 * Every client-state slot a built-in strategy declares (FedPer's included), so that the IAM grants, derived from the
 * key layout, follow a new strategy's state without an edit: adopted state is read by the trainer and written by the
 * aggregator; kept state is the trainer's alone.
 */
export function declaredClientState(): { readonly adopted: readonly string[]; readonly kept: readonly string[] } {
  const strategies = STRATEGY_NAMES.map((name) => strategyFor(parseStrategyConfig({ name })));
  const all = [...strategies, ...strategies.map((strategy) => withPersonalization(strategy, { localLayers: ['logits'] }))];
  const unique = (slots: readonly string[]) => [...new Set(slots)].sort();
  return {
    adopted: unique(all.flatMap((strategy) => strategy.client.adoptedState)),
    kept: unique(all.flatMap((strategy) => strategy.client.keptState)),
  };
}

/** What the config schema cannot check of the strategy sections because it needs the model's layer names. */
export function strategyConfigProblems(config: Pick<ExperimentConfig, 'model' | 'personalization'>): string[] {
  return personalizationProblems(config.model, config.personalization);
}

/** The experiment's strategy as the pipeline runs it: `strategy`, wrapped by FedPer when `personalization` is set. */
export function experimentStrategy(config: Pick<ExperimentConfig, 'strategy' | 'personalization' | 'local' | 'clients'>): Strategy {
  const strategy = strategyFor(config.strategy, { local: config.local, clients: config.clients });
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
  StrategyContext,
} from './types.js';
export { labelCounts, logitAdjustmentFor, withLocalObjective } from './local-objectives.js';
