/**
 * IEEE 754 binary16 conversion. Written out rather than taken from @petamoriken/float16 (which the tests use as the
 * reference): its setFloat16 measured about 10 µs a value here, 17 s for cnn-mcmahan's 1.7 M values.
 */

export const FLOAT16_MAX = 65504;

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/**
 * The binary16 bits nearest to `value` (ties to even). Finite values beyond ±65504 saturate to ±65504 instead of
 * becoming ±Infinity, which the decoder would reject; NaN and ±Infinity map to their binary16 patterns.
 */
export function toFloat16Bits(value: number): number {
  scratch[0] = value;
  const bits = scratchBits[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 31) return sign | 0x7bff;
  if (halfExponent <= 0) {
    // Subnormal in binary16 (float32 subnormals are far below its smallest value and end up 0).
    if (halfExponent < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    let half = full >>> shift;
    const remainder = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent.
  if (remainder > 0x1000 || (remainder === 0x1000 && (half & 1) === 1)) half++;
  return sign | Math.min(half, 0x7bff);
}

let table: Float32Array | undefined;

/** Every binary16 pattern's value, built once (256 KiB): decoding is then one lookup a value. */
export function float16Table(): Float32Array {
  if (table !== undefined) return table;
  table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const exponent = (bits >>> 10) & 0x1f;
    const mantissa = bits & 0x3ff;
    let magnitude: number;
    if (exponent === 0) magnitude = mantissa * 2 ** -24;
    else if (exponent === 31) magnitude = mantissa === 0 ? Infinity : NaN;
    else magnitude = (1 + mantissa / 1024) * 2 ** (exponent - 15);
    table[bits] = bits & 0x8000 ? -magnitude : magnitude;
  }
  return table;
}

export function encodeFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toFloat16Bits(values[i]!);
  return out;
}

/** The values of binary16 `bits`, written into `out` from `offset`. */
export function decodeFloat16Into(bits: Uint16Array, out: Float32Array, offset: number): void {
  const lookup = float16Table();
  for (let i = 0; i < bits.length; i++) out[offset + i] = lookup[bits[i]!]!;
}
