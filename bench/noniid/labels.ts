import type { ExperimentConfig } from '../../shared/config/schema.js';
import { formatPoints } from '../../shared/report/index.js';

/**
 * How bench:noniid names a configuration: its server strategy, its local objective and whether it uses shared data,
 * read from the config itself, so a new config file gets a sensible row without touching the bench.
 */

const STRATEGY_NAMES: Readonly<Record<string, string>> = {
  fedavg: 'FedAvg',
  fedprox: 'FedProx',
  fedavgm: 'FedAvgM',
  fedadam: 'FedAdam',
  fedyogi: 'FedYogi',
  fedadagrad: 'FedAdagrad',
  scaffold: 'SCAFFOLD',
  // Coming with the strategy lifecycle (issue 12); named here so their config files need no bench change.
  feddyn: 'FedDyn',
  fednova: 'FedNova',
};

const OBJECTIVE_NAMES: Readonly<Record<string, string>> = {
  fedlc: 'FedLC',
  fedrs: 'FedRS',
  masked: 'masked softmax',
};

const PARAMETER_SYMBOLS: Readonly<Record<string, string>> = {
  mu: 'μ',
  serverLearningRate: 'η',
  momentum: 'β',
  beta1: 'β1',
  beta2: 'β2',
  tau: 'τ',
  alpha: 'α',
  fraction: 'shared fraction',
  perClient: 'per client',
};

/** The server holds a public subset mixed into local training (Zhao et al., 2018): not a pure FL result. */
export function usesSharedData(config: ExperimentConfig): boolean {
  return config.sharedData !== undefined;
}

export function configLabel(config: ExperimentConfig, isBaseline: boolean): string {
  if (isBaseline) return 'IID FedAvg';
  const strategy = STRATEGY_NAMES[config.strategy.name] ?? config.strategy.name;
  const objective = config.local.objective && OBJECTIVE_NAMES[config.local.objective.kind];
  const parts = [strategy, ...(objective ? [objective] : []), ...(usesSharedData(config) ? ['shared data'] : [])];
  return `${config.partition.kind === 'iid' ? 'IID ' : ''}${parts.join(' + ')}`;
}

/** A tuning candidate's values with the parameters' symbols, e.g. "τ 2". */
export function patchValues(leaves: readonly (readonly [string, number])[]): string {
  return leaves.map(([key, value]) => `${PARAMETER_SYMBOLS[key] ?? key} ${value}`).join(', ');
}

/** The tuned values: the strategy's, then the objective's, e.g. "η 1 · τ 1"; "—" when there are none. */
export function configValues(config: ExperimentConfig): string {
  const groups = [
    Object.entries(config.strategy).filter(([key]) => key !== 'name'),
    Object.entries(config.local.objective ?? {}).filter(([key]) => key !== 'kind'),
    Object.entries(config.sharedData ?? {}),
  ]
    .map((entries) => entries.map(([key, value]) => `${PARAMETER_SYMBOLS[key] ?? key} ${String(value)}`).join(', '))
    .filter(Boolean);
  return groups.length === 0 ? '—' : groups.join(' · ');
}

export function percent(fraction: number): string {
  return Number.isFinite(fraction) ? `${(fraction * 100).toFixed(2)} %` : '—';
}

/** "93.47 ± 1.20 %": mean and sample standard deviation, both in percent. */
export function meanSd(mean: number, sd: number): string {
  if (!Number.isFinite(mean)) return '—';
  return Number.isFinite(sd) ? `${(mean * 100).toFixed(2)} ± ${(sd * 100).toFixed(2)} %` : `${(mean * 100).toFixed(2)} %`;
}

/** Signed, two decimals, no unit: the column header says "points". */
export function points(value: number): string {
  return Number.isFinite(value) ? formatPoints(value, 2).replace(' pp', '') : '—';
}
