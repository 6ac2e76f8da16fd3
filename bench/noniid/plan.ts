import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseExperimentConfig } from '../../shared/config/parse.js';
import { STRATEGY_NAMES, type ExperimentConfig } from '../../shared/config/schema.js';

/**
 * What bench:noniid runs: every config in examples/noniid/ (one row each, whatever its strategy, local objective or
 * future section — a new algorithm is one more config file) at each seed, against IID FedAvg; derived copies for the
 * Dirichlet partitions and the tuning grid. Plans are pure data, so the page can be rendered from earlier results
 * without running anything.
 */

export const BASELINE_KEY = 'iid-baseline';
export const BASELINE_FILE = 'examples/mnist-iid.json';
export const CONFIG_DIR = 'examples/noniid';
export const DIRICHLET_ALPHAS = [0.1, 0.5] as const;

/** A deep patch of a config's JSON, e.g. { local: { objective: { tau: 2 } } }: a tuning candidate. */
export type ConfigPatch = { readonly [key: string]: number | ConfigPatch };

export class BenchError extends Error {}

export interface SourceConfig {
  /** File name without .json (how --only names it); BASELINE_KEY for IID FedAvg */
  readonly key: string;
  readonly file: string;
  readonly text: string;
  readonly raw: Readonly<Record<string, unknown>>;
  readonly config: ExperimentConfig;
}

export type Scenario =
  /** the config as written: label skew, or an IID check when its partition is IID */
  | { readonly kind: 'main' }
  | { readonly kind: 'dirichlet'; readonly alpha: number }
  | { readonly kind: 'tuning'; readonly patch: ConfigPatch };

export interface Planned {
  readonly id: string;
  readonly source: SourceConfig;
  readonly scenario: Scenario;
  readonly seed: number;
  /** the file `flambda run` gets: the source itself, or a derived copy under <out>/configs/ */
  readonly file: string;
  readonly text: string;
  readonly config: ExperimentConfig;
}

/** Caps applied to every run for a smoke test: the config fields of the same names. */
export interface DataCap {
  readonly samplesPerClient: number;
  readonly testSamples?: number;
}

export async function readSource(key: string, file: string): Promise<SourceConfig> {
  const text = await readFile(file, 'utf8').catch((error: unknown) => {
    throw new BenchError(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  });
  const parsed = parseExperimentConfig(text);
  if (!parsed.ok) throw new BenchError(`${file} is not a valid experiment config:\n  - ${parsed.errors.join('\n  - ')}`);
  // A valid config is a JSON object, so the raw form can be copied and changed field by field.
  return { key, file, text, raw: JSON.parse(text) as Record<string, unknown>, config: parsed.config };
}

/** Every config of examples/noniid/, label skew first, in the order of STRATEGY_NAMES, then by file name. */
export async function readConfigSources(directory = CONFIG_DIR): Promise<SourceConfig[]> {
  const files = (await readdir(directory)).filter((file) => file.endsWith('.json'));
  const sources = await Promise.all(files.map((file) => readSource(path.basename(file, '.json'), path.join(directory, file))));
  const strategyOrder = (source: SourceConfig) => {
    const at = (STRATEGY_NAMES as readonly string[]).indexOf(source.config.strategy.name);
    return at < 0 ? STRATEGY_NAMES.length : at;
  };
  const iid = (source: SourceConfig) => (source.config.partition.kind === 'iid' ? 1 : 0);
  return sources.sort((a, b) => iid(a) - iid(b) || strategyOrder(a) - strategyOrder(b) || a.key.localeCompare(b.key));
}

export function selectSources(sources: readonly SourceConfig[], only: string | undefined): SourceConfig[] {
  if (only === undefined) return [...sources];
  const wanted = only.split(',').map((name) => name.trim()).filter(Boolean);
  if (wanted.length === 0) throw new BenchError(`--only needs at least one of: ${sources.map((s) => s.key).join(', ')}`);
  const unknown = wanted.filter((name) => !sources.some((source) => source.key === name));
  if (unknown.length > 0) {
    throw new BenchError(`--only: no ${unknown.map((name) => `${CONFIG_DIR}/${name}.json`).join(', ')}; available: ${sources.map((s) => s.key).join(', ')}`);
  }
  return sources.filter((source) => wanted.includes(source.key));
}

/** The seeds of a run: the config's own seed, then the next ones. */
export function seedsFrom(config: ExperimentConfig, count: number): number[] {
  return Array.from({ length: count }, (_, i) => config.seed + i);
}

export function isLabelSkew(source: SourceConfig): boolean {
  return source.key !== BASELINE_KEY && source.config.partition.kind !== 'iid';
}

/**
 * The source config itself when nothing changes (so its run is shared between the tables that use it); otherwise a
 * copy with the changes, written under <out>/configs/ and validated like any user config.
 */
export async function derive(
  source: SourceConfig,
  options: { readonly out: string; readonly prefix: string; readonly scenario: Scenario; readonly seed: number; readonly cap: DataCap | undefined },
): Promise<Planned> {
  const { scenario, seed, cap } = options;
  const { $schema: _editorOnly, ...raw } = source.raw;
  let changed: Record<string, unknown> = { ...raw, seed, ...cap };
  if (scenario.kind === 'dirichlet') changed = { ...changed, partition: { kind: 'dirichlet', alpha: scenario.alpha } };
  if (scenario.kind === 'tuning') changed = merge(changed, scenario.patch);
  const parsed = parseExperimentConfig(changed);
  if (!parsed.ok) throw new BenchError(`${source.file} as ${describeScenario(scenario)} is not a valid experiment config:\n  - ${parsed.errors.join('\n  - ')}`);
  const unchanged = sameJson(withoutSchema(parsed.config), withoutSchema(source.config));
  // A candidate equal to its config is that config's run, under the same id, so it is run (and stored) once.
  const id = [options.prefix, scenarioTag(unchanged ? { kind: 'main' } : scenario, source.key), `s${seed}`].join('-');
  if (unchanged) return { id, source, scenario, seed, file: source.file, text: source.text, config: source.config };

  const text = `${JSON.stringify({ ...changed, name: id }, null, 2)}\n`;
  const file = path.join(options.out, 'configs', `${id}.json`);
  const named = parseExperimentConfig(text);
  if (!named.ok) throw new BenchError(`${file}: ${named.errors.join('; ')}`);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return { id, source, scenario, seed, file, text, config: named.config };
}

function scenarioTag(scenario: Scenario, key: string): string {
  switch (scenario.kind) {
    case 'main':
      return key;
    case 'dirichlet':
      return `dir${scenario.alpha}-${key}`;
    case 'tuning':
      return `tune-${key}-${flattenPatch(scenario.patch).map(([name, value]) => `${name}${value}`).join('-')}`;
  }
}

export function describeScenario(scenario: Scenario): string {
  switch (scenario.kind) {
    case 'main':
      return 'written';
    case 'dirichlet':
      return `Dirichlet α ${scenario.alpha}`;
    case 'tuning':
      return flattenPatch(scenario.patch).map(([name, value]) => `${name} ${value}`).join(', ');
  }
}

/** A patch's leaves as [field, value], e.g. [['tau', 2]]. */
export function flattenPatch(patch: ConfigPatch): [string, number][] {
  return Object.entries(patch).flatMap(([key, value]) => (typeof value === 'number' ? [[key, value] as [string, number]] : flattenPatch(value)));
}

function merge(target: Readonly<Record<string, unknown>>, patch: ConfigPatch): Record<string, unknown> {
  const result: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    const current = result[key];
    result[key] = typeof value === 'number' ? value : merge(typeof current === 'object' && current !== null ? (current as Record<string, unknown>) : {}, value);
  }
  return result;
}

/** `$schema` only points editors at the JSON Schema: it changes nothing about a run. */
function withoutSchema(config: ExperimentConfig): Omit<ExperimentConfig, '$schema'> {
  const { $schema: _editorOnly, ...rest } = config;
  return rest;
}

function sameJson(a: unknown, b: unknown): boolean {
  // Parsed configs list their keys in the schema's order, so equal settings serialise identically.
  return JSON.stringify(a) === JSON.stringify(b);
}
