import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LOCAL_LOG_FILE, logsCommand, parseRecord, parseSince, recordMentions } from '../cli/commands/logs.js';
import { runCommand } from '../cli/commands/run.js';
import { UserError } from '../cli/errors.js';

/**
 * `flambda logs <id>` on the local target, for real: two tiny experiments run with `flambda run` into one results
 * folder (one shared log file), then the command must print exactly one experiment's lines.
 */
let workspace: string;
let out: string;

async function run(command: Command, args: readonly string[]) {
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
  const exitCode = process.exitCode;
  process.exitCode = undefined;
  return { stdout: stdout.join('\n'), stderr: stderr.join('\n'), exitCode };
}

beforeAll(async () => {
  workspace = await mkdtemp(path.join(os.tmpdir(), 'flambda-logs-'));
  out = path.join(workspace, 'results');
  const config = path.join(workspace, 'tiny.json');
  await writeFile(config, JSON.stringify({ name: 'tiny', clients: 2, rounds: 1, samplesPerClient: 64, testSamples: 200, model: 'cnn-small', seed: 7 }));
  // Ids where one is a prefix of the other: the command must match whole ids, not substrings.
  // The second run gives its one trainer invocation both clients (--train-batch): their logs must stay apart all the same.
  for (const [id, batch] of [['logs-1', '1'], ['logs-10', '2']] as const) {
    const result = await run(runCommand(), [config, '--id', id, '--out', out, '--workers', '1', '--train-batch', batch]);
    expect(result.exitCode, result.stdout).toBe(0);
    if (batch === '2') expect(result.stdout).toContain('1 training worker, up to 2 clients a trainer invocation');
  }
}, 240_000);

afterAll(async () => {
  await rm(workspace, { recursive: true, force: true });
});

describe('flambda logs --target local', () => {
  it("prints one experiment's pipeline events from start to completion, and none of another's", async () => {
    const log = await readFile(path.join(out, LOCAL_LOG_FILE), 'utf8');
    expect(log).toContain('"experimentId":"logs-10"');

    const { stdout, exitCode } = await run(logsCommand(), ['logs-1', '--out', out, '--json']);
    expect(exitCode).toBe(0);
    const records = stdout.split('\n').map((line) => JSON.parse(line) as { experimentId: string; event: string; function: string });
    expect(records.every((record) => record.experimentId === 'logs-1')).toBe(true);
    const events = records.map((record) => record.event);
    for (const event of ['start.partitioned', 'round.opened', 'train.done', 'round.closed', 'experiment.completed']) expect(events, event).toContain(event);
    expect(events.filter((event) => event === 'train.done')).toHaveLength(2);
    expect(events.indexOf('start.partitioned')).toBeLessThan(events.indexOf('experiment.completed'));
    // Trainers log from worker threads; their lines are attributed to the worker.
    expect(records.find((record) => record.event === 'train.done')!.function).not.toBe('local');
  }, 60_000);

  it('prints aligned text by default', async () => {
    const { stdout } = await run(logsCommand(), ['logs-10', '--out', out]);
    const completed = stdout.split('\n').find((line) => line.includes('experiment.completed'))!;
    expect(completed).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z {2}\S+ +experiment\.completed +\{"accuracy":[\d.]+\}$/);
    expect(stdout).not.toContain('logs-1"');
  });

  it('says so, with exit code 1, when nothing matches', async () => {
    const unknown = await run(logsCommand(), ['logs-2', '--out', out]);
    expect(unknown).toMatchObject({ stdout: '', exitCode: 1 });
    expect(unknown.stderr).toContain(`no log lines for experiment "logs-2" in ${path.join(out, LOCAL_LOG_FILE)}`);
    const future = await run(logsCommand(), ['logs-1', '--out', out, '--since', new Date(Date.now() + 3_600_000).toISOString()]);
    expect(future.exitCode).toBe(1);
  });

  it('explains where the local log comes from when there is none', async () => {
    await expect(run(logsCommand(), ['logs-1', '--out', path.join(workspace, 'elsewhere')])).rejects.toThrow(UserError);
    await expect(run(logsCommand(), ['logs-1', '--out', path.join(workspace, 'elsewhere')])).rejects.toThrow(/`flambda run` writes <out>\/flambda-local\.log/);
  });
});

describe('log line parsing', () => {
  it('reads the JSON after the Lambda runtime prefix, and matches whole experiment ids', () => {
    const line = '2026-11-21T10:00:00.000Z\t5f1c…\tINFO\t{"time":"2026-11-21T10:00:00.000Z","event":"train.done","experimentId":"exp-1","round":1}';
    const record = parseRecord(line)!;
    expect(record).toMatchObject({ event: 'train.done', experimentId: 'exp-1' });
    expect(recordMentions(record, 'exp-1')).toBe(true);
    expect(recordMentions(record, 'exp')).toBe(false);
    expect(parseRecord('START RequestId: 5f1c Version: $LATEST')).toBeUndefined();
    // The local runtime's dead-letter line quotes the message body.
    expect(recordMentions({ event: 'local.sqs.dead-letter', body: '{"type":"train","experimentId":"exp-1"}' }, 'exp-1')).toBe(true);
  });

  it('reads --since as a duration or a date', () => {
    const now = Date.parse('2026-11-21T12:00:00Z');
    expect(parseSince('30m', now)).toBe(now - 30 * 60_000);
    expect(parseSince('2d', now)).toBe(now - 2 * 86_400_000);
    expect(parseSince('2026-11-21T10:00:00Z', now)).toBe(Date.parse('2026-11-21T10:00:00Z'));
    expect(() => parseSince('yesterday', now)).toThrow(/--since must be like 30m/);
  });
});
