import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { ExperimentMetrics } from '../../shared/metrics/types.js';
import { loadExperimentMetrics, loadExperimentStatus } from '../../shared/report/index.js';
import { runFlambda } from '../flambda-cli.js';
import { describeMachine, withEndLoad } from '../machine.js';
import type { Planned } from './plan.js';

export interface Outcome {
  readonly planned: Planned;
  readonly metrics?: ExperimentMetrics;
  /** set when the run did not complete: what happened and where to look */
  readonly failure?: string;
  /** true when the result came from an earlier invocation */
  readonly reused: boolean;
  /** 1-minute load average when the run started and ended; unknown for a reused run that predates the record */
  readonly load?: RunLoad;
}

export interface RunLoad {
  readonly start: number;
  readonly end: number;
}

/** Kept beside each result, so a page built from reused runs still says how busy the machine was when they ran. */
const LOAD_FILE = 'bench-load.json';
const runLoadSchema = z.object({ start: z.number(), end: z.number() });

/** A completed earlier result of exactly this config in `out`, or undefined. */
export async function previousOutcome(planned: Planned, out: string): Promise<Outcome | undefined> {
  const folder = path.join(out, planned.id);
  const ranWith = await readFile(path.join(folder, 'config.json'), 'utf8').catch(() => undefined);
  if (ranWith !== planned.text) return undefined;
  const metrics = await loadExperimentMetrics(folder).catch(() => undefined);
  if (metrics?.summary?.state !== 'completed') return undefined;
  const load = await readFile(path.join(folder, LOAD_FILE), 'utf8').then(
    (text) => runLoadSchema.safeParse(JSON.parse(text)).data,
    () => undefined,
  );
  return { planned, metrics, reused: true, ...(load ? { load } : {}) };
}

/** One `flambda run`, exactly as a user types it; its metrics, or why it did not complete. */
export async function execute(planned: Planned, out: string): Promise<Outcome> {
  const folder = path.join(out, planned.id);
  const before = await describeMachine();
  const code = await runFlambda(['run', planned.file, '--id', planned.id, '--out', out]);
  const { loadAverage } = withEndLoad(before);
  const load = { start: loadAverage.start, end: loadAverage.end ?? loadAverage.start };
  await writeFile(path.join(folder, LOAD_FILE), `${JSON.stringify(load)}\n`).catch(() => undefined);
  const metrics = await loadExperimentMetrics(folder).catch(() => undefined);
  if (code === 0 && metrics?.summary?.state === 'completed') return { planned, metrics, reused: false, load };
  const status = await loadExperimentStatus(folder).catch(() => undefined);
  const reasons = status?.errors?.length ? `: ${status.errors.join('; ')}` : '';
  const failure = `flambda run exited with ${code}${status ? `, experiment ${status.state} at round ${status.round}` : ''}${reasons} (see ${folder} and ${path.join(out, 'flambda-local.log')})`;
  return { planned, ...(metrics ? { metrics } : {}), failure, reused: false, load };
}
