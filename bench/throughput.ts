import type { LocalTrainingConfig, ModelName } from '../shared/config/schema.js';
import { head } from '../shared/data/mnist.js';
import type { Dataset } from '../shared/data/types.js';
import type { TrainingLoop } from '../shared/engine/train.js';
import type { BackendInfo } from '../shared/engine/types.js';
import { describeMachine, finishMachineInfo, startCpuMeter } from './machine.js';
import type { ThroughputRow, ThroughputSuite, VariantId } from './results.js';
import { tfjsThroughput } from './tfjs.js';
import { debianPackageVersion, torchThroughput, type TorchThroughput } from './torch.js';

export interface ThroughputOptions {
  readonly models: readonly ModelName[];
  /** the first N MNIST training samples, for every engine */
  readonly samples: number;
  readonly warmupBatches: number;
  /** interleaved rounds: every variant runs once per round */
  readonly repeats: number;
  readonly parallelClients: number;
  /** also PyTorch with glibc's default malloc, to show what the VM's page faults cost it */
  readonly includeGlibcDefault: boolean;
  /** also the single and parallel clients with XNNPACK running the convolutions (FLAMBDA_WASM_FMA=off): the speed before our FMA kernels */
  readonly includeXnnpack: boolean;
  readonly local: LocalTrainingConfig;
  readonly seed: number;
  readonly python: string;
}

export interface Measurement {
  readonly repeat: number;
  readonly model: ModelName;
  readonly variant: VariantId;
  readonly label: string;
  readonly samplesPerSecond: number;
}

interface Variant {
  readonly id: VariantId;
  readonly engine: 'tfjs' | 'pytorch';
  readonly label: string;
  readonly threads: string;
  measure(model: ModelName): Promise<number>;
}

/**
 * Measures local-training speed of our tfjs loop and the PyTorch reference on the same samples, interleaved
 * (every variant once per round, the order rotated each round), so a burst of other work on the machine lands
 * on all engines alike rather than on whichever ran during it. Each measurement is a fresh process or worker,
 * warmed up before its clock starts.
 */
export async function runThroughputSuite(
  options: ThroughputOptions,
  shardSource: Dataset,
  onMeasurement: (measurement: Measurement) => void = () => undefined,
): Promise<ThroughputSuite> {
  if (options.samples > shardSource.count) throw new RangeError(`--samples ${options.samples} exceeds the ${shardSource.count} MNIST training samples`);
  const started = Date.now();
  const machine = await describeMachine();
  const cpuMeter = startCpuMeter();
  const shard = head(shardSource, options.samples);
  const warmupSamples = options.warmupBatches * options.local.batchSize;
  let tfjsBackend: BackendInfo | undefined;
  let torchInfo: TorchThroughput | undefined;

  const tfjs = (clients: number, loop: TrainingLoop = 'auto', env?: Record<string, string>) => async (model: ModelName) => {
    const result = await tfjsThroughput({ model, clients, shard, warmupSamples, local: options.local, seed: options.seed, loop, ...(env ? { env } : {}) });
    // The backend of the default configuration, not of a variant that turns something off.
    if (!env) tfjsBackend = result.backend;
    return result.samplesPerSecond;
  };
  const xnnpack = { FLAMBDA_WASM_FMA: 'off' };
  const torch = (threads: number, malloc: 'keep' | 'default') => async (model: ModelName) => {
    const result = await torchThroughput(
      {
        model,
        threads,
        samples: options.samples,
        warmupBatches: options.warmupBatches,
        malloc,
        batchSize: options.local.batchSize,
        learningRate: options.local.learningRate,
        momentum: options.local.momentum,
        seed: options.seed,
      },
      options.python,
    );
    if (result.threads !== threads) throw new Error(`PyTorch ran ${result.threads} threads, not the ${threads} asked for`);
    torchInfo = result;
    return result.samplesPerSecond;
  };

  const variants: Variant[] = [
    { id: 'tfjs-single', engine: 'tfjs', label: 'flambda tfjs, 1 client', threads: '1', measure: tfjs(1) },
    ...(options.includeXnnpack
      ? [
          {
            id: 'tfjs-single-xnnpack',
            engine: 'tfjs',
            label: 'flambda tfjs, 1 client, XNNPACK convolutions (FLAMBDA_WASM_FMA=off)',
            threads: '1',
            measure: tfjs(1, 'auto', xnnpack),
          } satisfies Variant,
        ]
      : []),
    {
      id: 'tfjs-single-tape',
      engine: 'tfjs',
      label: 'flambda tfjs, 1 client, tfjs autograd loop (the fused step off)',
      threads: '1',
      measure: tfjs(1, 'tape'),
    },
    { id: 'torch-2', engine: 'pytorch', label: 'PyTorch, 1 client', threads: '2', measure: torch(2, 'keep') },
    {
      id: 'tfjs-parallel',
      engine: 'tfjs',
      label: `flambda tfjs, ${options.parallelClients} clients in parallel worker threads (total)`,
      threads: '1 per worker',
      measure: tfjs(options.parallelClients),
    },
    ...(options.includeXnnpack
      ? [
          {
            id: 'tfjs-parallel-xnnpack',
            engine: 'tfjs',
            label: `flambda tfjs, ${options.parallelClients} clients in parallel, XNNPACK convolutions (FLAMBDA_WASM_FMA=off)`,
            threads: '1 per worker',
            measure: tfjs(options.parallelClients, 'auto', xnnpack),
          } satisfies Variant,
        ]
      : []),
    { id: 'torch-1', engine: 'pytorch', label: 'PyTorch, 1 client', threads: '1', measure: torch(1, 'keep') },
  ];
  if (options.includeGlibcDefault) {
    variants.push({
      id: 'torch-1-glibc',
      engine: 'pytorch',
      label: 'PyTorch, 1 client, glibc malloc defaults',
      threads: '1',
      measure: torch(1, 'default'),
    });
  }

  const runs = new Map<string, number[]>();
  for (let repeat = 0; repeat < options.repeats; repeat++) {
    for (const model of options.models) {
      const rotation = (repeat + options.models.indexOf(model)) % variants.length;
      for (const variant of [...variants.slice(rotation), ...variants.slice(0, rotation)]) {
        const samplesPerSecond = await variant.measure(model);
        const key = `${model}/${variant.id}`;
        runs.set(key, [...(runs.get(key) ?? []), samplesPerSecond]);
        onMeasurement({ repeat: repeat + 1, model, variant: variant.id, label: describeVariant(variant), samplesPerSecond });
      }
    }
  }

  const torchPackage = await debianPackageVersion('python3-torch');
  if (!tfjsBackend || !torchInfo) throw new Error('no measurement ran: pass at least one model and one repeat');
  const rows: ThroughputRow[] = options.models.flatMap((model) =>
    variants.map((variant) => {
      const measured = runs.get(`${model}/${variant.id}`) ?? [];
      return {
        variant: variant.id,
        engine: variant.engine,
        label: variant.label,
        threads: variant.threads,
        model,
        runs: measured,
        median: median(measured),
      };
    }),
  );
  return {
    date: new Date(started).toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 100) / 10,
    machine: finishMachineInfo(machine, cpuMeter.stop()),
    settings: {
      samples: options.samples,
      warmupBatches: options.warmupBatches,
      repeats: options.repeats,
      parallelClients: options.parallelClients,
      batchSize: options.local.batchSize,
      learningRate: options.local.learningRate,
      momentum: options.local.momentum,
      models: [...options.models],
    },
    tfjs: tfjsBackend,
    torch: {
      torchVersion: torchInfo.torchVersion,
      ...(torchPackage ? { debianPackage: torchPackage } : {}),
      pythonVersion: torchInfo.pythonVersion,
      blas: torchInfo.blas,
      mkldnn: torchInfo.mkldnn,
    },
    rows,
  };
}

function describeVariant(variant: Variant): string {
  return `${variant.label}, threads: ${variant.threads}`;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
