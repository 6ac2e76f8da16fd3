import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { parseExperimentConfig } from '../shared/config/parse.js';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import { loadExperimentMetrics, loadExperimentStatus } from '../shared/report/index.js';
import { runFlambda } from './flambda-cli.js';
import { describeMachine } from './machine.js';

/**
 * One cell of a benchmark grid (bench/robust.ts, bench/compression.ts): a config run through `flambda run` as a user
 * would, its result folder under `out`, reused with --resume when the folder ran exactly the same config.
 */
export interface GridResult {
  readonly id: string;
  readonly metrics?: ExperimentMetrics;
  /** why it did not complete: refused at start (the reason), failed in a round, or the run's exit */
  readonly failure?: string;
  readonly load?: { readonly start: number; readonly end: number };
  readonly reused: boolean;
}

const LOAD_FILE = 'bench-load.json';
/** The failure of a cell left out with `savedOnly`: no run of its config was saved. */
export const NOT_RUN = 'not run yet';
const loadSchema = z.object({ start: z.number(), end: z.number() });

export class GridConfigError extends Error {
  override name = 'GridConfigError';
}

/**
 * Runs (or with `resume` reuses) one config. A config the schema refuses is not run: its refusal is the result, as a
 * user would see it (e.g. ALIE with a single attacker).
 */
export async function runGridCell(out: string, id: string, config: Record<string, unknown>, resume: boolean, savedOnly = false): Promise<GridResult> {
  const text = `${JSON.stringify({ name: id, ...config }, null, 2)}\n`;
  const parsed = parseExperimentConfig(text);
  if (!parsed.ok) return { id, failure: `refused: ${parsed.errors.join('; ')}`, reused: false };
  const file = path.join(out, 'configs', `${id}.json`);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return runConfigFile(out, id, file, resume || savedOnly, savedOnly);
}

/**
 * Runs one config file through `flambda run --out out` as a user would, recording the machine's load around it; with
 * `resume`, a result folder that ran exactly this file is the result instead (completed, or failed: a run of the same
 * config fails the same way again). With `savedOnly`, a config without such a folder is reported as not run instead
 * of run, so a grid's doc can be rendered from what earlier invocations measured. Shared by every benchmark that runs
 * whole experiments.
 */
export async function runConfigFile(out: string, id: string, file: string, resume: boolean, savedOnly = false): Promise<GridResult> {
  const folder = path.join(out, id);
  if (resume) {
    const ranWith = await readFile(path.join(folder, 'config.json'), 'utf8').catch(() => undefined);
    const same = ranWith === (await readFile(file, 'utf8'));
    const previous = same ? await loadExperimentMetrics(folder).catch(() => undefined) : undefined;
    const load = await readFile(path.join(folder, LOAD_FILE), 'utf8').then((body) => loadSchema.safeParse(JSON.parse(body)).data, () => undefined);
    if (previous?.summary?.state === 'completed') {
      console.log(`↺ ${id}: reusing the completed result in ${folder}`);
      return { id, metrics: previous, reused: true, ...(load ? { load } : {}) };
    }
    const status = same ? await loadExperimentStatus(folder).catch(() => undefined) : undefined;
    if (status?.state === 'failed') {
      console.log(`↺ ${id}: reusing the failed result in ${folder}`);
      return {
        id,
        ...(previous ? { metrics: previous } : {}),
        reused: true,
        failure: `failed at round ${status.round}: ${(status.errors ?? ['no reason recorded']).join('; ')}`,
        ...(load ? { load } : {}),
      };
    }
  }
  if (savedOnly) return { id, failure: NOT_RUN, reused: false };
  const before = (await describeMachine()).loadAverage.start;
  const code = await runFlambda(['run', file, '--id', id, '--out', out]);
  const load = { start: before, end: (await describeMachine()).loadAverage.start };
  await writeFile(path.join(folder, LOAD_FILE), `${JSON.stringify(load)}\n`).catch(() => undefined);
  const metrics = await loadExperimentMetrics(folder).catch(() => undefined);
  if (code === 0 && metrics?.summary?.state === 'completed') return { id, metrics, load, reused: false };
  const status = await loadExperimentStatus(folder).catch(() => undefined);
  const reasons = status?.errors?.length ? `: ${status.errors.join('; ')}` : '';
  return { id, ...(metrics ? { metrics } : {}), load, reused: false, failure: `flambda run exited with ${code}${reasons} (see ${folder})` };
}

/** Comma-separated values of a flag, each checked by `parse` (which throws a GridConfigError naming the flag). */
export function listFlag<T>(flag: string, text: string | undefined, fallback: readonly T[], parse: (item: string) => T | undefined): T[] {
  if (text === undefined) return [...fallback];
  return text.split(',').filter((item) => item.trim() !== '').map((item) => {
    const value = parse(item.trim());
    if (value === undefined) throw new GridConfigError(`--${flag}: ${JSON.stringify(item)} is not one of the allowed values`);
    return value;
  });
}

export const percent = (value: number, digits = 1) => `${(value * 100).toFixed(digits)} %`;

/** The final accuracy of each completed run, in the order given. */
export function finalAccuracies(results: readonly GridResult[]): number[] {
  return results.flatMap((result) => (result.metrics?.summary?.state === 'completed' ? [result.metrics.rounds.at(-1)!.accuracy] : []));
}

/** Mean of the seeds' final accuracies, with the spread when there are several. */
export function accuracyCell(results: readonly GridResult[]): string {
  const finals = finalAccuracies(results);
  if (finals.length === 0) {
    const failure = results[0]?.failure ?? NOT_RUN;
    return failure.startsWith('refused') ? 'refused' : failure === NOT_RUN ? NOT_RUN : 'failed';
  }
  const mean = finals.reduce((sum, value) => sum + value, 0) / finals.length;
  const spread = finals.length > 1 ? ` (${percent(Math.min(...finals))}–${percent(Math.max(...finals))})` : '';
  return `${percent(mean)}${spread}${finals.length < results.length ? ` [${finals.length}/${results.length} seeds]` : ''}`;
}

export function meanFinalAccuracy(results: readonly GridResult[]): number | undefined {
  const finals = finalAccuracies(results);
  return finals.length ? finals.reduce((sum, value) => sum + value, 0) / finals.length : undefined;
}

export function loadRange(results: readonly GridResult[]): string {
  const loads = results.flatMap((result) => (result.load ? [result.load.start, result.load.end] : []));
  return loads.length ? `${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}` : 'unknown';
}
