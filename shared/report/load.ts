/**
 * Reading a results folder: the only part of the report module that touches the file system. Every failure is a
 * ReportInputError whose message says which file and which field, so the CLI can print it without a stack trace.
 */

import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { asExperimentMetrics, asExperimentSummary, experimentMetricsSchema, summarySchema } from '../metrics/schema.js';
import type { ExperimentMetrics, ExperimentStatus } from '../metrics/types.js';
import { statusSchema } from '../protocol/records.js';

export class ReportInputError extends Error {
  override readonly name = 'ReportInputError';
}

export const METRICS_FILE = 'metrics.json';
export const SUMMARY_FILE = 'summary.json';
export const STATUS_FILE = 'status.json';

const statusMatchesContract: (parsed: z.output<typeof statusSchema>) => ExperimentStatus = (parsed) => parsed;

function describeIssues(error: z.ZodError, limit = 8): string {
  const lines = error.issues.slice(0, limit).map((issue) => {
    const where = issue.path.length > 0 ? formatPath(issue.path) : '(top level)';
    return `  - ${where}: ${issue.message}`;
  });
  if (error.issues.length > limit) lines.push(`  - … and ${error.issues.length - limit} more`);
  return lines.join('\n');
}

function formatPath(segments: readonly PropertyKey[]): string {
  return segments
    .map((segment, index) => (typeof segment === 'number' ? `[${segment}]` : `${index === 0 ? '' : '.'}${String(segment)}`))
    .join('');
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (isNodeError(error) && error.code === 'ENOENT') throw new ReportInputError(`${what} not found: ${file}`);
    throw new ReportInputError(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ReportInputError(`${file} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function isNodeError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error;
}

async function isDirectory(candidate: string): Promise<boolean> {
  try {
    return (await stat(candidate)).isDirectory();
  } catch {
    return false;
  }
}

async function fileExists(candidate: string): Promise<boolean> {
  try {
    return (await stat(candidate)).isFile();
  } catch {
    return false;
  }
}

/**
 * Reads `<folder>/metrics.json` and checks its shape. While an experiment is still running metrics.json may have no
 * summary yet; a summary.json beside it is used then.
 */
export async function loadExperimentMetrics(folder: string): Promise<ExperimentMetrics> {
  const metricsFile = path.join(folder, METRICS_FILE);
  if (!(await isDirectory(folder))) throw new ReportInputError(`results folder not found: ${folder}`);
  const raw = await readJson(metricsFile, `${METRICS_FILE} (the per-round metrics an experiment writes)`);
  const notAnExperiment = describeNonExperiment(raw, folder);
  if (notAnExperiment) throw new ReportInputError(notAnExperiment);
  const parsed = experimentMetricsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ReportInputError(
      `${metricsFile} does not look like flambda experiment metrics:\n${describeIssues(parsed.error)}`,
    );
  }
  const metrics = asExperimentMetrics(parsed.data);
  if (metrics.summary !== undefined) return metrics;

  const summaryFile = path.join(folder, SUMMARY_FILE);
  if (!(await fileExists(summaryFile))) return metrics;
  const summary = summarySchema.safeParse(await readJson(summaryFile, SUMMARY_FILE));
  if (!summary.success) {
    throw new ReportInputError(`${summaryFile} is not a valid experiment summary:\n${describeIssues(summary.error)}`);
  }
  return { ...metrics, summary: asExperimentSummary(summary.data) };
}

/**
 * A metrics.json without an experiment's two identifying fields is some other file (one round's metrics, a
 * benchmark's output): say what the folder is not and what was expected, rather than list every missing field.
 */
function describeNonExperiment(raw: unknown, folder: string): string | undefined {
  const record = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  if (typeof record.experimentId === 'string' && Array.isArray(record.rounds)) return undefined;
  const expected =
    `expected an experiment's results folder, as \`flambda run\` writes it (<out>/<experimentId>/), whose ${METRICS_FILE} ` +
    'has the experimentId, config and rounds of a whole experiment';
  if (typeof record.round === 'number' && path.basename(path.dirname(path.resolve(folder))) === 'rounds') {
    const experiment = path.dirname(path.dirname(folder));
    return `${folder} is round ${record.round} of an experiment, not an experiment: pass ${experiment} (${expected})`;
  }
  return `${folder} is not an experiment: ${expected}`;
}

/**
 * Reads `<folder>/status.json` if there is one: for a failed experiment it holds what went wrong, which the report
 * shows. A missing file is normal (older results); a malformed one is an error, as silently dropping it would hide
 * the failure.
 */
export async function loadExperimentStatus(folder: string): Promise<ExperimentStatus | undefined> {
  const statusFile = path.join(folder, STATUS_FILE);
  if (!(await fileExists(statusFile))) return undefined;
  const parsed = statusSchema.safeParse(await readJson(statusFile, STATUS_FILE));
  if (!parsed.success) {
    throw new ReportInputError(`${statusFile} is not a valid experiment status:\n${describeIssues(parsed.error)}`);
  }
  return statusMatchesContract(parsed.data);
}

/**
 * Turns what a person typed into a results folder: an existing folder (or its metrics.json) is taken as it is;
 * anything else is an experiment id under `resultsRoot` (the `--out` folder of `flambda run`).
 */
export async function resolveExperimentFolder(reference: string, resultsRoot: string): Promise<string> {
  // Tab completion often ends at the file: accept the metrics.json path too.
  if (path.basename(reference) === METRICS_FILE && (await fileExists(reference))) return path.dirname(reference);
  if (await isDirectory(reference)) {
    if (await fileExists(path.join(reference, METRICS_FILE))) return reference;
    const experiments = await experimentFoldersIn(reference);
    if (experiments.length > 0) {
      const listed = experiments.slice(0, 10).join(', ');
      const more = experiments.length > 10 ? `, … (${experiments.length} in all)` : '';
      throw new ReportInputError(
        `${reference} holds several experiments, not one; pass one of them: ${listed}${more}`,
      );
    }
    throw new ReportInputError(
      `${reference} has no ${METRICS_FILE}: pass an experiment's results folder (<out>/<experimentId>/) or its id`,
    );
  }
  const underRoot = path.join(resultsRoot, reference);
  if (await isDirectory(underRoot)) return underRoot;
  throw new ReportInputError(
    `no experiment "${reference}": it is neither a folder nor an experiment id under ${resultsRoot}/` +
      ` (looked for ${underRoot}; use --out to search another results folder)`,
  );
}

async function experimentFoldersIn(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const found: string[] = [];
  for (const entry of entries) {
    if (entry.isDirectory() && (await fileExists(path.join(folder, entry.name, METRICS_FILE)))) found.push(entry.name);
  }
  return found.sort();
}
