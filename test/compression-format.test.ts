import { describe, expect, it } from 'vitest';
import {
  compress,
  decodeCompressedUpdate,
  decodeUpdate,
  decodeUpdateWeights,
  decompress,
  encodeCompressedUpdate,
  weightsDelta,
  type LossyCompression,
} from '../shared/compression/index.js';
import { parseCompressionConfig, type CompressionConfigInput } from '../shared/config/compression.js';
import { parameterCount, weightSpecs } from '../shared/models/index.js';
import { createRandom } from '../shared/random.js';
import { decodeModelWeights, encodeModelWeights, WeightsError } from '../shared/weights/codec.js';
import type { ModelWeights } from '../shared/weights/types.js';

const lossy = (input: CompressionConfigInput) => parseCompressionConfig(input) as LossyCompression;
const KINDS: CompressionConfigInput[] = [
  { kind: 'float16' },
  { kind: 'int8' },
  { kind: 'int8', rounding: 'nearest' },
  { kind: 'topk', ratio: 0.1 },
  { kind: 'topk', ratio: 0.1, scope: 'tensor' },
];

function model(seed: number, layout: readonly { name: string; shape: readonly number[] }[], scale = 1): ModelWeights {
  const random = createRandom(seed);
  return layout.map(({ name, shape }) => ({
    name,
    shape: [...shape],
    values: Float32Array.from({ length: shape.reduce((size, d) => size * d, 1) }, () => scale * random.nextGaussian()),
  }));
}

const LAYOUT = [
  { name: 'conv/kernel', shape: [5, 5, 1, 8] },
  { name: 'conv/bias', shape: [8] },
  { name: 'dense/kernel', shape: [300, 250] }, // 75,000 values: 3-byte top-k indices
  { name: 'scalar', shape: [] },
  { name: 'empty', shape: [0, 3] },
];
const global = model(1, LAYOUT);
const trained = global.map((tensor, t) => ({ ...tensor, values: tensor.values.map((value, i) => value + 0.01 * Math.sin(7 * i + t)) }));
const delta = weightsDelta(trained, global);

function encoded(input: CompressionConfigInput, seed = 3): Uint8Array {
  return encodeCompressedUpdate(compress(delta, undefined, lossy(input), seed).payload);
}

/** A well-formed FLW2 object around a hand-written header and data section. */
function withHeader(header: unknown, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataOffset = Math.ceil((8 + json.byteLength) / 4) * 4;
  const bytes = new Uint8Array(dataOffset + dataBytes);
  bytes.set(new TextEncoder().encode('FLW2'));
  new DataView(bytes.buffer).setUint32(4, json.byteLength, true);
  bytes.set(json, 8);
  return bytes;
}

describe('compressed update format (FLW2)', () => {
  it('round-trips every encoding to exactly what the client sent, from an unaligned buffer', () => {
    for (const input of KINDS) {
      const { payload } = compress(delta, undefined, lossy(input), 3);
      const bytes = encodeCompressedUpdate(payload);
      expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('FLW2');
      expect(bytes.byteLength % 4).toBe(0);
      const unaligned = new Uint8Array(bytes.byteLength + 1).subarray(1);
      unaligned.set(bytes);
      expect(decodeCompressedUpdate(unaligned, global)).toEqual(payload);
      const decoded = decodeUpdate(unaligned, global, { compression: parseCompressionConfig(input) });
      expect(decoded.encoding).toBe(input.kind);
      expect(decoded.delta).toEqual(decompress(payload));
      expect(decoded.flat).toEqual(Float32Array.from(decompress(payload).flatMap((tensor) => Array.from(tensor.values))));
    }
  });

  it('reconstructs Δ within each encoding\'s error bound', () => {
    const error = (input: CompressionConfigInput) => {
      const { delta: sent } = decodeUpdate(encoded(input), global);
      return Math.max(...sent.flatMap((tensor, t) => Array.from(tensor.values, (value, i) => Math.abs(value - delta[t]!.values[i]!))));
    };
    const largest = Math.max(...delta.flatMap((tensor) => Array.from(tensor.values, Math.abs)));
    expect(error({ kind: 'float16' })).toBeLessThanOrEqual(largest * 2 ** -11);
    expect(error({ kind: 'int8', rounding: 'nearest' })).toBeLessThanOrEqual(largest / 127 / 2 + 1e-9);
    expect(error({ kind: 'int8' })).toBeLessThan(largest / 127 + 1e-9);
  });

  it('gives the trained weights back: exactly for FLW1, global + Δ for a compressed update', () => {
    const flw1 = encodeModelWeights(trained);
    expect(decodeUpdateWeights(flw1, global)).toEqual(decodeModelWeights(flw1, global));
    const fromFlw1 = decodeUpdate(flw1, global, { compression: { kind: 'none' } });
    expect(fromFlw1.encoding).toBe('float32');
    fromFlw1.delta.forEach((tensor, t) => expect(tensor.values).toEqual(delta[t]!.values));
    const weights = decodeUpdateWeights(encoded({ kind: 'float16' }), global);
    weights.forEach((tensor, t) => tensor.values.forEach((value, i) => expect(value).toBeCloseTo(trained[t]!.values[i]!, 4)));
  });

  it('is refused by the FLW1 decoder with a pointer to decodeUpdate', () => {
    expect(() => decodeModelWeights(encoded({ kind: 'int8' }))).toThrow(/this is a compressed update \(FLW2\).*decodeUpdate\(bytes, global\)/);
  });
});

describe('decoder refuses malformed compressed updates', () => {
  const int8Bytes = encoded({ kind: 'int8' });
  const header = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true)))) as Record<string, unknown>;
  const rewritten = (bytes: Uint8Array, change: (header: Record<string, unknown>) => void, extraBytes = 0) => {
    const edited = header(bytes);
    change(edited);
    const dataStart = Math.ceil((8 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true)) / 4) * 4;
    const data = bytes.subarray(dataStart);
    const object = withHeader(edited, data.byteLength + extraBytes);
    object.set(data, object.byteLength - data.byteLength - extraBytes);
    return object;
  };
  const refuse = (bytes: Uint8Array, message: RegExp) => {
    expect(() => decodeUpdate(bytes, global)).toThrow(WeightsError);
    expect(() => decodeUpdate(bytes, global)).toThrow(message);
  };

  it('whose header claims more values than its bytes hold, or fewer', () => {
    const grown = rewritten(int8Bytes, (edited) => {
      (edited.tensors as { shape: number[] }[])[2]!.shape = [300, 251];
    });
    expect(() => decodeCompressedUpdate(grown)).toThrow(/truncated: the header's 5 int8 tensors \(75,?509 values\) need \d+ bytes, got \d+/);
    const huge = rewritten(int8Bytes, (edited) => {
      (edited.tensors as { shape: number[] }[])[2]!.shape = [2 ** 40];
    });
    expect(() => decodeCompressedUpdate(huge)).toThrow(/truncated/);
    refuse(int8Bytes.subarray(0, int8Bytes.byteLength - 4), /truncated/);
    const padded = new Uint8Array(int8Bytes.byteLength + 4);
    padded.set(int8Bytes);
    refuse(padded, /trailing bytes/);
    const lyingHeaderLength = int8Bytes.slice();
    new DataView(lyingHeaderLength.buffer).setUint32(4, 0xffff_fff0, true);
    refuse(lyingHeaderLength, /truncated: the header claims 4294967280 bytes/);
    refuse(int8Bytes.subarray(0, 6), /too short/);
  });

  it('with an unknown encoding or content, a bad ratio, or a broken header', () => {
    refuse(rewritten(int8Bytes, (edited) => (edited.encoding = 'int4')), /unknown encoding "int4"; this version of flambda reads "float16", "int8", "topk"/);
    refuse(rewritten(int8Bytes, (edited) => (edited.content = 'weights')), /corrupt: header\.content/);
    refuse(rewritten(int8Bytes, (edited) => (edited.ratio = 0.5)), /a int8 update has no ratio/);
    refuse(rewritten(int8Bytes, (edited) => (edited.extra = 1)), /corrupt: header/);
    const topk = encoded({ kind: 'topk', ratio: 0.1 });
    for (const ratio of [0, -0.1, 1.5, undefined]) {
      refuse(rewritten(topk, (edited) => (edited.ratio = ratio)), /topk ratio must be greater than 0 and at most 1/);
    }
    // A different valid ratio changes every k, so the sizes no longer add up.
    refuse(rewritten(topk, (edited) => (edited.ratio = 0.2)), /truncated/);
    const broken = int8Bytes.slice();
    broken[8] = 0x7b + 1;
    refuse(broken, /header is not valid UTF-8 JSON/);
  });

  it('with values it cannot use: non-finite float16, bad int8 scale or level, top-k indices out of order or range', () => {
    const float16 = encoded({ kind: 'float16' });
    const dataStart = (bytes: Uint8Array) => Math.ceil((8 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true)) / 4) * 4;
    const infinite = float16.slice();
    new DataView(infinite.buffer).setUint16(dataStart(float16) + 2 * 3, 0x7c00, true);
    refuse(infinite, /tensor "conv\/kernel" value 3 is infinite/);

    const nanScale = int8Bytes.slice();
    new DataView(nanScale.buffer).setFloat32(dataStart(int8Bytes), Number.NaN, true);
    refuse(nanScale, /tensor "conv\/kernel" has scale NaN/);
    const negativeScale = int8Bytes.slice();
    new DataView(negativeScale.buffer).setFloat32(dataStart(int8Bytes), -1, true);
    refuse(negativeScale, /has scale -1/);
    const level = int8Bytes.slice();
    level[dataStart(int8Bytes) + 4 + 10] = 0x80;
    refuse(level, /tensor "conv\/kernel" value 10 is level -128/);

    const topk = encoded({ kind: 'topk', ratio: 0.1, scope: 'tensor' });
    const k = 20; // ⌈0.1 × 200⌉ for conv/kernel
    const firstIndex = dataStart(topk) + 4 * k;
    const view = () => {
      const copy = topk.slice();
      return { copy, data: new DataView(copy.buffer) };
    };
    const outOfOrder = view();
    outOfOrder.data.setUint16(firstIndex + 2, outOfOrder.data.getUint16(firstIndex, true), true);
    refuse(outOfOrder.copy, /tensor "conv\/kernel" index 1 is \d+; indices must increase strictly/);
    const outOfRange = view();
    outOfRange.data.setUint16(firstIndex + 2 * (k - 1), 200, true);
    refuse(outOfRange.copy, /index 19 is 200; .*below the 200 values they index/);
    const nanValue = view();
    nanValue.data.setFloat32(dataStart(topk), Number.NaN, true);
    refuse(nanValue.copy, /kept value 0 is NaN/);
  });

  it('with a model-wide top-k section it cannot use, or a scope it does not know', () => {
    const topk = encoded({ kind: 'topk', ratio: 0.1 });
    const k = 7_521; // ⌈0.1 × 75,209⌉, every tensor's values end to end
    const dataStart = Math.ceil((8 + new DataView(topk.buffer, topk.byteOffset).getUint32(4, true)) / 4) * 4;
    expect(topk.byteLength).toBe(dataStart + 4 * k + Math.ceil((3 * k) / 4) * 4);
    const lastIndex = dataStart + 4 * k + 3 * (k - 1);
    const outOfRange = topk.slice();
    outOfRange.set([0xc9, 0x25, 0x01], lastIndex); // 75,209
    refuse(outOfRange, /the model-wide top-k index 7520 is 75209; .*below the 75209 values they index/);
    const repeated = topk.slice();
    repeated.set(topk.subarray(lastIndex - 3, lastIndex), lastIndex);
    refuse(repeated, /the model-wide top-k index 7520 is \d+; indices must increase strictly/);
    refuse(rewritten(topk, (edited) => (edited.scope = 'layer')), /unknown topk scope "layer"; this version of flambda reads "model", "tensor"/);
    refuse(rewritten(int8Bytes, (edited) => (edited.scope = 'model')), /a int8 update has no scope/);
    // Read per tensor, the same bytes no longer add up.
    refuse(rewritten(topk, (edited) => delete edited.scope), /truncated|trailing bytes/);
  });

  it('that do not fit the model or the experiment\'s compression', () => {
    const otherModel = model(2, LAYOUT.map((tensor, i) => (i === 1 ? { ...tensor, shape: [9] } : tensor)));
    expect(() => decodeUpdate(int8Bytes, otherModel)).toThrow(/tensor "conv\/bias" has shape \[8\] but the model's is \[9\]/);
    expect(() => decodeUpdate(int8Bytes, global, { compression: parseCompressionConfig({ kind: 'topk' }) })).toThrow(/is "int8" but the experiment's compression is "topk"/);
    expect(() => decodeUpdate(encoded({ kind: 'topk', ratio: 0.1 }), global, { compression: parseCompressionConfig({ kind: 'topk', ratio: 0.01 }) })).toThrow(
      /has topk ratio 0.1 but the experiment's is 0.01/,
    );
    expect(() => decodeUpdate(encoded({ kind: 'topk', ratio: 0.1, scope: 'tensor' }), global, { compression: parseCompressionConfig({ kind: 'topk', ratio: 0.1 }) })).toThrow(
      /has topk scope "tensor" but the experiment's is "model"/,
    );
    expect(() => decodeUpdate(int8Bytes, global, { compression: { kind: 'none' } })).toThrow(/is compressed \(FLW2\) but the experiment's compression is "none"/);
    expect(() => decodeUpdate(encodeModelWeights(trained), global, { compression: parseCompressionConfig({ kind: 'int8' }), context: 'update from client-003' })).toThrow(
      /^update from client-003: is not a compressed update \(FLW2\) but the experiment's compression is "int8"/,
    );
    expect(() => decodeUpdateWeights(encodeModelWeights(trained), global, { compression: parseCompressionConfig({ kind: 'int8' }) })).toThrow(/is not a compressed update/);
  });
});

describe('top-k over the whole model', () => {
  it('keeps the ⌈ratio × N⌉ largest |Δ| of the whole update, however they fall between tensors', () => {
    // conv/bias moves 100× more than anything else: all its values are sent and the other tensors share the rest.
    const skewed = delta.map((tensor) => ({ ...tensor, values: tensor.name === 'conv/bias' ? tensor.values.map((_, i) => (i % 2 ? 1 : -1)) : tensor.values }));
    const config = lossy({ kind: 'topk', ratio: 0.01 });
    const { payload } = compress(skewed, undefined, config, 1);
    const sent = decompress(payload);
    const all = skewed.flatMap((tensor) => Array.from(tensor.values, Math.abs));
    const kept = sent.flatMap((tensor, t) => Array.from(tensor.values, (value, i) => (value !== 0 ? Math.abs(skewed[t]!.values[i]!) : -1))).filter((value) => value >= 0);
    expect(kept).toHaveLength(Math.ceil(0.01 * all.length));
    const smallestKept = Math.min(...kept);
    const largestDropped = Math.max(...all.filter((value) => value < smallestKept));
    expect(largestDropped).toBeLessThan(smallestKept);
    expect(Array.from(sent[1]!.values).every((value, i) => value === skewed[1]!.values[i])).toBe(true);
    // Per tensor, conv/bias could send only ⌈0.01 × 8⌉ = 1 of its 8 values.
    const perTensor = decompress(compress(skewed, undefined, lossy({ kind: 'topk', ratio: 0.01, scope: 'tensor' }), 1).payload);
    expect(Array.from(perTensor[1]!.values).filter((value) => value !== 0)).toHaveLength(1);
  });

  it('writes "scope":"model" in its header, and a per-tensor object the header it always had', () => {
    const header = (bytes: Uint8Array) => new TextDecoder().decode(bytes.subarray(8, 8 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true)));
    expect(header(encoded({ kind: 'topk', ratio: 0.1 }))).toMatch(/^\{"content":"delta","encoding":"topk","ratio":0.1,"scope":"model","tensors":/);
    expect(header(encoded({ kind: 'topk', ratio: 0.1, scope: 'tensor' }))).toMatch(/^\{"content":"delta","encoding":"topk","ratio":0.1,"tensors":/);
  });
});

describe('bytes up for the real models', () => {
  for (const name of ['cnn-small', 'cnn-mcmahan'] as const) {
    it(`${name}: int8 ≤ 26 % and top-k 1 % (over the model and per tensor) ≤ 3 % of the float32 upload, headers included`, () => {
      const layout = weightSpecs(name);
      const base = model(3, layout, 0.05);
      const local = base.map((tensor) => ({ ...tensor, values: tensor.values.map((value, i) => value + 0.001 * Math.cos(i)) }));
      const float32Bytes = encodeModelWeights(local).byteLength;
      expect(float32Bytes).toBeGreaterThan(4 * parameterCount(name));
      const size = (input: CompressionConfigInput) => encodeCompressedUpdate(compress(weightsDelta(local, base), undefined, lossy(input), 1).payload).byteLength;
      expect(size({ kind: 'int8' }) / float32Bytes).toBeLessThanOrEqual(0.26);
      expect(size({ kind: 'topk', ratio: 0.01 }) / float32Bytes).toBeLessThanOrEqual(0.03);
      expect(size({ kind: 'topk', ratio: 0.01, scope: 'tensor' }) / float32Bytes).toBeLessThanOrEqual(0.03);
      expect(size({ kind: 'float16' }) / float32Bytes).toBeLessThanOrEqual(0.51);
    });
  }
});
