/**
 * Where a fused training step's time goes, phase by phase (conv forward, filter and input gradients, dense layers,
 * pooling, optimizer), for each way the step can run its convolutions on this runtime: XNNPACK, our kernels with
 * FMA, our kernels with a multiply and an add. Interleaved rounds, the best round of each. Part of
 * `npm run bench:train`; on its own, printing the tables only:
 *   npm run bench:profile -- [--models cnn-small,cnn-mcmahan] [--steps 40] [--rounds 3] [--batch-size 32] [--clock cpu|wall]
 */
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { experimentConfigSchema, MODEL_NAMES, type ModelName } from '../shared/config/schema.js';
import { loadMnistFromPackage } from '../shared/data/mnist.js';
import type { Dataset } from '../shared/data/types.js';
import { initBackend } from '../shared/engine/backend.js';
import { FusedTrainer, type ConvolutionKernels } from '../shared/engine/fused-wasm.js';
import { relaxedSimdSupport } from '../shared/engine/simd/conv.js';
import { initialWeights } from '../shared/engine/build-model.js';
import { describeMachine, finishMachineInfo, startCpuMeter } from './machine.js';
import { formatProfileTables } from './report.js';
import type { ProfileSuite } from './results.js';

export interface ProfileOptions {
  readonly models: readonly ModelName[];
  /** timed steps per round, after a few untimed ones */
  readonly steps: number;
  readonly rounds: number;
  readonly batchSize: number;
  /** 'cpu': this process's CPU time, steadier on a busy machine; 'wall': elapsed time */
  readonly clock: 'cpu' | 'wall';
}

export const DEFAULT_PROFILE: Omit<ProfileOptions, 'models'> = { steps: 40, rounds: 3, batchSize: 32, clock: 'cpu' };

const WARMUP_STEPS = 5;

function clockOf(kind: 'cpu' | 'wall'): () => number {
  if (kind === 'wall') return () => performance.now();
  return () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
}

/** The kinds of kernels this runtime can run the fused step on, XNNPACK first. */
export function availableKernels(): ConvolutionKernels[] {
  const { status } = relaxedSimdSupport();
  return ['xnnpack', 'mul-add', ...(status === 'built in' || status === 'flag' ? (['fma'] as const) : [])];
}

export async function runProfileSuite(options: ProfileOptions, train: Dataset, onRound: (line: string) => void = () => undefined): Promise<ProfileSuite> {
  const started = Date.now();
  await initBackend('wasm');
  const machine = await describeMachine();
  const cpuMeter = startCpuMeter();
  const clock = clockOf(options.clock);
  const variants = availableKernels();
  const local = experimentConfigSchema.parse({ local: { batchSize: options.batchSize } }).local;
  const rows = Uint32Array.from({ length: options.batchSize * (options.steps + WARMUP_STEPS) }, (_, i) => i);
  if (rows.length > train.count) throw new RangeError(`${rows.length} samples needed, the dataset has ${train.count}`);

  const round = (model: ModelName, kernels: ConvolutionKernels) => {
    const phases = new Map<string, number>();
    const trainer = new FusedTrainer(model, initialWeights(model, 1), { local, kernels, profile: { phases, clock } });
    try {
      const step = (index: number) => trainer.step(train, rows, index * options.batchSize, (index + 1) * options.batchSize);
      for (let index = 0; index < WARMUP_STEPS; index++) step(index);
      phases.clear();
      const startedAt = clock();
      for (let index = WARMUP_STEPS; index < WARMUP_STEPS + options.steps; index++) step(index);
      const msPerStep = (clock() - startedAt) / options.steps;
      return { kernels, msPerStep, phases: [...phases].map(([phase, ms]) => ({ phase, ms: ms / options.steps })) };
    } finally {
      trainer.dispose();
    }
  };

  const models = options.models.map((model) => {
    const best = new Map<ConvolutionKernels, ReturnType<typeof round>>();
    for (let r = 0; r < options.rounds; r++) {
      for (const kernels of [...variants.slice(r % variants.length), ...variants.slice(0, r % variants.length)]) {
        const result = round(model, kernels);
        onRound(`${model} ${kernels}: ${result.msPerStep.toFixed(2)} ms a step`);
        if (!best.has(kernels) || result.msPerStep < best.get(kernels)!.msPerStep) best.set(kernels, result);
      }
    }
    return { model, variants: variants.map((kernels) => best.get(kernels)!) };
  });
  const { status, fused } = relaxedSimdSupport();
  return {
    date: new Date(started).toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 100) / 10,
    machine: finishMachineInfo(machine, cpuMeter.stop()),
    settings: { steps: options.steps, rounds: options.rounds, batchSize: options.batchSize, clock: options.clock, relaxedSimd: `${status}${fused ? ', fused' : ''}` },
    models,
  };
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('expected a positive integer');
  return parsed;
}

function modelList(value: string): ModelName[] {
  const items = value.split(',').map((item) => item.trim());
  const unknown = items.filter((item) => !(MODEL_NAMES as readonly string[]).includes(item));
  if (unknown.length) throw new InvalidArgumentError(`unknown: ${unknown.join(', ')}; choose from ${MODEL_NAMES.join(', ')}`);
  return items as ModelName[];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const options = new Command('bench:profile')
    .description('Per-phase time of one fused training step, for each kind of convolution kernels this runtime has; prints tables')
    .option('--models <list>', 'comma-separated models', modelList, ['cnn-small', 'cnn-mcmahan'] as ModelName[])
    .option('--steps <n>', 'timed steps per round', positiveInteger, DEFAULT_PROFILE.steps)
    .option('--rounds <n>', 'interleaved rounds (the best is shown)', positiveInteger, DEFAULT_PROFILE.rounds)
    .option('--batch-size <n>', 'batch size', positiveInteger, DEFAULT_PROFILE.batchSize)
    .addOption(new Option('--clock <clock>', "'cpu': this process's CPU time (steadier on a busy machine); 'wall': elapsed").choices(['cpu', 'wall']).default('cpu'))
    .parse()
    .opts<ProfileOptions>();
  const mnist = await loadMnistFromPackage();
  const suite = await runProfileSuite(options, mnist.train, (line) => process.stderr.write(`  ${line}\n`));
  console.log(formatProfileTables(suite));
}
