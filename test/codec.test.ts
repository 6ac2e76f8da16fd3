import { beforeAll, describe, expect, it } from 'vitest';
import { head, loadMnistFromPackage } from '../shared/data/mnist.js';
import { decodeShard, encodeShard, ShardFormatError } from '../shared/data/shard-codec.js';
import type { Dataset } from '../shared/data/types.js';
import { createRandom } from '../shared/random.js';
import { decodeModelWeights, encodeModelWeights, WeightsError } from '../shared/weights/codec.js';
import type { ModelWeights } from '../shared/weights/types.js';

/** The same bytes at an odd offset inside a larger buffer, as a pooled Node Buffer or a sliced download can be. */
function atOddOffset(bytes: Uint8Array): Uint8Array {
  const backing = new Uint8Array(bytes.byteLength + 3);
  backing.set(bytes, 1);
  return backing.subarray(1, 1 + bytes.byteLength);
}

describe('shard codec', () => {
  let sample: Dataset;
  beforeAll(async () => {
    sample = head((await loadMnistFromPackage()).train, 257);
  });

  it('round-trips real MNIST rows exactly', () => {
    const decoded = decodeShard(encodeShard(sample));
    expect(decoded.count).toBe(sample.count);
    expect([decoded.rows, decoded.cols]).toEqual([28, 28]);
    expect(Buffer.from(decoded.labels).equals(Buffer.from(sample.labels))).toBe(true);
    expect(Buffer.from(decoded.images).equals(Buffer.from(sample.images))).toBe(true);
  });

  it('stores one byte per pixel and label plus a small header', () => {
    const bytes = encodeShard(sample);
    expect(bytes.byteLength - sample.count * (28 * 28 + 1)).toBeLessThanOrEqual(32);
  });

  it('round-trips an empty shard and reads from an unaligned Buffer view', () => {
    const empty: Dataset = { count: 0, rows: 28, cols: 28, channels: 1, classes: 10, images: new Uint8Array(0), labels: new Uint8Array(0) };
    expect(decodeShard(encodeShard(empty))).toEqual(empty);
    const decoded = decodeShard(Buffer.from(atOddOffset(encodeShard(sample))));
    expect(Array.from(decoded.labels)).toEqual(Array.from(sample.labels));
  });

  it('returns arrays that do not change when the input bytes are reused', () => {
    const bytes = encodeShard(sample);
    const decoded = decodeShard(bytes);
    const labelsBefore = Array.from(decoded.labels);
    const pixelsBefore = Array.from(decoded.images.subarray(0, 1_000));
    bytes.fill(7);
    expect(Array.from(decoded.labels)).toEqual(labelsBefore);
    expect(Array.from(decoded.images.subarray(0, 1_000))).toEqual(pixelsBefore);
  });

  it('rejects truncated, padded and corrupt input with a ShardFormatError that says what is wrong', () => {
    const bytes = encodeShard(sample);
    for (const length of [0, 3, 19, 20, 31, 32 + sample.count, bytes.byteLength - 1]) {
      expect(() => decodeShard(bytes.subarray(0, length)), `length ${length}`).toThrow(ShardFormatError);
    }
    expect(() => decodeShard(bytes.subarray(0, bytes.byteLength - 1))).toThrow(/truncated/);
    const padded = new Uint8Array(bytes.byteLength + 1);
    padded.set(bytes);
    expect(() => decodeShard(padded)).toThrow(/trailing bytes/);

    const wrongMagic = bytes.slice();
    wrongMagic[0] = 0x50;
    expect(() => decodeShard(wrongMagic)).toThrow(/not a shard/);
    const futureVersion = bytes.slice();
    new DataView(futureVersion.buffer).setUint32(4, 99, true);
    expect(() => decodeShard(futureVersion)).toThrow(/version 99 is not supported/);
    const hugeCount = bytes.slice();
    new DataView(hugeCount.buffer).setUint32(8, 0xffff_ffff, true);
    expect(() => decodeShard(hugeCount)).toThrow(/truncated/);
    const badLabel = bytes.slice();
    badLabel[32 + 5] = 10;
    expect(() => decodeShard(badLabel)).toThrow(/image 5 has label 10/);
  });

  it('refuses to encode an inconsistent dataset', () => {
    expect(() => encodeShard({ ...sample, count: sample.count + 1 })).toThrow(ShardFormatError);
    expect(() => encodeShard({ ...sample, images: sample.images.subarray(1) })).toThrow(/pixels/);
    expect(() => encodeShard({ ...sample, labels: Uint8Array.from(sample.labels, () => 200) })).toThrow(/label 200/);
  });
});

function randomWeights(seed: number): ModelWeights {
  const random = createRandom(seed);
  const tensor = (name: string, shape: number[]) => ({
    name,
    shape,
    values: Float32Array.from({ length: shape.reduce((size, d) => size * d, 1) }, () => random.nextGaussian()),
  });
  return [tensor('conv2d/kernel', [5, 5, 1, 8]), tensor('conv2d/bias', [8]), tensor('dense/kernel', [13, 10]), tensor('dense/bias', [10])];
}

describe('weights codec', () => {
  it('round-trips names, shapes, order and every float32 bit pattern', () => {
    const special = Float32Array.of(-0, 1.401298464324817e-45, -3.4028234663852886e38, 3.4028234663852886e38, 1 / 3, -1e-20);
    const weights: ModelWeights = [
      ...randomWeights(1),
      { name: 'scalar', shape: [], values: Float32Array.of(2.5) },
      { name: 'empty', shape: [0, 4], values: new Float32Array(0) },
      { name: 'edge/values', shape: [2, 3], values: special },
    ];
    const decoded = decodeModelWeights(encodeModelWeights(weights));
    expect(decoded.map(({ name, shape }) => ({ name, shape }))).toEqual(weights.map(({ name, shape }) => ({ name, shape })));
    decoded.forEach((tensor, i) => {
      expect(new Uint8Array(tensor.values.buffer, tensor.values.byteOffset, tensor.values.byteLength)).toEqual(
        new Uint8Array(weights[i]!.values.buffer, weights[i]!.values.byteOffset, weights[i]!.values.byteLength),
      );
    });
    expect(Object.is(decoded.at(-1)!.values[0], -0)).toBe(true);
  });

  it('writes "FLW1", a tfjs weights manifest, then 4-byte-aligned float32 data', () => {
    const weights = randomWeights(2);
    const bytes = encodeModelWeights(weights);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('FLW1');
    const manifestLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true);
    const manifest: unknown = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + manifestLength)));
    expect(manifest).toEqual(weights.map(({ name, shape }) => ({ name, shape, dtype: 'float32' })));
    const values = weights.reduce((total, tensor) => total + tensor.values.length, 0);
    const dataStart = bytes.byteLength - 4 * values;
    expect(dataStart % 4).toBe(0);
    expect(dataStart - (8 + manifestLength)).toBeLessThan(4);
    expect(new DataView(bytes.buffer, bytes.byteOffset).getFloat32(dataStart, true)).toBe(weights[0]!.values[0]);
  });

  it('decodes from an unaligned view into tensors that own their memory', () => {
    const weights = randomWeights(3);
    const source = atOddOffset(encodeModelWeights(weights));
    const decoded = decodeModelWeights(source);
    source.fill(0);
    expect(decoded.map((tensor) => Array.from(tensor.values))).toEqual(weights.map((tensor) => Array.from(tensor.values)));
    const buffers = new Set(decoded.map((tensor) => tensor.values.buffer));
    expect(buffers.size).toBe(decoded.length);
  });

  it('checks names, order and shapes against the expected model, naming the tensor', () => {
    const weights = randomWeights(4);
    const bytes = encodeModelWeights(weights);
    expect(decodeModelWeights(bytes, weights)).toHaveLength(weights.length);
    const layout = weights.map(({ name, shape }) => ({ name, shape }));
    expect(decodeModelWeights(bytes, layout)).toHaveLength(weights.length);

    const reshaped = layout.map((tensor, i) => (i === 2 ? { ...tensor, shape: [10, 13] } : tensor));
    expect(() => decodeModelWeights(bytes, reshaped)).toThrow(WeightsError);
    expect(() => decodeModelWeights(bytes, reshaped)).toThrow(/"dense\/kernel" has shape \[13, 10\] but the model's is \[10, 13\]/);
    const reordered = [layout[1]!, layout[0]!, ...layout.slice(2)];
    expect(() => decodeModelWeights(bytes, reordered)).toThrow(/tensor 0 is "conv2d\/kernel" but the model has "conv2d\/bias"/);
    expect(() => decodeModelWeights(bytes, layout.slice(1))).toThrow(/has 4 tensors but the model has 3/);
  });

  it('rejects NaN and ±Infinity, naming the tensor and the first bad value', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const weights = randomWeights(5);
      weights[3]!.values[7] = bad;
      weights[3]!.values[9] = bad;
      const bytes = encodeModelWeights(weights);
      expect(() => decodeModelWeights(bytes)).toThrow(WeightsError);
      expect(() => decodeModelWeights(bytes)).toThrow(new RegExp(`"dense/bias" value 7 is ${String(bad)} \\(2 of its 10 values are not finite\\)`));
    }
  });

  it('rejects truncated, padded and corrupt objects', () => {
    const bytes = encodeModelWeights(randomWeights(6));
    for (const length of [0, 4, 7, 8, 40, bytes.byteLength - 4, bytes.byteLength - 1]) {
      expect(() => decodeModelWeights(bytes.subarray(0, length)), `length ${length}`).toThrow(WeightsError);
    }
    expect(() => decodeModelWeights(bytes.subarray(0, bytes.byteLength - 4))).toThrow(/truncated/);
    const padded = new Uint8Array(bytes.byteLength + 4);
    padded.set(bytes);
    expect(() => decodeModelWeights(padded)).toThrow(/trailing bytes/);

    const shard = encodeShard({ count: 1, rows: 1, cols: 1, channels: 1, classes: 10, images: Uint8Array.of(0), labels: Uint8Array.of(0) });
    // Not text: the first bytes are shown in hex, so a reason never carries raw binary.
    expect(() => decodeModelWeights(shard)).toThrow('not a flambda weights object (starts with bytes 46 4c 53 44 02 00 00 00, expected 46 4c 57 31 "FLW1")');
    const brokenJson = bytes.slice();
    brokenJson[8] = '{'.charCodeAt(0);
    expect(() => decodeModelWeights(brokenJson)).toThrow(/manifest is not valid UTF-8 JSON/);

    const withManifest = (manifest: unknown) => {
      const json = new TextEncoder().encode(JSON.stringify(manifest));
      const object = new Uint8Array(8 + json.byteLength + 8);
      object.set(new TextEncoder().encode('FLW1'));
      new DataView(object.buffer).setUint32(4, json.byteLength, true);
      object.set(json, 8);
      return object;
    };
    expect(() => decodeModelWeights(withManifest([{ name: 'w', shape: [2], dtype: 'int32' }]))).toThrow(/manifest\[0\]\.dtype/);
    expect(() => decodeModelWeights(withManifest([{ name: 'w', shape: [-2], dtype: 'float32' }]))).toThrow(/manifest\[0\]\.shape\[0\]/);
    expect(() => decodeModelWeights(withManifest({ name: 'w' }))).toThrow(/corrupt: manifest/);
  });

  it('refuses to encode a tensor whose values do not fill its shape', () => {
    const weights = randomWeights(7);
    const broken = weights.map((tensor, i) => (i === 1 ? { ...tensor, values: tensor.values.subarray(1) } : tensor));
    expect(() => encodeModelWeights(broken)).toThrow(/tensor 1 \("conv2d\/bias"\) has 7 values but shape \[8\] needs 8/);
    expect(() => encodeModelWeights([{ name: '', shape: [1], values: Float32Array.of(1) }])).toThrow(/empty name/);
  });
});
