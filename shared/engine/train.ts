import * as tf from '@tensorflow/tfjs';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { LocalTrainingConfig, ModelName } from '../config/schema.js';
import type { Dataset } from '../data/types.js';
import { toModelSpec, type ModelSpec } from '../models/index.js';
import type { ClientObjective, LogitAdjustment } from '../strategies/types.js';
import type { ModelWeights } from '../weights/types.js';
import { initBackend } from './backend.js';
import { FusedTrainer, fusedStepAvailable, type FusedStepOptions } from './fused-wasm.js';
import { BatchMaker, checkDataset, modelInputOf, shuffledIndices } from './batches.js';
import { checkLogitAdjustment } from './softmax-loss.js';
import { cachedModel, runExclusive } from './model-cache.js';
import type { TrainResult } from './types.js';
import { matchWeights, readModelWeights, writeModelWeights } from './weights-bridge.js';

export interface TrainLocalArgs {
  /** a name (built for the shard's shape and classes) or a spec */
  readonly model: ModelName | ModelSpec;
  /** the global weights this round starts from */
  readonly weights: ModelWeights;
  readonly shard: Dataset;
  readonly local: LocalTrainingConfig;
  /** drives the per-epoch shuffling: same seed and inputs ⇒ same weights out */
  readonly seed: number;
  readonly objective?: ClientObjective;
  /**
   * 'auto' (default): the fused wasm step when the wasm backend runs, tfjs autograd otherwise. 'tape' forces
   * autograd and 'fused' the fused step: for tests and benchmarks that compare the two.
   */
  readonly loop?: TrainingLoop;
}

export type TrainingLoop = 'auto' | 'fused' | 'tape';

/** The loss stopped being a number: the update would poison the aggregate, so it is never returned. */
export class TrainingDivergedError extends Error {
  override name = 'TrainingDivergedError';
}

/** Yield to the event loop this often so timers (heartbeats, visibility extensions) still fire during long epochs. */
const YIELD_EVERY_MS = 200;

interface OwnedOptimizer {
  readonly optimizer: tf.Optimizer;
  dispose(): void;
}

function createOptimizer(local: LocalTrainingConfig): OwnedOptimizer {
  if (local.optimizer === 'adam') {
    const optimizer = tf.train.adam(local.learningRate);
    return { optimizer, dispose: () => optimizer.dispose() };
  }
  if (local.momentum > 0) {
    const optimizer = tf.train.momentum(local.learningRate, local.momentum);
    return {
      optimizer,
      dispose: () => {
        optimizer.dispose();
        // tfjs 4.22: MomentumOptimizer.dispose() skips SGDOptimizer's and leaks the learning-rate scalar on
        // every call. Disposing a tensor twice is a no-op, so this stays correct once tfjs fixes it.
        tf.SGDOptimizer.prototype.dispose.call(optimizer);
      },
    };
  }
  const optimizer = tf.train.sgd(local.learningRate);
  return { optimizer, dispose: () => optimizer.dispose() };
}

function checkLocalConfig(local: LocalTrainingConfig): void {
  if (!Number.isInteger(local.epochs) || local.epochs < 1) throw new Error(`local.epochs must be a positive integer, got ${local.epochs}`);
  if (!Number.isInteger(local.batchSize) || local.batchSize < 1) {
    throw new Error(`local.batchSize must be a positive integer, got ${local.batchSize}`);
  }
  if (!(local.learningRate > 0)) throw new Error(`local.learningRate must be positive, got ${local.learningRate}`);
}

/**
 * Trains the model from `weights` on the client's shard: `local.epochs` passes of mini-batch steps
 * (⌈samples / batchSize⌉ per epoch, the last one may be short) over a seeded shuffle, on the mean cross-entropy.
 * A strategy's `objective` changes every step's gradient before the optimizer sees it:
 *   - `proximalMu` μ > 0 (FedProx) adds μ·(w − w_global), the gradient of μ/2·‖w − w_global‖²;
 *   - `gradientCorrection` (SCAFFOLD's c − c_i, named like the weights) is added as it is;
 *   - `logitAdjustment` (FedLC, FedRS, masked softmax) reshapes the logits inside the loss (softmax-loss.ts).
 * Reported loss/accuracy are the plain cross-entropy and accuracy over the last epoch (objective terms and logit
 * adjustments left out, so numbers compare across strategies). `samples` is the shard size, the FedAvg weight; `samplesPerSecond` counts
 * every epoch. The optimizer (and its momentum or Adam moments) starts fresh on every call. Throws
 * TrainingDivergedError rather than return weights once the loss is no longer finite. Calls in one process run
 * one at a time.
 */
export async function trainLocal(args: TrainLocalArgs): Promise<TrainResult> {
  const spec = toModelSpec(args.model, modelInputOf(args.shard));
  checkDataset(args.shard, 'training shard', spec);
  checkLocalConfig(args.local);
  const mu = args.objective?.proximalMu ?? 0;
  if (!(mu >= 0) || !Number.isFinite(mu)) throw new Error(`objective.proximalMu must be a finite number ≥ 0, got ${mu}`);
  if (args.objective?.logitAdjustment) checkLogitAdjustment(args.objective.logitAdjustment, args.shard.labels, spec.input.classes);
  await initBackend();
  return runExclusive(() => train(args, spec, mu));
}

/** Named tensors as tfjs tensors in the order of the model's trainable variables (validated first). */
function trainableTensors(model: tf.LayersModel, weights: ModelWeights, what: string): tf.Tensor[] {
  const trainableNames = new Set(model.trainableWeights.map((weight) => weight.originalName));
  return matchWeights(model, weights, what)
    .filter(({ variable }) => trainableNames.has(variable.originalName))
    .map(({ tensor }) => tf.tensor(tensor.values, [...tensor.shape], 'float32'));
}

/** One optimizer step per call on rows `order[start..end)`; a non-finite loss must leave the weights untouched. */
interface StepRunner {
  /** `loss` is the plain cross-entropy; `objectiveLoss` what the step descended, when that differs */
  step(order: Uint32Array, start: number, end: number): { loss: number; objectiveLoss?: number; correct: number };
  weights(): ModelWeights;
  dispose(): void;
}

/** The hand-written step (fused-wasm.ts), ~1.5–2× faster, wherever the wasm backend runs; tfjs autograd elsewhere. */
function stepRunner(args: TrainLocalArgs, spec: ModelSpec, mu: number): StepRunner {
  const loop = args.loop ?? 'auto';
  const fused = fusedStepAvailable(spec);
  if (loop === 'fused' && !fused) {
    throw new Error(`the fused training loop needs the wasm backend (running: ${tf.getBackend()}) and a model it covers (${spec.key})`);
  }
  if (loop === 'fused' || (loop === 'auto' && fused)) return fusedRunner(args, spec, mu);
  return tapeRunner(args, spec, mu);
}

function fusedRunner(args: TrainLocalArgs, spec: ModelSpec, mu: number): StepRunner {
  const correction = args.objective?.gradientCorrection;
  const logitAdjustment = args.objective?.logitAdjustment;
  const options: FusedStepOptions = {
    local: args.local,
    proximalMu: mu,
    anchor: args.weights,
    ...(correction ? { correction } : {}),
    ...(logitAdjustment ? { logitAdjustment } : {}),
  };
  // Same name/shape checks (and messages) as the tape path, before anything is allocated.
  const model = cachedModel(spec);
  matchWeights(model, args.weights, 'weights');
  if (correction) matchWeights(model, correction, 'objective.gradientCorrection');
  const trainer = new FusedTrainer(spec, args.weights, options);
  return {
    step: (order, start, end) => trainer.step(args.shard, order, start, end),
    weights: () => trainer.weights(),
    dispose: () => trainer.dispose(),
  };
}

function tapeRunner(args: TrainLocalArgs, spec: ModelSpec, mu: number): StepRunner {
  const { shard, local } = args;
  const model = cachedModel(spec);
  const correction = args.objective?.gradientCorrection;
  // Check the correction before touching the model, so a bad one leaves everything as it was.
  if (correction) matchWeights(model, correction, 'objective.gradientCorrection');
  writeModelWeights(model, args.weights);

  const trainable = model.trainableWeights.map((weight) => {
    const variable = weight.read();
    if (!(variable instanceof tf.Variable)) throw new Error(`${weight.originalName} is not a tf.Variable`);
    return variable;
  });
  const anchors = mu > 0 ? trainableTensors(model, args.weights, 'weights') : [];
  const corrections = correction ? trainableTensors(model, correction, 'objective.gradientCorrection') : [];
  const { optimizer, dispose: disposeOptimizer } = createOptimizer(local);
  const batches = new BatchMaker(shard, Math.min(local.batchSize, shard.count));
  const adjustment = args.objective?.logitAdjustment && logitAdjustmentTensors(args.objective.logitAdjustment);

  const step = (order: Uint32Array, start: number, end: number) => {
    const { xs, ys, labels } = batches.make(order, start, end);
    // Set inside the loss function; tf.keep lets them outlive the gradient tape's tidy.
    const kept: { predictions?: tf.Tensor; logits?: tf.Tensor2D } = {};
    let computed: { value: tf.Scalar; grads: tf.NamedTensorMap } | undefined;
    try {
      computed = optimizer.computeGradients(() => {
        const logits = model.apply(xs, { training: true }) as tf.Tensor2D;
        kept.predictions = tf.keep(tf.argMax(logits, 1));
        if (!adjustment) return tf.losses.softmaxCrossEntropy(ys, logits) as tf.Scalar;
        kept.logits = tf.keep(logits);
        return tf.losses.softmaxCrossEntropy(ys, adjustment.apply(logits)) as tf.Scalar;
      }, trainable);
      const objectiveLoss = computed.value.dataSync()[0]!;
      // Outside the tape: the reported plain cross-entropy needs no gradient.
      const loss = kept.logits ? tf.tidy(() => tf.losses.softmaxCrossEntropy(ys, kept.logits!).dataSync()[0]!) : objectiveLoss;
      if (!Number.isFinite(loss) || !Number.isFinite(objectiveLoss)) return { loss, objectiveLoss, correct: 0 };
      const { grads } = computed;
      tf.tidy(() => {
        const adjusted: tf.NamedTensorMap = {};
        trainable.forEach((variable, i) => {
          let gradient = grads[variable.name];
          if (!gradient) throw new Error(`no gradient for ${variable.name}`);
          if (mu > 0) gradient = tf.add(gradient, tf.mul(tf.sub(variable, anchors[i]!), mu));
          if (correction) gradient = tf.add(gradient, corrections[i]!);
          adjusted[variable.name] = gradient;
        });
        optimizer.applyGradients(adjusted);
      });
      const predicted = kept.predictions?.dataSync() ?? new Int32Array(0);
      let correct = 0;
      for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
      return { loss, objectiveLoss, correct };
    } finally {
      tf.dispose([xs, ys]);
      kept.predictions?.dispose();
      kept.logits?.dispose();
      if (computed) tf.dispose([computed.value, ...Object.values(computed.grads)]);
    }
  };
  return {
    step,
    weights: () => readModelWeights(model),
    dispose: () => {
      disposeOptimizer();
      tf.dispose([...anchors, ...corrections]);
      adjustment?.dispose();
    },
  };
}

/** Lower than any logit a model produces, yet finite: exp of it is 0 and 0 · it is 0 in the loss, unlike −Infinity. */
const EXCLUDED_LOGIT = -1e9;

/** The tape loop's form of a LogitAdjustment: scale·z − shift, excluded classes pushed to EXCLUDED_LOGIT. */
function logitAdjustmentTensors(adjustment: LogitAdjustment): { apply(logits: tf.Tensor2D): tf.Tensor2D; dispose(): void } {
  const scale = tf.tensor2d([...adjustment.scale], [1, adjustment.scale.length]);
  // An excluded class gets scale 0 and shift −EXCLUDED_LOGIT: its adjusted logit is exactly EXCLUDED_LOGIT, whatever
  // the model says, and passes no gradient back.
  const shift = tf.tensor2d(
    adjustment.shift.map((value, c) => (adjustment.include[c] ? value : -EXCLUDED_LOGIT)),
    [1, adjustment.shift.length],
  );
  const kept = tf.tensor2d(adjustment.include.map((included) => (included ? 1 : 0)), [1, adjustment.include.length]);
  const effectiveScale = tf.mul(scale, kept);
  tf.dispose([scale, kept]);
  return {
    apply: (logits) => tf.sub(tf.mul(logits, effectiveScale), shift),
    dispose: () => tf.dispose([effectiveScale, shift]),
  };
}

async function train(args: TrainLocalArgs, spec: ModelSpec, mu: number): Promise<TrainResult> {
  const started = performance.now();
  const { shard, local } = args;
  const rng = xoroshiro128plus(args.seed);
  const runner = stepRunner(args, spec, mu);
  let lastYield = performance.now();
  let epochLoss = 0;
  let epochCorrect = 0;
  let weights: ModelWeights;

  try {
    for (let epoch = 0; epoch < local.epochs; epoch++) {
      const order = shuffledIndices(shard.count, rng);
      epochLoss = 0;
      epochCorrect = 0;
      for (let start = 0; start < shard.count; start += local.batchSize) {
        const end = Math.min(start + local.batchSize, shard.count);
        const { loss, objectiveLoss = loss, correct } = runner.step(order, start, end);
        if (!Number.isFinite(loss) || !Number.isFinite(objectiveLoss)) {
          throw new TrainingDivergedError(
            `training diverged: the loss became ${Number.isFinite(loss) ? objectiveLoss : loss} in epoch ${epoch + 1}, batch ${start / local.batchSize + 1} ` +
              `(learning rate ${local.learningRate} is probably too high for ${local.optimizer})`,
          );
        }
        epochLoss += loss * (end - start);
        epochCorrect += correct;
        if (performance.now() - lastYield > YIELD_EVERY_MS) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          lastYield = performance.now();
        }
      }
    }
    weights = runner.weights();
  } finally {
    runner.dispose();
  }

  const durationMs = performance.now() - started;
  return {
    weights,
    samples: shard.count,
    loss: epochLoss / shard.count,
    accuracy: epochCorrect / shard.count,
    durationMs,
    samplesPerSecond: (shard.count * local.epochs) / (durationMs / 1000),
  };
}
