/**
 * Bytes and speed of each update encoding for cnn-small and cnn-mcmahan; writes the table into docs/compression.md.
 *   npx tsx bench/compression-codec.ts [--repeats 5] [--no-write]
 * The update is synthetic (Gaussian Δ with σ = 0.01 around a Gaussian model): sizes do not depend on the values,
 * speeds barely do. encode = compress (+ error feedback) + encodeCompressedUpdate, or encodeModelWeights for float32;
 * decode = decodeUpdate against the global model, the aggregator's one call. Medians over the repeats, every
 * encoding measured in turn within each repeat, after one warm-up round.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compress, decodeUpdate, encodeCompressedUpdate, weightsDelta } from '../shared/compression/index.js';
import { parseCompressionConfig, type CompressionConfig, type CompressionConfigInput } from '../shared/config/compression.js';
import type { ModelName } from '../shared/config/schema.js';
import { weightSpecs } from '../shared/models/index.js';
import { createRandom } from '../shared/random.js';
import { encodeModelWeights } from '../shared/weights/codec.js';
import type { ModelWeights } from '../shared/weights/types.js';
import { replaceDocSection } from './doc-section.js';
import { describeMachine, withEndLoad } from './machine.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ENCODINGS: readonly CompressionConfigInput[] = [
  { kind: 'none' },
  { kind: 'float16' },
  { kind: 'int8', rounding: 'stochastic' },
  { kind: 'int8', rounding: 'nearest' },
  { kind: 'topk', ratio: 0.01, errorFeedback: true },
  { kind: 'topk', ratio: 0.01, scope: 'tensor', errorFeedback: true },
  { kind: 'topk', ratio: 0.1, errorFeedback: true },
];

function label(config: CompressionConfig): string {
  switch (config.kind) {
    case 'none':
      return 'float32 (FLW1 weights)';
    case 'float16':
      return 'float16';
    case 'int8':
      return `int8, ${config.rounding}`;
    case 'topk':
      return `top-k ${config.ratio * 100} % of ${config.scope === 'model' ? 'the model' : 'each tensor'}${config.errorFeedback ? ' + error feedback' : ''}`;
  }
}

function models(name: ModelName): { global: ModelWeights; trained: ModelWeights } {
  const random = createRandom(7);
  const global = weightSpecs(name).map(({ name: tensor, shape }) => ({
    name: tensor,
    shape: [...shape],
    values: Float32Array.from({ length: shape.reduce((size, d) => size * d, 1) }, () => 0.05 * random.nextGaussian()),
  }));
  const trained = global.map((tensor) => ({ ...tensor, values: tensor.values.map((value) => value + 0.01 * random.nextGaussian()) }));
  return { global, trained };
}

function encodeOnce(config: CompressionConfig, global: ModelWeights, trained: ModelWeights, residual: ModelWeights | undefined) {
  if (config.kind === 'none') return { bytes: encodeModelWeights(trained), residual: undefined };
  const result = compress(weightsDelta(trained, global), residual, config, 1);
  return { bytes: encodeCompressedUpdate(result.payload), residual: result.residual };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const repeatsArg = args.indexOf('--repeats');
  const repeats = repeatsArg >= 0 ? Number(args[repeatsArg + 1]) : 5;
  const write = !args.includes('--no-write');
  const machine = await describeMachine();
  const rows: string[] = [];
  for (const name of ['cnn-small', 'cnn-mcmahan'] as const) {
    const { global, trained } = models(name);
    const configs = ENCODINGS.map((input) => parseCompressionConfig(input));
    const timings = configs.map(() => ({ encode: [] as number[], decode: [] as number[], bytes: 0 }));
    for (let repeat = 0; repeat <= repeats; repeat++) {
      configs.forEach((config, index) => {
        // Error feedback starts from the previous repeat's residual, as a client's second round would.
        let started = performance.now();
        const { bytes } = encodeOnce(config, global, trained, undefined);
        const encodeMs = performance.now() - started;
        started = performance.now();
        decodeUpdate(bytes, global, { compression: config });
        const decodeMs = performance.now() - started;
        if (repeat === 0) return;
        timings[index]!.encode.push(encodeMs);
        timings[index]!.decode.push(decodeMs);
        timings[index]!.bytes = bytes.byteLength;
      });
    }
    const float32Bytes = timings[0]!.bytes;
    configs.forEach((config, index) => {
      const { encode, decode, bytes } = timings[index]!;
      const row = `| ${name} | ${label(config)} | ${bytes.toLocaleString('en-US')} | ${((100 * bytes) / float32Bytes).toFixed(2)} % | ${median(encode).toFixed(1)} | ${median(decode).toFixed(1)} |`;
      rows.push(row);
      console.log(row);
    });
  }
  const end = withEndLoad(machine);
  const body = [
    `Measured by \`npm run bench:compression-codec\` on ${new Date().toISOString().slice(0, 10)}: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion},`,
    `load average ${machine.loadAverage.start} at the start and ${end.loadAverage.end} at the end; medians of ${repeats} repeats, encodings interleaved.`,
    '',
    '| model | encoding | bytes up | of float32 | encode (ms) | decode (ms) |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
  console.log(`\n${body}`);
  if (write) {
    await replaceDocSection(path.join(here, '..', 'docs', 'compression.md'), 'compression-codec', body);
    console.log('\nwrote docs/compression.md');
  }
}

await main();
