import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/**
 * The raw numbers of the last benchmark runs, kept next to the code (bench/benchmarks.json) so
 * docs/benchmarks.md can be regenerated and checked: the latest run of each part on each kind of machine (CPU
 * model), since our machines come as AMD EPYC or Intel Xeon and the same code runs up to 1.6× apart on them. The
 * end-to-end part is opt-in (--e2e, ~9 more minutes), so each run replaces only the parts it measured, and only
 * for its own kind of machine.
 */

const machineSchema = z.object({
  cpuModel: z.string(),
  cores: z.int(),
  memoryGiB: z.number(),
  os: z.string(),
  nodeVersion: z.string(),
  /** the SIMD extensions that matter here (avx2, fma, avx512f), as /proc/cpuinfo lists them */
  cpuFlags: z.array(z.string()).readonly().optional(),
  loadAverage: z.object({ start: z.number(), end: z.number().optional() }),
  otherCpuShare: z.number().min(0).max(1).optional(),
});

const backendSchema = z.object({
  backend: z.enum(['tensorflow', 'wasm', 'cpu']),
  tfjsVersion: z.string(),
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});

const torchEngineSchema = z.object({
  torchVersion: z.string(),
  /** Debian's python3-torch version, when torch came from there */
  debianPackage: z.string().optional(),
  pythonVersion: z.string(),
  blas: z.string(),
  mkldnn: z.boolean(),
});

export const VARIANT_IDS = [
  'tfjs-single',
  'tfjs-single-xnnpack',
  'tfjs-single-tape',
  'tfjs-parallel',
  'tfjs-parallel-xnnpack',
  'torch-2',
  'torch-1',
  'torch-1-glibc',
] as const;
export type VariantId = (typeof VARIANT_IDS)[number];

const throughputRowSchema = z.object({
  variant: z.enum(VARIANT_IDS),
  engine: z.enum(['tfjs', 'pytorch']),
  /** e.g. "tfjs wasm, 5 clients in parallel worker threads" */
  label: z.string(),
  /** e.g. "1 per client" */
  threads: z.string(),
  model: z.string(),
  /** samples/s of each repetition, in run order */
  runs: z.array(z.number()),
  median: z.number(),
});
export type ThroughputRow = z.infer<typeof throughputRowSchema>;

export const throughputSuiteSchema = z.object({
  date: z.string(),
  durationSeconds: z.number(),
  machine: machineSchema,
  settings: z.object({
    samples: z.int(),
    warmupBatches: z.int(),
    repeats: z.int(),
    parallelClients: z.int(),
    batchSize: z.int(),
    learningRate: z.number(),
    momentum: z.number(),
    models: z.array(z.string()),
  }),
  tfjs: backendSchema,
  torch: torchEngineSchema,
  rows: z.array(throughputRowSchema),
});
export type ThroughputSuite = z.infer<typeof throughputSuiteSchema>;

const e2eRunSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('ok'),
    /** the engine's own clock: first round's start to the last round's evaluation */
    roundsMs: z.number(),
    /** the whole process, start-up included */
    processMs: z.number(),
    finalAccuracy: z.number(),
    accuracyPerRound: z.array(z.number()),
    labelHistograms: z.array(z.array(z.int())),
    engine: z.string(),
  }),
  z.object({ status: z.enum(['unavailable', 'failed']), reason: z.string() }),
]);
export type EndToEndRun = z.infer<typeof e2eRunSchema>;

export const endToEndSuiteSchema = z.object({
  date: z.string(),
  durationSeconds: z.number(),
  machine: machineSchema,
  settings: z.object({
    model: z.string(),
    clients: z.int(),
    rounds: z.int(),
    epochs: z.int(),
    batchSize: z.int(),
    learningRate: z.number(),
    momentum: z.number(),
    seed: z.int(),
    /** null: each client's whole shard / the whole test set */
    samplesPerClient: z.int().nullable(),
    testSamples: z.int().nullable(),
    /** one PyTorch run per entry, the first being the reference the "vs PyTorch" column divides by */
    torchThreads: z.array(z.int()).min(1),
  }),
  rows: z.array(
    z.object({
      partition: z.string(),
      system: z.enum(['flambda', 'pytorch']),
      /** e.g. "flambda local runtime", "PyTorch, 2 threads" */
      label: z.string(),
      run: e2eRunSchema,
    }),
  ),
});
export type EndToEndSuite = z.infer<typeof endToEndSuiteSchema>;

const phaseSchema = z.object({ phase: z.string(), ms: z.number() });

/** bench/profile-step.ts: the fused step's time per phase, for each kind of convolution kernels the runtime has. */
export const profileSuiteSchema = z.object({
  date: z.string(),
  durationSeconds: z.number(),
  machine: machineSchema,
  settings: z.object({ steps: z.int(), rounds: z.int(), batchSize: z.int(), clock: z.enum(['cpu', 'wall']), relaxedSimd: z.string() }),
  models: z.array(
    z.object({
      model: z.string(),
      variants: z.array(z.object({ kernels: z.string(), msPerStep: z.number(), phases: z.array(phaseSchema) })),
    }),
  ),
});
export type ProfileSuite = z.infer<typeof profileSuiteSchema>;

/** What the runs on one kind of machine measured. */
export const machineResultsSchema = z.object({
  throughput: throughputSuiteSchema.optional(),
  profile: profileSuiteSchema.optional(),
  endToEnd: endToEndSuiteSchema.optional(),
});
export type MachineResults = z.infer<typeof machineResultsSchema>;

/** By machine kind: the CPU model (machineKind). */
export const benchResultsSchema = z.object({ machines: z.record(z.string(), machineResultsSchema) });
export type BenchResults = z.infer<typeof benchResultsSchema>;

/** The file before results were kept per machine kind: one run of each part, whatever machine it ran on. */
const singleMachineSchema = machineResultsSchema.strict();

/** The kind of machine results are kept apart by: its CPU model, as the OS names it. */
export function machineKind(machine: { readonly cpuModel: string }): string {
  return machine.cpuModel;
}

function byKind(results: MachineResults): BenchResults {
  const machines: Record<string, MachineResults> = {};
  for (const [part, suite] of Object.entries(results) as [keyof MachineResults, MachineResults[keyof MachineResults]][]) {
    if (!suite) continue;
    const kind = machineKind(suite.machine);
    machines[kind] = { ...machines[kind], [part]: suite };
  }
  return { machines };
}

export const DEFAULT_RESULTS_FILE = fileURLToPath(new URL('./benchmarks.json', import.meta.url));

/**
 * The stored results; none when the file does not exist yet. A file from before results were kept per machine is
 * read as the runs of the machine each part names. An unreadable file is an error, not silently dropped.
 */
export async function readResults(file: string): Promise<BenchResults> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { machines: {} };
    throw error;
  }
  const json: unknown = JSON.parse(text);
  const parsed = benchResultsSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const older = singleMachineSchema.safeParse(json);
  if (older.success) return byKind(older.data);
  throw new Error(`${file} is not a benchmark results file: ${z.prettifyError(parsed.error)}`);
}

/**
 * Replaces the parts in `update` for the machine kind they ran on, keeps everything else; written atomically so
 * an interrupted run leaves the old file.
 */
export async function mergeResults(file: string, update: MachineResults): Promise<BenchResults> {
  const stored = await readResults(file);
  const machines = { ...stored.machines };
  for (const [kind, parts] of Object.entries(byKind(update).machines)) machines[kind] = { ...machines[kind], ...parts };
  const merged = { machines };
  await writeAtomically(file, `${JSON.stringify(merged, null, 2)}\n`);
  return merged;
}

export async function writeAtomically(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, file);
}
