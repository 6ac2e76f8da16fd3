import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, Option } from 'commander';
import { createCloudFormationClient } from '../../shared/cloud/clients.js';
import { readStackOutputs, requireStackOutput } from '../../shared/cloud/cloudformation.js';
import { createLogsClient, searchLogEvents } from '../../shared/cloud/log-events.js';
import { LOG_GROUP_OUTPUTS } from '../../infra/lib/outputs.js';
import { UserError } from '../errors.js';
import { DEFAULT_STACK, LOCALSTACK_ENDPOINT, TARGETS, type TargetName } from '../targets.js';

/** Where `flambda run` (local target) writes the embedded cloud's JSON-line log, under its --out folder. */
export const LOCAL_LOG_FILE = 'flambda-local.log';

/** One pipeline log line, attributed to the function (AWS) or process (local) that wrote it. */
export interface ExperimentLogLine {
  readonly time: string;
  readonly source: string;
  /** The JSON the pipeline logged ({ time, event, experimentId, … }), or undefined for a line that is not JSON. */
  readonly record: Readonly<Record<string, unknown>> | undefined;
  readonly text: string;
}

interface LogsOptions {
  target: TargetName;
  out: string;
  logFile?: string;
  stack: string;
  endpoint?: string;
  since?: string;
  json?: boolean;
}

export function logsCommand(): Command {
  return new Command('logs')
    .description(
      "Print one experiment's log lines from every function, oldest first. Locally it reads the embedded cloud's log " +
        `(<out>/${LOCAL_LOG_FILE}, written by \`flambda run\`; or --log-file, e.g. a saved \`flambda dev\` output); ` +
        "with --target aws|localstack it searches the stack's log groups in CloudWatch Logs.",
    )
    .argument('<id>', 'experiment id')
    .addOption(new Option('-t, --target <target>', 'where the experiment ran').choices(TARGETS).default('local'))
    .option('-o, --out <dir>', `local: the results folder \`flambda run\` wrote ${LOCAL_LOG_FILE} to`, 'results')
    .option('--log-file <path>', 'local: a JSON-line log file to read instead')
    .option('--stack <name>', 'aws, localstack: the CloudFormation stack whose log groups to search', DEFAULT_STACK)
    .option('--endpoint <url>', 'localstack (or another emulator): its endpoint (default $AWS_ENDPOINT_URL or http://127.0.0.1:4566)')
    .option('--since <when>', 'only lines after this: 30m, 6h, 2d, or an ISO date')
    .option('--json', 'print the JSON records (with a "function" field) instead of aligned text')
    .addHelpText('after', '\nExamples:\n  flambda logs quick-20261121-101500\n  flambda logs my-first-experiment --target aws --since 2h')
    .action(async (experimentId: string, options: LogsOptions) => {
      const since = options.since === undefined ? undefined : parseSince(options.since, Date.now());
      const { lines, where, truncated } = options.target === 'local' && !options.endpoint
        ? await fromLocalLog(experimentId, options.logFile ?? path.join(options.out, LOCAL_LOG_FILE), since)
        : await fromCloudWatch(experimentId, options, since);
      if (lines.length === 0) {
        console.error(`flambda: no log lines for experiment "${experimentId}" in ${where}`);
        process.exitCode = 1;
        return;
      }
      for (const line of lines) console.log(options.json ? JSON.stringify({ function: line.source, ...(line.record ?? { time: line.time, text: line.text }) }) : formatLine(line));
      if (truncated) console.error(`flambda: stopped after ${lines.length} lines; narrow it with --since`);
      process.exitCode = 0;
    });
}

/** `30m`, `6h`, `2d` before `now`, or an ISO date, as epoch milliseconds. */
export function parseSince(value: string, now: number): number {
  const relative = /^(\d+)\s*([mhd])$/.exec(value.trim());
  if (relative) return now - Number(relative[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 'm' | 'h' | 'd'];
  const absolute = Date.parse(value);
  if (Number.isNaN(absolute)) throw new UserError(`--since must be like 30m, 6h, 2d or an ISO date (got "${value}")`);
  return absolute;
}

/**
 * Whether a logged record belongs to the experiment: its `experimentId` field, or (for the local runtime's
 * dead-letter lines) the message body it quotes.
 */
export function recordMentions(record: Readonly<Record<string, unknown>>, experimentId: string): boolean {
  if (record.experimentId === experimentId) return true;
  return typeof record.body === 'string' && record.body.includes(`"experimentId":${JSON.stringify(experimentId)}`);
}

/** The JSON object a line carries: the whole line locally, the part after Lambda's `time\trequestId\tLEVEL\t` prefix on AWS. */
export function parseRecord(text: string): Record<string, unknown> | undefined {
  const start = text.indexOf('{');
  if (start < 0) return undefined;
  try {
    const value: unknown = JSON.parse(text.slice(start));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Lines of a local JSON-line log that belong to the experiment, in file order. */
export function selectLocalLines(content: string, experimentId: string, since?: number): ExperimentLogLine[] {
  const lines: ExperimentLogLine[] = [];
  for (const text of content.split('\n')) {
    const record = parseRecord(text);
    if (!record || !recordMentions(record, experimentId)) continue;
    const time = typeof record.time === 'string' ? record.time : '';
    if (since !== undefined && time !== '' && Date.parse(time) < since) continue;
    lines.push({ time, source: typeof record.worker === 'string' ? record.worker : 'local', record, text });
  }
  return lines;
}

/** Non-JSON lines (stack traces, runtime errors) that name the id as a whole word, not as the prefix of a longer id. */
function namesId(text: string, experimentId: string): boolean {
  const escaped = experimentId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^A-Za-z0-9._-])${escaped}($|[^A-Za-z0-9._-])`).test(text);
}

async function fromLocalLog(experimentId: string, file: string, since: number | undefined) {
  const content = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw new UserError(`cannot read ${file}: ${error.message}`);
    throw new UserError(
      `no local log at ${file}: \`flambda run\` writes <out>/${LOCAL_LOG_FILE} (pass the same --out, or --log-file); ` +
        '`flambda dev` logs to its standard output: save it (`flambda dev > dev.log`) and pass --log-file dev.log',
    );
  });
  return { lines: selectLocalLines(content, experimentId, since), where: file, truncated: false };
}

async function fromCloudWatch(experimentId: string, options: LogsOptions, since: number | undefined) {
  const endpoint = options.endpoint ?? (options.target === 'localstack' ? process.env.AWS_ENDPOINT_URL ?? LOCALSTACK_ENDPOINT : undefined);
  const clientOptions = endpoint ? { endpoint } : {};
  let logGroups: Record<string, string>;
  try {
    const stack = await readStackOutputs(createCloudFormationClient(clientOptions), options.stack);
    logGroups = Object.fromEntries(Object.entries(LOG_GROUP_OUTPUTS).map(([name, output]) => [requireStackOutput(stack, output), name]));
  } catch (error) {
    throw new UserError(`${(error as Error).message}${endpoint ? ` (endpoint ${endpoint})` : ''}`);
  }
  const client = createLogsClient(clientOptions);
  try {
    const { events, truncated } = await searchLogEvents(client, {
      logGroups: Object.keys(logGroups),
      // A quoted term: events containing the id; exact matching happens below (the term also matches longer ids).
      filterPattern: JSON.stringify(experimentId),
      ...(since !== undefined ? { startTime: since } : {}),
    });
    const lines: ExperimentLogLine[] = [];
    for (const event of events) {
      const record = parseRecord(event.message);
      if (record ? !recordMentions(record, experimentId) : !namesId(event.message, experimentId)) continue;
      const time = record && typeof record.time === 'string' ? record.time : new Date(event.timestamp).toISOString();
      lines.push({ time, source: logGroups[event.logGroup] ?? event.logGroup, record, text: event.message.trim() });
    }
    return { lines, where: `the log groups of stack ${options.stack} (${Object.keys(logGroups).join(', ')})`, truncated };
  } catch (error) {
    throw new UserError((error as Error).message);
  } finally {
    client.destroy();
  }
}

/** Wide enough for the AWS function names and the local worker labels (flambda-train-1). */
const SOURCE_WIDTH = 15;

export function formatLine(line: ExperimentLogLine): string {
  if (!line.record) return `${line.time}  ${line.source.padEnd(SOURCE_WIDTH)}  ${line.text}`;
  const { time: _time, event, experimentId: _id, ...rest }: Record<string, unknown> = { ...line.record };
  if (rest.worker === line.source) delete rest.worker;
  const fields = Object.keys(rest).length > 0 ? `  ${JSON.stringify(rest)}` : '';
  return `${line.time}  ${line.source.padEnd(SOURCE_WIDTH)}  ${String(event ?? '?').padEnd(26)}${fields}`;
}
