import * as tf from '@tensorflow/tfjs';
import type { ModelName } from '../../shared/config/schema.js';
import { buildModel } from '../../shared/engine/build-model.js';
import { writeModelWeights } from '../../shared/engine/weights-bridge.js';
import { toModelSpec, type ModelSpec } from '../../shared/models/index.js';
import type { ModelWeights } from '../../shared/weights/types.js';

/** A batch's loss from the model's logits, in tfjs ops (autograd differentiates it). */
export type LogitsLoss = (logits: tf.Tensor2D, labels: Uint8Array) => tf.Scalar;

/**
 * Loss and gradients of one batch by tfjs autograd on the cpu backend: the independent reference the fused step and
 * our kernels are checked against. The loss defaults to mean softmax cross-entropy over the model's classes. Leaves
 * the wasm backend selected again.
 */
export async function cpuGradients(
  model: ModelName | ModelSpec,
  weights: ModelWeights,
  images: Float32Array,
  labels: Uint8Array,
  loss?: LogitsLoss,
): Promise<{ loss: number; gradients: ModelWeights }> {
  const spec = toModelSpec(model);
  const lossOf: LogitsLoss = loss ?? ((logits, batchLabels) =>
    tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(Array.from(batchLabels), 'int32'), spec.input.classes), logits) as tf.Scalar);
  await tf.setBackend('cpu');
  const built = buildModel(spec, 0);
  try {
    writeModelWeights(built, weights);
    const variables = built.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(() => {
      const logits = built.apply(tf.tensor4d(images, [labels.length, ...spec.input.shape]), { training: true }) as tf.Tensor2D;
      return lossOf(logits, labels);
    }, variables);
    const gradients: ModelWeights = built.trainableWeights.map((w, i) => ({
      name: w.originalName,
      shape: grads[variables[i]!.name]!.shape,
      values: new Float32Array(grads[variables[i]!.name]!.dataSync()),
    }));
    const value0 = value.dataSync()[0]!;
    tf.dispose([value, ...Object.values(grads)]);
    return { loss: value0, gradients };
  } finally {
    built.dispose();
    await tf.setBackend('wasm');
  }
}
