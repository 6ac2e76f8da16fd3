import { createRandom } from '../random.js';

/**
 * int8 quantization with one float32 scale per tensor: s = max|x| / 127 and q = round(x / s) in [−127, 127]
 * (−128 is never used, so the range is symmetric). Stochastic rounding rounds x/s up with probability equal to
 * its fractional part, which makes q·s an unbiased estimate of x (QSGD, Alistarh et al. 2017, with one level per
 * integer); nearest rounding has error ≤ s/2 but a bias.
 */
export interface Int8Tensor {
  readonly scale: number;
  readonly quantized: Int8Array;
}

export function quantizeInt8(values: Float32Array, rounding: 'stochastic' | 'nearest', seed: number): Int8Tensor {
  let largest = 0;
  for (let i = 0; i < values.length; i++) largest = Math.max(largest, Math.abs(values[i]!));
  const scale = Math.fround(largest / 127);
  const quantized = new Int8Array(values.length);
  if (scale === 0) return { scale: 0, quantized };
  if (rounding === 'nearest') {
    for (let i = 0; i < values.length; i++) quantized[i] = clamp(Math.round(values[i]! / scale));
  } else {
    const random = createRandom(seed);
    for (let i = 0; i < values.length; i++) quantized[i] = clamp(Math.floor(values[i]! / scale + random.nextFloat()));
  }
  return { scale, quantized };
}

export function dequantizeInt8Into(tensor: Int8Tensor, out: Float32Array, offset: number): void {
  const { scale, quantized } = tensor;
  for (let i = 0; i < quantized.length; i++) out[offset + i] = quantized[i]! * scale;
}

/** x/s can exceed 127 by a rounding error of the float32 scale. */
function clamp(level: number): number {
  return level > 127 ? 127 : level < -127 ? -127 : level;
}
