/**
 * Figures quoted outside the generated pages (README, docs/deploy.md, docs/results.md, the infra sizing comment) live
 * between `<!-- generated:NAME -->` and `<!-- /generated -->` and are rendered here from bench/benchmarks.json, the
 * committed output of `npm run bench:train`. `npm run docs` rewrites them; test/doc-blocks.test.ts fails when one is
 * stale. A block whose opening marker ends its line is rendered line by line with that line's prefix (` * ` in a
 * comment); otherwise it stays inline (a table cell, a sentence).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RESULTS_FILE, readResults, writeAtomically, type BenchResults, type EndToEndSuite, type ThroughputSuite } from './results.js';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Every file that may hold generated blocks (repository-relative). */
export const FILES_WITH_BLOCKS = ['README.md', 'docs/deploy.md', 'docs/results.md', 'infra/lib/flambda-stack.ts'] as const;

/** Lambda's longest function timeout, and the share of it the train sizing leaves for S3 transfers and start-up. */
const LAMBDA_MAX_SECONDS = 15 * 60;
const TRAIN_TIME_SHARE = 0.8;
/** The default 5-client split of MNIST's 60,000 training images. */
const DEFAULT_SHARD_SAMPLES = 12_000;

const integer = (value: number) => Math.round(value).toLocaleString('en-US');
const percent = (fraction: number) => `${(fraction * 100).toFixed(2)} %`;
const ratio = (value: number) => `${value.toFixed(1)}×`;
const day = (iso: string) => iso.slice(0, 10);

/**
 * Results are kept per machine kind and figures are never compared across kinds: a quoted figure comes from the kind
 * whose run of that part is the most recent, and says which CPU it ran on where it is quoted.
 */
function latest<T extends { readonly date: string }>(suites: readonly (T | undefined)[]): T | undefined {
  return suites.filter((suite): suite is T => suite !== undefined).sort((a, b) => b.date.localeCompare(a.date))[0];
}
function requireThroughput(results: BenchResults): ThroughputSuite {
  const suite = latest(Object.values(results.machines).map((machine) => machine.throughput));
  if (!suite) throw new Error('bench/benchmarks.json has no throughput results: run `npm run bench:train`');
  return suite;
}
function requireEndToEnd(results: BenchResults): EndToEndSuite {
  const suite = latest(Object.values(results.machines).map((machine) => machine.endToEnd));
  if (!suite) throw new Error('bench/benchmarks.json has no end-to-end results: run `npm run bench:train -- --e2e`');
  return suite;
}

/** Best run of a throughput variant (the benchmark leads with best runs: other work only ever slows one down). */
function samplesPerSecond(suite: ThroughputSuite, variant: string, model: string): { best: number; median: number } {
  const row = suite.rows.find((candidate) => candidate.variant === variant && candidate.model === model);
  if (!row) throw new Error(`bench/benchmarks.json has no ${variant} row for ${model}`);
  return { best: Math.max(...row.runs), median: row.median };
}

type E2eOk = Extract<EndToEndSuite['rows'][number]['run'], { status: 'ok' }>;
/** The end-to-end run of a system on a partition; for PyTorch the reference thread count (the first one run). */
export function endToEndRun(suite: EndToEndSuite, partition: 'iid' | 'label-skew', system: 'flambda' | 'pytorch'): E2eOk {
  const label = system === 'pytorch' ? `PyTorch, ${suite.settings.torchThreads[0]} thread` : undefined;
  const row = suite.rows.find((candidate) => candidate.partition === partition && candidate.system === system && (!label || candidate.label.startsWith(label)));
  if (!row || row.run.status !== 'ok') throw new Error(`bench/benchmarks.json has no completed ${system} run on ${partition}`);
  return row.run;
}

/** PyTorch's FedAvg on flambda's shards, final accuracy: the reference bench/reproduce.ts and the docs compare with. */
export function pytorchReference(results: BenchResults): { iid: number; labelSkew: number; date: string; cpu: string } {
  const suite = requireEndToEnd(results);
  return {
    iid: endToEndRun(suite, 'iid', 'pytorch').finalAccuracy,
    labelSkew: endToEndRun(suite, 'label-skew', 'pytorch').finalAccuracy,
    date: day(suite.date),
    cpu: suite.machine.cpuModel,
  };
}

function trainSizing(results: BenchResults): string {
  const suite = requireThroughput(results);
  const mcmahan = samplesPerSecond(suite, 'tfjs-single', 'cnn-mcmahan');
  const small = samplesPerSecond(suite, 'tfjs-single', 'cnn-small');
  const epochSeconds = (speed: number) => DEFAULT_SHARD_SAMPLES / speed;
  const epochs = Math.floor((LAMBDA_MAX_SECONDS * TRAIN_TIME_SHARE) / epochSeconds(mcmahan.median));
  return (
    `cnn-mcmahan trains at ${integer(mcmahan.median)}–${integer(mcmahan.best)} samples/s (the fused wasm step, median–best of ` +
    `\`npm run bench:train\` on ${suite.machine.cpuModel}, ${day(suite.date)}), so a ${integer(DEFAULT_SHARD_SAMPLES)}-sample shard ` +
    `(the default 5-client split) takes ${integer(epochSeconds(mcmahan.best))}–${integer(epochSeconds(mcmahan.median))} s an epoch: ` +
    `${epochs} local epochs fit in ${Math.round(TRAIN_TIME_SHARE * 100)} % of 15 minutes; heavier configs need more clients or the ` +
    `image trainer. cnn-small: ${integer(small.median)}–${integer(small.best)} samples/s.`
  );
}

function fusedSpeedup(results: BenchResults): string {
  const suite = requireThroughput(results);
  const speedup = (model: string) => samplesPerSecond(suite, 'tfjs-single', model).best / samplesPerSecond(suite, 'tfjs-single-tape', model).best;
  return `${ratio(speedup('cnn-small'))} faster on cnn-small and ${ratio(speedup('cnn-mcmahan'))} on cnn-mcmahan`;
}

function readmeResults(results: BenchResults): string {
  const suite = requireEndToEnd(results);
  const flambda = { iid: endToEndRun(suite, 'iid', 'flambda'), skew: endToEndRun(suite, 'label-skew', 'flambda') };
  const torch = { iid: endToEndRun(suite, 'iid', 'pytorch'), skew: endToEndRun(suite, 'label-skew', 'pytorch') };
  const seconds = (ms: number) => `${integer(ms / 1000)} s`;
  const slower = (flambda.iid.roundsMs + flambda.skew.roundsMs) / (torch.iid.roundsMs + torch.skew.roundsMs);
  return (
    `On our ${suite.machine.cores}-core machine (${suite.machine.cpuModel}, ${day(suite.date)}, \`npm run bench:train -- --e2e\`) ` +
    `the two experiments took ${seconds(flambda.iid.processMs)} and ${seconds(flambda.skew.processMs)} as whole \`flambda run\` ` +
    'processes, so `npm start` takes a few minutes; other jobs on the machine stretch that. They reach ' +
    `${percent(flambda.iid.finalAccuracy)} (IID) and ${percent(flambda.skew.finalAccuracy)} (label skew) test accuracy — the ` +
    "original proof of concept claimed ~96 % and ~15 points less; PyTorch's own FedAvg script on the same shards and " +
    `machine gets ${percent(torch.iid.finalAccuracy)} and ${percent(torch.skew.finalAccuracy)}, and our rounds take ` +
    `${ratio(slower)} as long as its (${suite.settings.torchThreads[0]} threads; [docs/benchmarks.md](docs/benchmarks.md)).`
  );
}

/** Every block, by name. */
export const BLOCKS: Readonly<Record<string, (results: BenchResults) => string>> = {
  'train-sizing': trainSizing,
  'fused-speedup': fusedSpeedup,
  'readme-results': readmeResults,
  'pytorch-reference-iid': (results) => percent(pytorchReference(results).iid),
  'pytorch-reference-label-skew': (results) => percent(pytorchReference(results).labelSkew),
  'pytorch-reference-gap': (results) => {
    const reference = pytorchReference(results);
    return `${((reference.labelSkew - reference.iid) * 100).toFixed(2)} points`;
  },
  'pytorch-reference-source': (results) => {
    const reference = pytorchReference(results);
    return `PyTorch FedAvg on the same shards (\`npm run bench:train -- --e2e\`, ${reference.cpu}, ${reference.date})`;
  },
};

const BLOCK = /<!-- generated:([\w-]+) -->([\s\S]*?)<!-- \/generated -->/g;

/** `text` with every block re-rendered; throws on a block name that has no renderer or a marker left open. */
export function fillBlocks(text: string, results: BenchResults, file = 'text'): string {
  const opened = [...text.matchAll(/<!-- generated:([\w-]+) -->/g)].length;
  const closed = [...text.matchAll(/<!-- \/generated -->/g)].length;
  if (opened !== closed) throw new Error(`${file}: ${opened} generated-block markers opened, ${closed} closed`);
  return text.replace(BLOCK, (_whole, name: string, _content: string, offset: number) => {
    const render = BLOCKS[name];
    if (!render) throw new Error(`${file}: no renderer for generated block "${name}" (see bench/doc-blocks.ts)`);
    const rendered = render(results);
    const opening = `<!-- generated:${name} -->`;
    const lineStart = text.lastIndexOf('\n', offset) + 1;
    const afterOpening = offset + opening.length;
    if (text[afterOpening] !== '\n') return `${opening}${rendered}<!-- /generated -->`;
    const prefix = text.slice(lineStart, offset);
    const body = rendered
      .split('\n')
      .flatMap((line) => wrap(line, MAX_LINE - prefix.length))
      .map((line) => `${prefix}${line}`.trimEnd())
      .join('\n');
    return `${opening}\n${body}\n${prefix}<!-- /generated -->`;
  });
}

const MAX_LINE = 120;

/** Greedy word wrap (a block in a code comment is one long sentence otherwise). */
function wrap(line: string, width: number): string[] {
  if (line.length <= width) return [line];
  const lines: string[] = [];
  let current = '';
  for (const word of line.split(' ')) {
    if (current && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else {
      current = current ? `${current} ${word}` : word;
    }
  }
  if (current) lines.push(current);
  return lines;
}

/** Names of the blocks a text holds. */
export function blockNames(text: string): string[] {
  return [...text.matchAll(BLOCK)].map((match) => match[1]!);
}

/** Rewrites the blocks of every file that has them; returns the files that changed. */
export async function updateDocBlocks(results?: BenchResults): Promise<string[]> {
  const source = results ?? (await readResults(DEFAULT_RESULTS_FILE));
  const changed: string[] = [];
  for (const relative of FILES_WITH_BLOCKS) {
    const file = path.join(REPO_ROOT, relative);
    const text = await readFile(file, 'utf8');
    const filled = fillBlocks(text, source, relative);
    if (filled !== text) {
      await writeAtomically(file, filled);
      changed.push(relative);
    }
  }
  return changed;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const changed = await updateDocBlocks();
  console.log(changed.length > 0 ? `docs: updated ${changed.join(', ')}` : 'docs: every generated block is up to date');
}
