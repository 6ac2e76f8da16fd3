/**
 * Trains one client once and reports where the engine stands on this machine:
 *   npx tsx bench/train-once.ts [--model cnn-small] [--samples 1000] [--test-samples 1000] [--epochs 1]
 *                               [--batch-size 32] [--optimizer sgd|adam] [--lr 0.05] [--momentum 0.9]
 *                               [--backend auto|wasm|cpu|tensorflow] [--seed 42]
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { MODEL_NAMES, experimentConfigSchema, type ModelName } from '../shared/config/schema.js';
import { head, loadMnistFromPackage } from '../shared/data/mnist.js';
import { backendLabel, evaluate, initBackend, trainLocal, type BackendRequest } from '../shared/engine/index.js';
import { initialWeights } from '../shared/engine/build-model.js';
import { parameterCount } from '../shared/models/index.js';

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('expected a positive integer');
  return parsed;
}

function positiveNumber(value: string): number {
  const parsed = Number(value);
  if (!(parsed > 0)) throw new InvalidArgumentError('expected a positive number');
  return parsed;
}

const program = new Command('train-once')
  .description('Train one federated client on MNIST and print backend, samples/s, train loss and test accuracy')
  .addOption(new Option('--model <name>', 'model to train').choices(MODEL_NAMES).default('cnn-small'))
  .option('--samples <n>', 'training samples (first n of MNIST train)', positiveInt, 1000)
  .option('--test-samples <n>', 'test samples (first n of MNIST test)', positiveInt, 1000)
  .option('--epochs <n>', 'local epochs', positiveInt, 1)
  .option('--batch-size <n>', 'batch size', positiveInt, 32)
  .addOption(new Option('--optimizer <name>', 'local optimizer (default: the config default)').choices(['sgd', 'adam']))
  .option('--lr <rate>', 'learning rate (default: the config default)', positiveNumber)
  .option('--momentum <m>', 'sgd momentum, 0 for plain sgd (default: the config default)', Number)
  .addOption(new Option('--backend <name>', 'TensorFlow.js backend (default: FLAMBDA_BACKEND or auto)').choices(['auto', 'tensorflow', 'wasm', 'cpu']))
  .option('--seed <n>', 'seed for initial weights and shuffling', positiveInt, 42)
  .parse();

const options = program.opts<{
  model: ModelName;
  samples: number;
  testSamples: number;
  epochs: number;
  batchSize: number;
  optimizer?: 'sgd' | 'adam';
  lr?: number;
  momentum?: number;
  backend?: BackendRequest;
  seed: number;
}>();

const backend = await initBackend(options.backend);
const details = Object.entries(backend.details)
  .map(([key, value]) => `${key}=${value}`)
  .join(' ');
console.log(`backend      ${backendLabel(backend)} (tfjs ${backend.tfjsVersion}) ${details}`);

const mnist = await loadMnistFromPackage();
const shard = head(mnist.train, options.samples);
const testSet = head(mnist.test, options.testSamples);
const local = experimentConfigSchema.parse({
  local: {
    epochs: options.epochs,
    batchSize: options.batchSize,
    optimizer: options.optimizer,
    learningRate: options.lr,
    momentum: options.momentum,
  },
}).local;
const weights = initialWeights(options.model, options.seed);
console.log(`model        ${options.model} (${parameterCount(options.model).toLocaleString('en-US')} parameters)`);
console.log(
  `training     ${shard.count} samples × ${local.epochs} epoch(s), batch ${local.batchSize}, ` +
    `${local.optimizer} lr ${local.learningRate} momentum ${local.momentum}`,
);

const cpuBefore = process.cpuUsage();
const result = await trainLocal({ model: options.model, weights, shard, local, seed: options.seed });
const cpu = process.cpuUsage(cpuBefore);
// Per CPU-second as well: on a shared machine wall time also counts other processes' turns.
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
console.log(
  `speed        ${result.samplesPerSecond.toFixed(1)} samples/s (${(result.durationMs / 1000).toFixed(2)} s wall); ` +
    `${((shard.count * local.epochs) / cpuSeconds).toFixed(1)} samples per CPU-second (${cpuSeconds.toFixed(2)} s CPU)`,
);
console.log(`train        loss ${result.loss.toFixed(4)}  accuracy ${(result.accuracy * 100).toFixed(2)} % (last epoch)`);

const evaluation = await evaluate({ model: options.model, weights: result.weights, testSet });
console.log(`test         accuracy ${(evaluation.accuracy * 100).toFixed(2)} %  loss ${evaluation.loss.toFixed(4)} on ${evaluation.samples} samples`);
