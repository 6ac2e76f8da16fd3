import { MODEL_NAMES, type ModelName } from '../config/schema.js';
import { BUILTIN_DATASET_NAMES, BUILTIN_DATASETS, type BuiltinDatasetName } from '../data/registry.js';
import { formatShape, NUM_CLASSES, type SampleShape } from '../data/types.js';

/**
 * The model architectures as plain data: layers, weight names and shapes, parameter counts, and which inputs each
 * fits. No tfjs here: shared/engine builds and trains them. A model takes its input shape and class count from the
 * dataset, images scaled to [0, 1] (and standardised per channel where the dataset says so), and outputs one logit per
 * class (no softmax).
 */

export interface ModelInput {
  readonly shape: SampleShape;
  readonly classes: number;
}

/** MNIST's and Fashion-MNIST's: 28×28 grey images, 10 classes. The default wherever no dataset is named. */
export const MNIST_INPUT: ModelInput = { shape: [28, 28, 1], classes: NUM_CLASSES };

export type LayerSpec =
  /** 'same' padding, stride 1, relu */
  | { readonly kind: 'conv'; readonly name: string; readonly filters: number; readonly kernelSize: number }
  /** 2×2 window, stride 2 */
  | { readonly kind: 'maxPool'; readonly name: string }
  | { readonly kind: 'flatten'; readonly name: string }
  | { readonly kind: 'dense'; readonly name: string; readonly units: number; readonly activation: 'relu' | 'linear' };

export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
}

interface Architecture {
  /** The one sample shape it is defined for; absent: any image at least minSide on each side, its layers follow. */
  readonly shape?: SampleShape;
  readonly minSide: number;
  readonly summary: string;
  /** every layer but the logits, whose units are the dataset's class count */
  readonly body: readonly LayerSpec[];
}

/** The output layer: named like this in every model, so "logits" also names it for personalization. */
const logits = (classes: number): LayerSpec => ({ kind: 'dense', name: 'logits', units: classes, activation: 'linear' });

/**
 * Layer names are fixed (not tfjs's global counters) so weight names such as "conv1/kernel" are the same in
 * every process and every build: they are the keys that updates are checked against.
 */
const ARCHITECTURES: Record<ModelName, Architecture> = {
  /**
   * McMahan et al. 2017 (FedAvg) MNIST CNN: 1,663,370 parameters on MNIST.
   * conv1 5×5×1→32 (832) · pool · conv2 5×5×32→64 (51,264) · pool · dense1 3136→512 (1,606,144) · logits 512→10 (5,130)
   */
  'cnn-mcmahan': {
    shape: [28, 28, 1],
    minSide: 28,
    summary: "McMahan et al.'s MNIST CNN",
    body: [
      { kind: 'conv', name: 'conv1', filters: 32, kernelSize: 5 },
      { kind: 'maxPool', name: 'pool1' },
      { kind: 'conv', name: 'conv2', filters: 64, kernelSize: 5 },
      { kind: 'maxPool', name: 'pool2' },
      { kind: 'flatten', name: 'flatten' },
      { kind: 'dense', name: 'dense1', units: 512, activation: 'relu' },
    ],
  },
  /**
   * A small CNN, ~8× cheaper to train than cnn-mcmahan: 206,922 parameters on MNIST. Follows its input's size.
   * conv1 3×3×1→16 (160) · pool · conv2 3×3×16→32 (4,640) · pool · dense1 1568→128 (200,832) · logits 128→10 (1,290)
   */
  'cnn-small': {
    minSide: 4,
    summary: 'a small CNN for any image size',
    body: [
      { kind: 'conv', name: 'conv1', filters: 16, kernelSize: 3 },
      { kind: 'maxPool', name: 'pool1' },
      { kind: 'conv', name: 'conv2', filters: 32, kernelSize: 3 },
      { kind: 'maxPool', name: 'pool2' },
      { kind: 'flatten', name: 'flatten' },
      { kind: 'dense', name: 'dense1', units: 128, activation: 'relu' },
    ],
  },
  /**
   * A tiny CNN for differential privacy, where the noise's norm grows as √(parameters) while a clipped update's norm
   * does not: 10,330 parameters on MNIST, 20× fewer than cnn-small. Follows its input's size.
   * conv1 3×3×1→16 (160) · pool · conv2 3×3×16→16 (2,320) · pool · logits 784→10 (7,850). 16 filters in conv1: the
   * fused step's first-layer kernel works in blocks of 16.
   */
  'cnn-tiny': {
    minSide: 4,
    summary: 'a tiny CNN (10 k parameters on MNIST) for differentially private runs, any image size',
    body: [
      { kind: 'conv', name: 'conv1', filters: 16, kernelSize: 3 },
      { kind: 'maxPool', name: 'pool1' },
      { kind: 'conv', name: 'conv2', filters: 16, kernelSize: 3 },
      { kind: 'maxPool', name: 'pool2' },
      { kind: 'flatten', name: 'flatten' },
    ],
  },
  /**
   * McMahan et al. 2017 "2NN": 199,210 parameters on MNIST. Follows its input's size.
   * dense1 784→200 (157,000) · dense2 200→200 (40,200) · logits 200→10 (2,010)
   */
  mlp: {
    minSide: 1,
    summary: "McMahan et al.'s 2NN (two hidden layers of 200) for any image size",
    body: [
      { kind: 'flatten', name: 'flatten' },
      { kind: 'dense', name: 'dense1', units: 200, activation: 'relu' },
      { kind: 'dense', name: 'dense2', units: 200, activation: 'relu' },
    ],
  },
  /**
   * McMahan et al. 2017's CIFAR-10 CNN (after TensorFlow's CIFAR-10 tutorial): 1,756,426 parameters on CIFAR-10.
   * conv1 5×5×3→64 (4,864) · pool · conv2 5×5×64→64 (102,464) · pool · dense1 4096→384 (1,573,248) ·
   * dense2 384→192 (73,920) · logits 192→10 (1,930). The tutorial's local response normalisation, overlapping 3×3
   * pools and 24×24 crops are left out: 2×2 pools on the whole 32×32 image, as in our other CNNs.
   */
  'cnn-cifar': {
    shape: [32, 32, 3],
    minSide: 32,
    summary: "McMahan et al.'s CIFAR-10 CNN",
    body: [
      { kind: 'conv', name: 'conv1', filters: 64, kernelSize: 5 },
      { kind: 'maxPool', name: 'pool1' },
      { kind: 'conv', name: 'conv2', filters: 64, kernelSize: 5 },
      { kind: 'maxPool', name: 'pool2' },
      { kind: 'flatten', name: 'flatten' },
      { kind: 'dense', name: 'dense1', units: 384, activation: 'relu' },
      { kind: 'dense', name: 'dense2', units: 192, activation: 'relu' },
    ],
  },
};

/** A model bound to its input: everything the engine needs to build, train or check weights for it. */
export interface ModelSpec {
  readonly name: ModelName;
  readonly input: ModelInput;
  readonly layers: readonly LayerSpec[];
  /** in `model.weights` order */
  readonly weights: readonly WeightSpec[];
  readonly parameters: number;
  /** one string per distinct spec, e.g. "cnn-small@28×28×1:10": for caches */
  readonly key: string;
}

/** A model and an input it does not fit: images of the wrong size, or no classes. */
export class ModelInputError extends Error {
  override name = 'ModelInputError';
}

function architectureOf(name: ModelName): Architecture {
  const found = ARCHITECTURES[name];
  if (!found) throw new Error(`unknown model '${String(name)}': expected one of ${Object.keys(ARCHITECTURES).join(', ')}`);
  return found;
}

/** What the model takes, in words: "28×28×1 images" or "images of any size (at least 4×4)". */
export function acceptedInput(name: ModelName): string {
  const { shape, minSide } = architectureOf(name);
  return shape ? `${formatShape(shape)} images` : `images of any size${minSide > 1 ? ` (at least ${minSide}×${minSide})` : ''}`;
}

/** Why `name` cannot take `input`, or undefined when it can. */
export function modelInputProblem(name: ModelName, input: ModelInput): string | undefined {
  const architecture = architectureOf(name);
  if (!Number.isInteger(input.classes) || input.classes < 2) return `${name} needs at least 2 classes (got ${input.classes})`;
  if (!input.shape.every((d) => Number.isInteger(d) && d >= 1)) return `${formatShape(input.shape)} is not an image shape`;
  if (fits(architecture, input.shape)) return undefined;
  const fitting = datasetsFitting(name);
  const others = MODEL_NAMES.filter((other) => fits(architectureOf(other), input.shape));
  return (
    `${name} takes ${acceptedInput(name)}${fitting.length > 0 ? ` (${fitting.join(', ')})` : ''}, not ${formatShape(input.shape)}` +
    (others.length > 0 ? `: for ${formatShape(input.shape)} images choose ${others.join(' or ')}` : '')
  );
}

function fits({ shape, minSide }: Architecture, input: SampleShape): boolean {
  if (shape) return formatShape(shape) === formatShape(input);
  return input[0] >= minSide && input[1] >= minSide;
}

/** The built-in datasets whose images the model takes. */
export function datasetsFitting(name: ModelName): BuiltinDatasetName[] {
  const architecture = architectureOf(name);
  return BUILTIN_DATASET_NAMES.filter((dataset) => fits(architecture, BUILTIN_DATASETS[dataset].shape));
}

export function modelSummary(name: ModelName): string {
  return architectureOf(name).summary;
}

/** The layers for `classes` outputs. */
export function architecture(name: ModelName, classes = NUM_CLASSES): readonly LayerSpec[] {
  return [...architectureOf(name).body, logits(classes)];
}

/** The input a model is described with when none is given: its own fixed shape, else MNIST's; 10 classes. */
export function defaultInput(name: ModelName): ModelInput {
  const { shape } = architectureOf(name);
  return shape ? { shape, classes: NUM_CLASSES } : MNIST_INPUT;
}

/** The model for `input` (default: defaultInput); throws ModelInputError when it does not fit. */
export function modelSpec(name: ModelName, input: ModelInput = defaultInput(name)): ModelSpec {
  const problem = modelInputProblem(name, input);
  if (problem) throw new ModelInputError(problem);
  const layers = architecture(name, input.classes);
  const weights = specsFor(layers, input.shape);
  return {
    name,
    input,
    layers,
    weights,
    parameters: weights.reduce((total, spec) => total + spec.shape.reduce((a, b) => a * b, 1), 0),
    key: `${name}@${formatShape(input.shape)}:${input.classes}`,
  };
}

/** `modelSpec` of a name, or the spec itself: the engine takes either. */
export function toModelSpec(model: ModelName | ModelSpec, input?: ModelInput): ModelSpec {
  return typeof model === 'string' ? modelSpec(model, input) : model;
}

/** Names and shapes of the model's weights, in `model.weights` order, worked out without building it. */
export function weightSpecs(name: ModelName, input: ModelInput = defaultInput(name)): readonly WeightSpec[] {
  return modelSpec(name, input).weights;
}

export function parameterCount(name: ModelName, input: ModelInput = defaultInput(name)): number {
  return modelSpec(name, input).parameters;
}

function specsFor(layers: readonly LayerSpec[], input: SampleShape): WeightSpec[] {
  const specs: WeightSpec[] = [];
  let shape: number[] = [...input];
  for (const layer of layers) {
    switch (layer.kind) {
      case 'conv': {
        const [height = 0, width = 0, channels = 0] = shape;
        specs.push({ name: `${layer.name}/kernel`, shape: [layer.kernelSize, layer.kernelSize, channels, layer.filters] });
        specs.push({ name: `${layer.name}/bias`, shape: [layer.filters] });
        shape = [height, width, layer.filters];
        break;
      }
      case 'maxPool': {
        const [height = 0, width = 0, channels = 0] = shape;
        shape = [Math.floor(height / 2), Math.floor(width / 2), channels];
        break;
      }
      case 'flatten':
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case 'dense': {
        const [inputs = 0] = shape;
        specs.push({ name: `${layer.name}/kernel`, shape: [inputs, layer.units] });
        specs.push({ name: `${layer.name}/bias`, shape: [layer.units] });
        shape = [layer.units];
        break;
      }
    }
  }
  return specs;
}
