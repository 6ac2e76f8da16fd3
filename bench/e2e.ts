import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { experimentConfigSchema, type ExperimentConfig, type ExperimentConfigInput } from '../shared/config/schema.js';
import type { Dataset } from '../shared/data/types.js';
import { partitionIndices } from '../shared/partition/index.js';
import { describeMachine, finishMachineInfo, startCpuMeter } from './machine.js';
import type { EndToEndRun, EndToEndSuite } from './results.js';
import { torchExperiment } from './torch.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const FLAMBDA_BIN = path.join(REPO_ROOT, 'bin', 'flambda.js');

/** The original proof of concept: 5 clients × 5 rounds over all 60,000 MNIST images, E = 1, B = 32, FedAvg. */
export const ORIGINAL_EXPERIMENT: ExperimentConfigInput = {
  seed: 42,
  clients: 5,
  rounds: 5,
  model: 'cnn-small',
  local: { epochs: 1, batchSize: 32 },
  strategy: { name: 'fedavg' },
};

/** ~4x what the original experiment takes on 2 cores with the wasm backend. */
const DEFAULT_FLAMBDA_TIMEOUT_MS = 15 * 60_000;

export const PARTITIONS = {
  iid: { kind: 'iid' },
  'label-skew': { kind: 'shards', shardsPerClient: 2 },
} as const satisfies Record<string, ExperimentConfigInput['partition']>;
export type PartitionName = keyof typeof PARTITIONS;

export interface EndToEndOptions {
  readonly partitions: readonly PartitionName[];
  /** one PyTorch run per entry, in this order; the first is the reference for ratios */
  readonly torchThreads: readonly number[];
  readonly python: string;
  /** overrides of ORIGINAL_EXPERIMENT (tests shrink it) */
  readonly overrides?: ExperimentConfigInput;
  readonly train: Dataset;
  /** also run flambda with XNNPACK doing the convolutions (FLAMBDA_WASM_FMA=off): the time before our FMA kernels */
  readonly includeXnnpack?: boolean;
  /** a `flambda run` still going after this is stopped and reported as failed */
  readonly flambdaTimeoutMs?: number;
  readonly onProgress?: (line: string) => void;
}

/**
 * The whole original experiment, once per partition, on flambda's local runtime (`flambda run`, a separate
 * process) and on the PyTorch reference at each thread count, one after the other. PyTorch trains on flambda's
 * exact shards: the partition is made by shared/partition from the same config and handed over as index lists.
 */
export async function runEndToEndSuite(options: EndToEndOptions): Promise<EndToEndSuite> {
  const started = Date.now();
  const machine = await describeMachine();
  const cpuMeter = startCpuMeter();
  const progress = options.onProgress ?? (() => undefined);
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'flambda-bench-e2e-'));
  let settings: ExperimentConfig | undefined;
  const rows: EndToEndSuite['rows'] = [];
  try {
    for (const partitionName of options.partitions) {
      const config = experimentConfigSchema.parse({
        ...ORIGINAL_EXPERIMENT,
        ...options.overrides,
        name: `bench-${partitionName}`,
        partition: PARTITIONS[partitionName],
      });
      settings = config;
      const configFile = path.join(workDir, `${partitionName}.json`);
      await writeFile(configFile, JSON.stringify(config, null, 2));

      const flambdaRuns: { label: string; env: Record<string, string> }[] = [
        { label: 'flambda local runtime', env: {} },
        ...(options.includeXnnpack ? [{ label: 'flambda local runtime, XNNPACK convolutions', env: { FLAMBDA_WASM_FMA: 'off' } }] : []),
      ];
      for (const { label, env } of flambdaRuns) {
        progress(`${partitionName}: ${label} …`);
        const outDir = path.join(workDir, `out-${partitionName}-${rows.length}`);
        const flambda = await runFlambda(configFile, outDir, options.flambdaTimeoutMs ?? DEFAULT_FLAMBDA_TIMEOUT_MS, env);
        progress(`${partitionName}: ${label}: ${describeRun(flambda)}`);
        rows.push({ partition: partitionName, system: 'flambda', label, run: flambda });
      }

      const partitionFile = path.join(workDir, `${partitionName}-partition.json`);
      await writePartitionFile(config, options.train, partitionFile);
      for (const threads of options.torchThreads) {
        const label = `PyTorch, ${threads} thread${threads === 1 ? '' : 's'}`;
        progress(`${partitionName}: ${label} …`);
        const pytorch = await runTorch(config, threads, options.python, partitionFile);
        progress(`${partitionName}: ${label}: ${describeRun(pytorch)}`);
        rows.push({ partition: partitionName, system: 'pytorch', label, run: pytorch });
      }
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  if (!settings) throw new Error('no partition to run: pass at least one');
  return {
    date: new Date(started).toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 100) / 10,
    machine: finishMachineInfo(machine, cpuMeter.stop()),
    settings: {
      model: settings.model,
      clients: settings.clients,
      rounds: settings.rounds,
      epochs: settings.local.epochs,
      batchSize: settings.local.batchSize,
      learningRate: settings.local.learningRate,
      momentum: settings.local.momentum,
      seed: settings.seed,
      samplesPerClient: settings.samplesPerClient,
      testSamples: settings.testSamples,
      torchThreads: [...options.torchThreads],
    },
    rows,
  };
}

export function describeRun(run: EndToEndRun): string {
  if (run.status !== 'ok') return `${run.status}: ${run.reason}`;
  return `${(run.roundsMs / 1000).toFixed(1)} s (process ${(run.processMs / 1000).toFixed(1)} s), final accuracy ${(run.finalAccuracy * 100).toFixed(2)} %`;
}

/** The fields of flambda's metrics.json this benchmark reads. */
const flambdaMetricsSchema = z.object({
  partition: z.object({ clients: z.array(z.object({ labelHistogram: z.array(z.int()) })) }),
  rounds: z.array(z.object({ accuracy: z.number() })),
  summary: z.object({
    wallMs: z.number(),
    finalAccuracy: z.number(),
    backend: z.object({ backend: z.string(), details: z.record(z.string(), z.unknown()) }),
  }),
});

async function runFlambda(configFile: string, outDir: string, timeoutMs: number, env: Readonly<Record<string, string>>): Promise<EndToEndRun> {
  if (!existsSync(FLAMBDA_BIN)) return { status: 'unavailable', reason: `not available yet: ${path.relative(REPO_ROOT, FLAMBDA_BIN)} does not exist` };
  const startedAt = performance.now();
  const { code, output } = await runProcess(process.execPath, [FLAMBDA_BIN, 'run', configFile, '--out', outDir], timeoutMs, env);
  const processMs = performance.now() - startedAt;
  if (code !== 0) {
    const tail = output.trim().split('\n').slice(-6).join(' | ');
    const missing = /unknown command|unknown option/i.test(output);
    return { status: missing ? 'unavailable' : 'failed', reason: `${missing ? 'not available yet: ' : ''}flambda run exited ${code}: ${tail}` };
  }
  const metricsFile = await findMetricsFile(outDir);
  if (!metricsFile) return { status: 'failed', reason: `flambda run exited 0 but wrote no <id>/metrics.json under its --out folder` };
  const parsed = flambdaMetricsSchema.safeParse(JSON.parse(await readFile(metricsFile, 'utf8')));
  if (!parsed.success) return { status: 'failed', reason: `${metricsFile}: ${z.prettifyError(parsed.error)}` };
  const { summary, rounds, partition } = parsed.data;
  const details = summary.backend.details;
  return {
    status: 'ok',
    roundsMs: summary.wallMs,
    processMs,
    finalAccuracy: summary.finalAccuracy,
    accuracyPerRound: rounds.map((round) => round.accuracy),
    labelHistograms: partition.clients.map((client) => client.labelHistogram),
    engine: `tfjs ${details.fma === true ? 'wasm+fma' : summary.backend.backend}${typeof details.threads === 'number' ? `, ${details.threads} thread${details.threads === 1 ? '' : 's'} per worker` : ''}`,
  };
}

/** flambda's own partition of the config, as the index lists fedavg_torch.py --partition-file reads. */
async function writePartitionFile(config: ExperimentConfig, train: Dataset, file: string): Promise<void> {
  const { clientIndices } = partitionIndices(train.labels, {
    clients: config.clients,
    partition: config.partition,
    seed: config.seed,
    samplesPerClient: config.samplesPerClient,
  });
  await writeFile(file, JSON.stringify(clientIndices.map((indices) => Array.from(indices))));
}

async function runTorch(config: ExperimentConfig, threads: number, python: string, partitionFile: string): Promise<EndToEndRun> {
  const startedAt = performance.now();
  try {
    const result = await torchExperiment(
      {
        model: config.model,
        threads,
        rounds: config.rounds,
        epochs: config.local.epochs,
        partitionFile,
        testSamples: config.testSamples,
        batchSize: config.local.batchSize,
        learningRate: config.local.learningRate,
        momentum: config.local.momentum,
        seed: config.seed,
      },
      python,
    );
    return {
      status: 'ok',
      roundsMs: result.roundsMs,
      processMs: performance.now() - startedAt,
      finalAccuracy: result.finalAccuracy,
      accuracyPerRound: result.rounds.map((round) => round.accuracy),
      labelHistograms: result.clients.map((client) => client.labelHistogram),
      engine: `PyTorch ${result.torchVersion}, ${/openblas/i.test(result.blas) ? 'OpenBLAS' : `BLAS ${result.blas}`}`,
    };
  } catch (error) {
    return { status: 'failed', reason: error instanceof Error ? error.message : String(error) };
  }
}

async function findMetricsFile(outDir: string): Promise<string | undefined> {
  const entries = await readdir(outDir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const candidate = path.join(outDir, entry.name, 'metrics.json');
    if (entry.isDirectory() && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Runs a child to completion, keeping its combined output for the error message; never rejects on exit codes.
 * A child still running after `timeoutMs` is stopped (SIGTERM, then SIGKILL) so one stuck run cannot stall the bench.
 */
function runProcess(
  command: string,
  args: readonly string[],
  timeoutMs: number,
  env: Readonly<Record<string, string>> = {},
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const chunks: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: -1, output: `cannot start ${command}: ${error.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const note = timedOut ? `\nstopped after ${Math.round(timeoutMs / 1000)} s without finishing` : signal ? `\nkilled by ${signal}` : '';
      resolve({ code: code ?? -1, output: Buffer.concat(chunks).toString('utf8') + note });
    });
  });
}
