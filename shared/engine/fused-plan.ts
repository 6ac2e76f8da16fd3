import type { ModelName } from '../config/schema.js';
import { toModelSpec, type ModelSpec } from '../models/index.js';
import type { ModelWeights } from '../weights/types.js';
import { CONV1_FILTER_BLOCK } from './simd/index.js';

export interface ConvLayer {
  readonly kind: 'conv';
  readonly kernel: number;
  readonly bias: number;
  readonly kernelSize: number;
  readonly inChannels: number;
  readonly filters: number;
}
/** always right after a conv (see compile) */
export interface PoolLayer {
  readonly kind: 'maxPool';
}
export interface FlattenLayer {
  readonly kind: 'flatten';
}
export interface DenseLayer {
  readonly kind: 'dense';
  readonly kernel: number;
  readonly bias: number;
  readonly inputs: number;
  readonly units: number;
  readonly relu: boolean;
}
export type Layer = ConvLayer | PoolLayer | FlattenLayer | DenseLayer;

export interface LayerPlan {
  readonly layers: readonly Layer[];
  readonly specs: ModelSpec['weights'];
  /** the input, [height, width, channels] */
  readonly shape: ModelSpec['input']['shape'];
  readonly classes: number;
  /** whether the first conv's filter gradient is our SIMD kernel's, which reads the input padded (grey images only) */
  readonly padsInput: boolean;
}

/**
 * The layer plan, or undefined for an architecture the fused step does not cover: it relies on every conv
 * (always relu) being followed by a 2×2 max-pool, whose backward pass then also does the relu's and hands the
 * conv its gradient in the two layouts the conv's own backward pass wants.
 */
function compile(model: ModelSpec): LayerPlan | undefined {
  const specs = model.weights;
  const index = (name: string) => {
    const at = specs.findIndex((spec) => spec.name === name);
    if (at < 0) throw new Error(`model ${model.key} has no weight ${name}`);
    return at;
  };
  const plan = model.layers;
  const layers: Layer[] = [];
  let padsInput = false;
  for (const [i, layer] of plan.entries()) {
    switch (layer.kind) {
      case 'conv': {
        if (plan[i + 1]?.kind !== 'maxPool') return undefined;
        const kernel = index(`${layer.name}/kernel`);
        const [, , inChannels = 0] = specs[kernel]!.shape;
        // A first layer's filter gradient is our SIMD kernel's job for grey images (in blocks of 16 filters); colour
        // images take the correlation path every other conv takes.
        if (i === 0) {
          padsInput = inChannels === 1;
          if (padsInput && layer.filters % CONV1_FILTER_BLOCK !== 0) return undefined;
        }
        layers.push({ kind: 'conv', kernel, bias: index(`${layer.name}/bias`), kernelSize: layer.kernelSize, inChannels, filters: layer.filters });
        break;
      }
      case 'maxPool':
        if (plan[i - 1]?.kind !== 'conv') return undefined;
        layers.push({ kind: 'maxPool' });
        break;
      case 'flatten':
        layers.push({ kind: 'flatten' });
        break;
      case 'dense': {
        const kernel = index(`${layer.name}/kernel`);
        const [inputs = 0] = specs[kernel]!.shape;
        layers.push({ kind: 'dense', kernel, bias: index(`${layer.name}/bias`), inputs, units: layer.units, relu: layer.activation === 'relu' });
        break;
      }
    }
  }
  return { layers, specs, shape: model.input.shape, classes: model.input.classes, padsInput };
}

const compiled = new Map<string, LayerPlan | undefined>();

/** compile's plan, once per model: every trainer and every fusedStepAvailable check asks for it again. */
export function layerPlan(model: ModelName | ModelSpec): LayerPlan | undefined {
  const spec = toModelSpec(model);
  if (!compiled.has(spec.key)) compiled.set(spec.key, compile(spec));
  return compiled.get(spec.key);
}

/** `weights`' values in the plan's order, checked against it; `what` names them in the error. */
export function valuesInSpecOrder(specs: LayerPlan['specs'], weights: ModelWeights, what: string): Float32Array[] {
  const byName = new Map(weights.map((tensor) => [tensor.name, tensor]));
  return specs.map((spec) => {
    const tensor = byName.get(spec.name);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (!tensor || tensor.values.length !== size) throw new Error(`${what}: ${spec.name} is missing or has the wrong size`);
    return tensor.values;
  });
}
