import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { UserError } from '../cli/errors.js';
import { compareCommand } from '../cli/commands/compare.js';
import { reportCommand } from '../cli/commands/report.js';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import { loadExperimentMetrics, ReportInputError } from '../shared/report/index.js';
import { fabricateMetrics } from './report-fixtures.js';

let workspace: string;
let out: string;
const iid = fabricateMetrics({ partition: 'iid', rounds: 3, clients: 3, seed: 1, experimentId: 'iid-1' });
const skew = fabricateMetrics({ partition: 'shards', rounds: 3, clients: 3, seed: 2, experimentId: 'skew-1' });

async function writeExperiment(root: string, metrics: ExperimentMetrics | string, id = typeof metrics === 'string' ? 'raw' : metrics.experimentId): Promise<string> {
  const folder = path.join(root, id);
  await mkdir(folder, { recursive: true });
  await writeFile(path.join(folder, 'metrics.json'), typeof metrics === 'string' ? metrics : JSON.stringify(metrics));
  return folder;
}

/** Runs a command the way cli/main.ts mounts it, returning what it printed. */
async function run(command: Command, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void stdout.push(parts.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void stderr.push(parts.join(' ')));
  try {
    await new Command('flambda').exitOverride().addCommand(command).parseAsync([command.name(), ...args], { from: 'user' });
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
  return { stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof Error)) throw new Error('expected the command to fail');
  return error;
}

beforeAll(async () => {
  workspace = await mkdtemp(path.join(os.tmpdir(), 'flambda-report-'));
  out = path.join(workspace, 'results');
  await writeExperiment(out, iid);
  await writeExperiment(out, skew);
});

afterAll(async () => {
  await rm(workspace, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('flambda report', () => {
  it('looks an id up under --out, writes report.html and summary.md beside metrics.json and prints their paths', async () => {
    const { stdout } = await run(reportCommand(), [iid.experimentId, '--out', out]);
    const folder = path.join(out, iid.experimentId);
    const report = path.join(folder, 'report.html');
    const summary = path.join(folder, 'summary.md');
    expect(stdout).toContain(report);
    expect(stdout).toContain(summary);
    const html = await readFile(report, 'utf8');
    expect(html).toContain('data-chart="accuracy"');
    expect([...html.matchAll(/<circle data-point/g)].length).toBeGreaterThanOrEqual(iid.rounds.length);
    expect(await readFile(summary, 'utf8')).toContain(`\`${iid.experimentId}\``);
  });

  it('takes a folder path and writes into --output', async () => {
    const target = path.join(workspace, 'elsewhere', 'nested');
    await run(reportCommand(), [path.join(out, skew.experimentId), '--output', target]);
    expect(await readFile(path.join(target, 'report.html'), 'utf8')).toContain(skew.experimentId);
    expect(await readFile(path.join(target, 'summary.md'), 'utf8')).toContain('# MNIST label skew');
  });

  it('accepts the path of metrics.json itself', async () => {
    const target = path.join(workspace, 'from-file');
    await run(reportCommand(), [path.join(out, iid.experimentId, 'metrics.json'), '--output', target]);
    expect(await readFile(path.join(target, 'summary.md'), 'utf8')).toContain(iid.experimentId);
  });

  it('explains an unknown experiment in one line that names where it looked', async () => {
    const error = await failure(run(reportCommand(), ['no-such-run', '--out', out]));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toContain('no-such-run');
    expect(error.message).toContain(path.join(out, 'no-such-run'));
  });

  it('lists the experiments when given the results folder itself', async () => {
    const error = await failure(run(reportCommand(), [out]));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toContain(`${iid.experimentId}, ${skew.experimentId}`);
  });

  it('says which file is missing for a folder that is not a results folder', async () => {
    const stray = path.join(workspace, 'stray');
    await mkdir(stray, { recursive: true });
    const error = await failure(run(reportCommand(), [stray]));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toContain('metrics.json');
  });

  it('has help text', () => {
    const help = reportCommand().helpInformation();
    expect(help).toContain('report.html');
    expect(help).toContain('--out <dir>');
    expect(help).toContain('--output <dir>');
  });
});

describe('loadExperimentMetrics', () => {
  it('names the missing field of a metrics.json that lost one', async () => {
    const broken = JSON.parse(JSON.stringify(iid)) as { rounds: Record<string, unknown>[] };
    delete broken.rounds[1]!.perClassAccuracy;
    const folder = await writeExperiment(path.join(workspace, 'broken'), JSON.stringify(broken));
    const error = await failure(loadExperimentMetrics(folder));
    expect(error).toBeInstanceOf(ReportInputError);
    expect(error.message).toContain('rounds[1].perClassAccuracy');
  });

  it('rejects a file that is not JSON with a message naming it', async () => {
    const folder = await writeExperiment(path.join(workspace, 'truncated'), JSON.stringify(iid).slice(0, 200));
    const error = await failure(loadExperimentMetrics(folder));
    expect(error).toBeInstanceOf(ReportInputError);
    expect(error.message).toContain(path.join(folder, 'metrics.json'));
    expect(error.message).toContain('not valid JSON');
  });

  it('reads a diverged loss written as null back as a gap (NaN)', async () => {
    const diverged = JSON.parse(JSON.stringify(iid)) as { rounds: { loss: number | null }[] };
    diverged.rounds[2]!.loss = null;
    const folder = await writeExperiment(path.join(workspace, 'diverged'), JSON.stringify(diverged));
    const metrics = await loadExperimentMetrics(folder);
    expect(Number.isNaN(metrics.rounds[2]!.loss)).toBe(true);
    expect(metrics.rounds[1]!.loss).toBe(iid.rounds[1]!.loss);
  });

  it('takes the summary from summary.json while metrics.json has none yet', async () => {
    const { summary, ...withoutSummary } = iid;
    const folder = await writeExperiment(path.join(workspace, 'pending'), JSON.stringify(withoutSummary));
    expect((await loadExperimentMetrics(folder)).summary).toBeUndefined();
    await writeFile(path.join(folder, 'summary.json'), JSON.stringify(summary));
    expect((await loadExperimentMetrics(folder)).summary).toEqual(summary);
  });

  it('shows a failed experiment’s errors from status.json in the report', async () => {
    const { summary: _summary, ...withoutSummary } = iid;
    const folder = await writeExperiment(path.join(workspace, 'failed'), JSON.stringify(withoutSummary));
    const reason = 'round 4 closed with 0 of 3 updates (minClients 3)';
    await writeFile(
      path.join(folder, 'status.json'),
      JSON.stringify({ experimentId: iid.experimentId, state: 'failed', round: 4, rounds: 5, updatedAt: '2025-03-01T14:10:00.000Z', errors: [reason] }),
    );
    await run(reportCommand(), [folder]);
    expect(await readFile(path.join(folder, 'report.html'), 'utf8')).toContain(reason);
    expect(await readFile(path.join(folder, 'summary.md'), 'utf8')).toContain(`**Error:** ${reason}`);
  });
});

describe('flambda compare', () => {
  it('writes the overlay page and prints the Markdown table to stdout', async () => {
    const output = path.join(workspace, 'cmp', 'iid-vs-skew.html');
    const { stdout, stderr } = await run(compareCommand(), [iid.experimentId, path.join(out, skew.experimentId), '--out', out, '--output', output]);
    const html = await readFile(output, 'utf8');
    expect([...html.matchAll(/class="series" data-series=/g)].length).toBeGreaterThanOrEqual(2);
    expect(stdout).toContain('| Round | MNIST IID | MNIST label skew | MNIST label skew − MNIST IID |');
    expect(stdout.split('\n').filter((line) => line.startsWith('| ')).length).toBe(2 + iid.rounds.length + 1);
    expect(stderr).toContain(output);
  });

  it('writes compare.html next to the experiments by default and says where', async () => {
    const { stderr } = await run(compareCommand(), [iid.experimentId, skew.experimentId, '--out', out]);
    const written = path.join(out, 'compare.html');
    expect(stderr).toContain(written);
    expect(await readFile(written, 'utf8')).toContain('class="series"');
  });

  it('says a folder is not an experiment, and what it expected, instead of listing schema errors', async () => {
    const notExperiment = await writeExperiment(workspace, JSON.stringify({ samplesPerSecond: 2883 }), 'bench-output');
    const error = await failure(run(compareCommand(), [notExperiment, iid.experimentId, '--out', out]));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      `${notExperiment} is not an experiment: expected an experiment's results folder, as \`flambda run\` writes it ` +
        "(<out>/<experimentId>/), whose metrics.json has the experimentId, config and rounds of a whole experiment",
    );
  });

  it("points from one round's folder to its experiment", async () => {
    const experiment = path.join(workspace, 'exp-with-rounds');
    const round = await writeExperiment(path.join(experiment, 'rounds'), JSON.stringify({ round: 1, accuracy: 0.5 }), '0001');
    const error = await failure(run(compareCommand(), [round, iid.experimentId, '--out', out]));
    expect(error.message).toMatch(new RegExp(`^${round.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is round 1 of an experiment, not an experiment: pass ${experiment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `));
    expect(error.message).not.toContain('Invalid input');
  });

  it('needs two experiments', async () => {
    const error = await failure(run(compareCommand(), [iid.experimentId, '--out', out]));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toContain('at least two');
  });

  it('names the experiment it cannot find', async () => {
    const error = await failure(run(compareCommand(), [iid.experimentId, 'missing-2', '--out', out, '--output', path.join(workspace, 'x.html')]));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toContain('missing-2');
  });
});

describe('the flambda binary', () => {
  it('prints a missing experiment as one line, without a stack trace, and exits 2', async () => {
    const binary = path.resolve('bin/flambda.js');
    const result = await promisify(execFile)(process.execPath, [binary, 'report', 'no-such-run', '--out', out]).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
    );
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('no-such-run');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it.each([
    [['--workers', '0'], /^flambda: --workers must be an integer from 1 to 256 \(got "0"\)$/],
    [['--train-batch', '11'], /^flambda: --train-batch must be an integer from 1 to 10, SQS's most messages a receive \(got "11"\)$/],
    [['--target', 'aws', '--train-batch', '4'], /--train-batch sets the embedded local cloud only: .*-c trainBatchSize/],
    [['--endpoint', 'http://127.0.0.1:9', '--workers', '2'], /--workers sizes the embedded local cloud only: give it to `flambda dev`/],
  ])('refuses %j before starting anything', async (args, message) => {
    const binary = path.resolve('bin/flambda.js');
    const result = await promisify(execFile)(process.execPath, [binary, 'run', 'examples/quick.json', ...args, '--out', out]).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
    );
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n').filter((line) => !line.includes('past end of life'))).toEqual([expect.stringMatching(message)]);
  });
});
