import type { RandomBytes } from './crypto.js';

/**
 * Float updates become integers mod 2³² before masking, and the unmasked sum becomes floats again.
 *
 *   clip:      x ↦ clamp(x, −c, c)                                  c = clippingRange
 *   weight:    v = ŵ · clip(x),  ŵ = round(w · L) / L ∈ [0, 1]       w = samples / maxWeight, L = 2^bits − 1
 *   quantize:  q = round((v + c) · L / 2c) ∈ [0, L]                  stochastic (unbiased) or nearest rounding
 *   append:    the word round(w · L) = ŵ · L, summed under the same masks as the values
 *   sum:       Σq over n clients is at most n·L < n·2^bits ≤ 2³² − 1 when n·2^bits < 2³²: it never wraps
 *   decode:    Σv = Σq · 2c / L − n·c,  Σŵ = Σ(ŵ·L) / L,  weighted mean = Σv / Σŵ
 *
 * Sample weighting, as Flower's SecAgg+ does it but without its fixed `max_weight` setting: each client scales its
 * update by w = samples / maxWeight, where maxWeight is the largest sample count any client of the round has (the
 * server knows the partition at setup), so no client's weight is capped and every scaled value stays in [−c, c].
 * The weight itself is the last word of the masked vector: the server learns only Σ samples, never one client's.
 * Clients scale by the quantized ŵ, so the weights in the numerator and the denominator are the same numbers.
 */

export type Rounding = 'stochastic' | 'nearest';

export interface QuantizationParameters {
  /** c: every coordinate is clipped to [−c, c] */
  readonly clippingRange: number;
  /** values are quantized to 0 … 2^bits − 1 */
  readonly bits: number;
  readonly rounding: Rounding;
}

export const MODULUS_BITS = 32;

export class QuantizationError extends Error {
  override name = 'QuantizationError';
}

/** The largest quantizationBits for which the sum of `clients` values cannot wrap mod 2³²: n · 2^bits < 2³². */
export function maxQuantizationBits(clients: number): number {
  return MODULUS_BITS - 1 - Math.floor(Math.log2(clients));
}

/** Why these parameters cannot work for a round of `clients` (a sentence naming the field), or undefined. */
export function quantizationProblem(params: QuantizationParameters, clients: number): string | undefined {
  if (!(Number.isFinite(params.clippingRange) && params.clippingRange > 0)) {
    return `clippingRange must be a positive number (got ${params.clippingRange})`;
  }
  if (!Number.isSafeInteger(clients) || clients < 1) return `the round needs at least one client (got ${clients})`;
  const maxBits = maxQuantizationBits(clients);
  if (!Number.isSafeInteger(params.bits) || params.bits < 1 || params.bits > maxBits) {
    return (
      `quantizationBits must be an integer from 1 to ${maxBits} for ${clients} clients per round: clients × 2^bits must stay ` +
      `below 2^32 so that the masked sum cannot wrap (got ${params.bits})`
    );
  }
  return undefined;
}

export const quantizationLevels = (bits: number): number => 2 ** bits - 1;

/** ŵ · L: the client's weight as the integer it adds to the last word. */
export function quantizedWeight(sampleCount: number, maxWeight: number, bits: number): number {
  if (!Number.isSafeInteger(maxWeight) || maxWeight < 1) throw new QuantizationError(`maxWeight must be a positive integer (got ${maxWeight})`);
  if (!Number.isSafeInteger(sampleCount) || sampleCount < 0 || sampleCount > maxWeight) {
    throw new QuantizationError(`sampleCount must be an integer from 0 to the round's maxWeight, ${maxWeight} (got ${sampleCount})`);
  }
  return Math.round((sampleCount / maxWeight) * quantizationLevels(bits));
}

/**
 * The client's quantized, weighted input: `values.length + 1` words, the last one its weight. Stochastic rounding
 * reads 4 bytes of `random` per value (so a seeded stream gives the same words every time); nearest reads none.
 */
export function quantizeUpdate(
  values: Float32Array,
  sampleCount: number,
  maxWeight: number,
  params: QuantizationParameters,
  random: RandomBytes,
): Uint32Array {
  const levels = quantizationLevels(params.bits);
  const c = params.clippingRange;
  const weightWord = quantizedWeight(sampleCount, maxWeight, params.bits);
  const weight = weightWord / levels;
  const scale = levels / (2 * c);
  const out = new Uint32Array(values.length + 1);
  const draws = params.rounding === 'stochastic' ? random(4 * values.length) : undefined;
  const aligned = draws === undefined || draws.byteOffset % 4 === 0 ? draws : draws.slice();
  const uniforms = aligned === undefined ? undefined : new Uint32Array(aligned.buffer, aligned.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (!Number.isFinite(x)) throw new QuantizationError(`the update has a non-finite value (${x}) at coordinate ${i}`);
    const scaled = (weight * Math.min(c, Math.max(-c, x)) + c) * scale;
    let q: number;
    if (uniforms === undefined) {
      q = Math.round(scaled);
    } else {
      // Round up with probability equal to the fraction: E[q] = scaled, so the sum is unbiased.
      const floor = Math.floor(scaled);
      q = floor + (uniforms[i]! / 2 ** 32 < scaled - floor ? 1 : 0);
    }
    out[i] = Math.min(levels, Math.max(0, q));
  }
  out[values.length] = weightWord;
  return out;
}

export interface DequantizedSum {
  /** Σ ŵ_i · clip(x_i), per coordinate */
  readonly weightedSum: Float64Array;
  /** Σ ŵ_i: the summed weights (each in [0, 1]) */
  readonly totalWeight: number;
  /** Σ ŵ_i · maxWeight: the contributors' samples, as the quantized weights count them */
  readonly samples: number;
  /** the sample-weighted mean Σ ŵ_i · clip(x_i) / Σ ŵ_i, i.e. FedAvg of the clipped updates */
  readonly mean: Float32Array;
}

/** Floats from the unmasked sum of `contributors` quantized inputs (the layout quantizeUpdate writes). */
export function dequantizeSum(sum: Uint32Array, contributors: number, maxWeight: number, params: QuantizationParameters): DequantizedSum {
  if (sum.length < 1) throw new QuantizationError('the sum has no weight word');
  const levels = quantizationLevels(params.bits);
  const c = params.clippingRange;
  const length = sum.length - 1;
  const weightedSum = new Float64Array(length);
  for (let i = 0; i < length; i++) weightedSum[i] = (sum[i]! * 2 * c) / levels - contributors * c;
  const totalWeight = sum[length]! / levels;
  if (totalWeight === 0) throw new QuantizationError('the contributors\' weights sum to 0 (no samples): there is no weighted mean');
  const mean = new Float32Array(length);
  for (let i = 0; i < length; i++) mean[i] = weightedSum[i]! / totalWeight;
  return { weightedSum, totalWeight, samples: totalWeight * maxWeight, mean };
}

/**
 * The most a decoded Σv can be off per coordinate with `contributors` inputs: one quantization step 2c/L per client
 * with stochastic rounding (|error| < 1 step), half a step with nearest rounding.
 */
export function sumErrorBound(params: QuantizationParameters, contributors: number): number {
  const step = (2 * params.clippingRange) / quantizationLevels(params.bits);
  return contributors * (params.rounding === 'stochastic' ? step : step / 2);
}
