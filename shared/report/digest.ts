/**
 * The facts a reader looks for first, computed once from ExperimentMetrics so the HTML page, the Markdown summary
 * and the comparison all state the same numbers.
 */

import { z } from 'zod';
import type { BackendInfo } from '../engine/types.js';
import { BUILTIN_DATASETS, isBuiltinDataset } from '../data/registry.js';
import type { ExperimentMetrics, ExperimentState, ExperimentStatus, RoundMetrics } from '../metrics/types.js';

/**
 * The config is `unknown` in metrics.json (it may come from an older or newer flambda), so each field is read on its
 * own and a field that does not fit is simply left out of the description.
 */
const configView = z.object({
  name: z.string().optional().catch(undefined),
  seed: z.number().optional().catch(undefined),
  clients: z.number().optional().catch(undefined),
  rounds: z.number().optional().catch(undefined),
  model: z.string().optional().catch(undefined),
  partition: z
    .object({
      kind: z.string(),
      shardsPerClient: z.number().optional(),
      alpha: z.number().optional(),
    })
    .optional()
    .catch(undefined),
  strategy: z.object({ name: z.string() }).optional().catch(undefined),
  local: z
    .object({
      epochs: z.number().optional(),
      batchSize: z.number().optional(),
      learningRate: z.number().optional(),
      optimizer: z.string().optional(),
    })
    .optional()
    .catch(undefined),
  samplesPerClient: z.number().nullable().optional().catch(undefined),
});

export interface ExperimentDigest {
  readonly experimentId: string;
  /** The experiment's name (summary, else config), falling back to its id. */
  readonly name: string;
  /** From the summary, else status.json; 'incomplete' when neither says: the run is going or stopped silently. */
  readonly state: ExperimentState | 'incomplete';
  /** What went wrong, for a failed experiment (status.json). */
  readonly errors: readonly string[];
  readonly partition: string;
  readonly model?: string;
  readonly strategy?: string;
  readonly clients: number;
  readonly plannedRounds?: number;
  readonly seed?: number;
  readonly localTraining?: string;
  readonly backend: string;
  readonly lastRound?: RoundMetrics;
  readonly bestRound?: RoundMetrics;
  readonly wallMs?: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly parameters?: number;
  readonly startedAt?: string;
  readonly finishedAt?: string;
}

/**
 * One line for headers and tables: the engine, its version and its switches (SIMD, threads). Free-text details
 * such as file paths or kernel lists are left to the report's Engine section.
 */
export function describeBackend(backend: BackendInfo): string {
  const details = Object.entries(backend.details)
    .filter(([, value]) => typeof value !== 'string')
    .map(([key, value]) => `${key}: ${String(value)}`)
    .join(', ');
  return `${backend.backend} (tfjs ${backend.tfjsVersion}${details ? `; ${details}` : ''})`;
}

function describePartition(kind: string, config: z.output<typeof configView>): string {
  const partition = config.partition;
  if (partition?.kind === 'shards' && partition.shardsPerClient !== undefined) {
    return `label skew (${partition.shardsPerClient} shards per client)`;
  }
  if (partition?.kind === 'dirichlet' && partition.alpha !== undefined) return `label skew (Dirichlet α = ${partition.alpha})`;
  if (kind === 'iid') return 'IID';
  return kind;
}

function describeLocalTraining(config: z.output<typeof configView>): string | undefined {
  const local = config.local;
  if (!local) return undefined;
  const parts = [
    local.epochs !== undefined ? `${local.epochs} epoch${local.epochs === 1 ? '' : 's'}` : undefined,
    local.batchSize !== undefined ? `batch ${local.batchSize}` : undefined,
    local.optimizer !== undefined ? `${local.optimizer}` : undefined,
    local.learningRate !== undefined ? `lr ${local.learningRate}` : undefined,
  ].filter((part): part is string => part !== undefined);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/** The round with the highest test accuracy; the earliest wins a tie, as that is when the level was reached. */
export function bestRoundOf(rounds: readonly RoundMetrics[]): RoundMetrics | undefined {
  let best: RoundMetrics | undefined;
  for (const round of rounds) {
    if (Number.isFinite(round.accuracy) && (best === undefined || round.accuracy > best.accuracy)) best = round;
  }
  return best;
}

/** Extra records that live beside metrics.json and sharpen the report when present. */
export interface ReportContext {
  readonly status?: ExperimentStatus;
}

export function digestExperiment(metrics: ExperimentMetrics, context: ReportContext = {}): ExperimentDigest {
  const config = configView.safeParse(metrics.config ?? {});
  const view = config.success ? config.data : {};
  const summary = metrics.summary;
  return {
    experimentId: metrics.experimentId,
    name: summary?.name || view.name || metrics.experimentId,
    state: summary?.state ?? context.status?.state ?? 'incomplete',
    errors: context.status?.errors ?? [],
    partition: describePartition(metrics.partition.kind, view),
    model: view.model,
    strategy: view.strategy?.name,
    clients: view.clients ?? metrics.partition.clients.length,
    plannedRounds: summary?.rounds ?? view.rounds ?? context.status?.rounds,
    seed: view.seed,
    localTraining: describeLocalTraining(view),
    backend: describeBackend(metrics.backend),
    lastRound: metrics.rounds.at(-1),
    bestRound: bestRoundOf(metrics.rounds),
    wallMs: summary?.wallMs,
    bytesUp: metrics.rounds.reduce((sum, round) => sum + round.bytes.up, 0),
    bytesDown: metrics.rounds.reduce((sum, round) => sum + round.bytes.down, 0),
    parameters: summary?.parameters,
    startedAt: summary?.startedAt ?? metrics.rounds[0]?.timing.startedAt,
    finishedAt: summary?.finishedAt ?? metrics.rounds.at(-1)?.timing.closedAt,
  };
}

/** Distinct labels for a list of experiments: the name, with the id added where names repeat. */
export function experimentLabels(list: readonly ExperimentMetrics[]): string[] {
  const repeated = (labels: readonly string[], label: string) => labels.filter((other) => other === label).length > 1;
  const names = list.map((metrics) => digestExperiment(metrics).name);
  const withIds = names.map((name, index) => (repeated(names, name) ? `${name} (${list[index]?.experimentId})` : name));
  // The same folder given twice still needs two tellable-apart series.
  return withIds.map((label, index) => (repeated(withIds, label) ? `${label} #${index + 1}` : label));
}

/**
 * The classes' names in label order: as the start step recorded them with the partition, else the built-in dataset's
 * the config names, else the labels themselves (MNIST's names are its digits, so its reports read as before).
 */
export function classNames(metrics: ExperimentMetrics): string[] {
  const count = classCount(metrics);
  const dataset = z.object({ dataset: z.string() }).safeParse(metrics.config ?? {});
  const known = metrics.partition.classNames ?? (dataset.success && isBuiltinDataset(dataset.data.dataset) ? BUILTIN_DATASETS[dataset.data.dataset].classNames : []);
  return Array.from({ length: Math.max(count, known.length) }, (_, label) => known[label] ?? String(label));
}

/** What a class is called in prose: "digit" when the classes are the digits 0–9 (MNIST), "class" otherwise. */
export function classNoun(names: readonly string[]): 'digit' | 'class' {
  return names.every((name, label) => name === String(label)) && names.length <= 10 ? 'digit' : 'class';
}

/** Number of classes, from whichever per-class data the metrics carry. */
export function classCount(metrics: ExperimentMetrics): number {
  const fromRounds = Math.max(0, ...metrics.rounds.map((round) => round.perClassAccuracy.length));
  const fromPartition = Math.max(0, ...metrics.partition.clients.map((client) => client.labelHistogram.length));
  return Math.max(fromRounds, fromPartition);
}

/** Simulated attackers (config `adversaries`) are marked wherever the report lists clients. */
export const ATTACKER_MARK = '(simulated attacker)';

/** The clients the round metrics record as simulated attackers in any round. */
export function attackerIds(metrics: ExperimentMetrics): Set<string> {
  return new Set(metrics.rounds.flatMap((round) => round.attackers ?? []));
}

/** Every client that appears anywhere, in partition order first, so a late or unknown client is not dropped. */
export function clientIds(metrics: ExperimentMetrics): string[] {
  const ids = metrics.partition.clients.map((client) => client.clientId);
  const seen = new Set(ids);
  for (const round of metrics.rounds) {
    for (const client of round.clients) {
      if (!seen.has(client.clientId)) {
        seen.add(client.clientId);
        ids.push(client.clientId);
      }
    }
  }
  return ids;
}
