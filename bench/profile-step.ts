/**
 * `npm run bench:profile`: where a fused training step's time goes, phase by phase (conv forward, filter and input
 * gradients, dense layers, pooling, optimizer), for each way the step can run its convolutions on this runtime
 * (XNNPACK, our kernels with FMA, our kernels with a multiply and an add). Interleaved rounds, best round per
 * variant; prints one table per model.
 *   npm run bench:profile -- [--models cnn-small,cnn-mcmahan] [--steps 40] [--rounds 3] [--batch-size 32]
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { experimentConfigSchema, MODEL_NAMES, type ModelName } from '../shared/config/schema.js';
import { loadMnistFromPackage } from '../shared/data/mnist.js';
import { initBackend } from '../shared/engine/backend.js';
import { FusedTrainer, type ConvolutionKernels } from '../shared/engine/fused-wasm.js';
import { relaxedSimdSupport } from '../shared/engine/simd/conv.js';
import { initialWeights } from '../shared/models/index.js';
import { describeMachine } from './machine.js';

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('expected a positive integer');
  return parsed;
}

function models(value: string): ModelName[] {
  const items = value.split(',').map((item) => item.trim());
  const unknown = items.filter((item) => !(MODEL_NAMES as readonly string[]).includes(item));
  if (unknown.length) throw new InvalidArgumentError(`unknown: ${unknown.join(', ')}; choose from ${MODEL_NAMES.join(', ')}`);
  return items as ModelName[];
}

const options = new Command('bench:profile')
  .description('Per-phase time of one fused training step, for each kind of convolution kernels this runtime has')
  .option('--models <list>', 'comma-separated models', models, ['cnn-small', 'cnn-mcmahan'] as ModelName[])
  .option('--steps <n>', 'timed steps per round', positiveInteger, 40)
  .option('--rounds <n>', 'interleaved rounds (the best is shown)', positiveInteger, 3)
  .option('--batch-size <n>', 'batch size', positiveInteger, 32)
  .addOption(
    new Option('--clock <clock>', "'cpu': this process's CPU time (steadier on a busy machine); 'wall': elapsed time").choices(['cpu', 'wall']).default('cpu'),
  )
  .parse()
  .opts<{ models: ModelName[]; steps: number; rounds: number; batchSize: number; clock: 'cpu' | 'wall' }>();

const clock =
  options.clock === 'wall'
    ? () => performance.now()
    : () => {
        const { user, system } = process.cpuUsage();
        return (user + system) / 1000;
      };

const WARMUP_STEPS = 5;

interface RoundResult {
  readonly msPerStep: number;
  readonly phases: Map<string, number>;
}

const backend = await initBackend('wasm');
const support = relaxedSimdSupport();
const variants: ConvolutionKernels[] = ['xnnpack', 'mul-add', ...(support.status === 'built in' || support.status === 'flag' ? (['fma'] as const) : [])];
const machine = await describeMachine();
console.log(
  `# Fused step profile — ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion}, load ${machine.loadAverage.start}, ${options.clock} time, ${new Date().toISOString()}`,
);
console.log(`relaxed SIMD: ${support.status}${support.fused ? ', fused' : ''}; backend ${backend.backend} ${JSON.stringify(backend.details.simd)}`);
const mnist = await loadMnistFromPackage();
const local = experimentConfigSchema.parse({ local: { batchSize: options.batchSize } }).local;
const samples = options.batchSize * (options.steps + WARMUP_STEPS);
const rows = Uint32Array.from({ length: samples }, (_, i) => i);

function round(model: ModelName, kernels: ConvolutionKernels): RoundResult {
  const phases = new Map<string, number>();
  const trainer = new FusedTrainer(model, initialWeights(model, 1), { local, kernels, profile: { phases, clock } });
  try {
    for (let step = 0; step < WARMUP_STEPS; step++) trainer.step(mnist.train, rows, step * options.batchSize, (step + 1) * options.batchSize);
    phases.clear();
    const started = clock();
    for (let step = WARMUP_STEPS; step < WARMUP_STEPS + options.steps; step++) {
      trainer.step(mnist.train, rows, step * options.batchSize, (step + 1) * options.batchSize);
    }
    const msPerStep = (clock() - started) / options.steps;
    return { msPerStep, phases: new Map([...phases].map(([phase, ms]) => [phase, ms / options.steps])) };
  } finally {
    trainer.dispose();
  }
}

for (const model of options.models) {
  const best = new Map<ConvolutionKernels, RoundResult>();
  for (let r = 0; r < options.rounds; r++) {
    const order = [...variants.slice(r % variants.length), ...variants.slice(0, r % variants.length)];
    for (const kernels of order) {
      const result = round(model, kernels);
      if (!best.has(kernels) || result.msPerStep < best.get(kernels)!.msPerStep) best.set(kernels, result);
    }
  }
  const phases = [...new Set(variants.flatMap((kernels) => [...best.get(kernels)!.phases.keys()]))];
  console.log(`\n## ${model}, batch ${options.batchSize}: ms per step (${options.clock} time, best of ${options.rounds} rounds of ${options.steps} steps)\n`);
  console.log(`| phase | ${variants.join(' | ')} |`);
  console.log(`| --- | ${variants.map(() => '---:').join(' | ')} |`);
  for (const phase of phases) {
    const cells = variants.map((kernels) => {
      const result = best.get(kernels)!;
      const ms = result.phases.get(phase);
      return ms === undefined ? '—' : `${ms.toFixed(2)} (${((100 * ms) / result.msPerStep).toFixed(0)} %)`;
    });
    console.log(`| ${phase} | ${cells.join(' | ')} |`);
  }
  const rest = variants.map((kernels) => {
    const result = best.get(kernels)!;
    const accounted = [...result.phases.values()].reduce((a, b) => a + b, 0);
    return `${(result.msPerStep - accounted).toFixed(2)}`;
  });
  console.log(`| everything else | ${rest.join(' | ')} |`);
  console.log(`| **step** | ${variants.map((kernels) => `**${best.get(kernels)!.msPerStep.toFixed(2)}**`).join(' | ')} |`);
  console.log(`| samples/s | ${variants.map((kernels) => Math.round((1000 * options.batchSize) / best.get(kernels)!.msPerStep).toLocaleString('en-US')).join(' | ')} |`);
}
