/**
 * One measurement for bench/robust-memory.ts, in its own process so nothing else has touched memory:
 *   node --expose-gc --import tsx bench/robust-memory-child.ts <method> <n> <P>
 * Builds n updates of P values, collects garbage, then resets the process's peak RSS to its current RSS (Linux:
 * "5" to /proc/self/clear_refs) and runs the aggregator once. held = the growth of ArrayBuffer memory from building
 * the updates (and of RSS, which adds the heap and compiled code that building them needed); peak working set =
 * peak RSS during the call (VmHWM) − RSS before it. The parent sets MALLOC_MMAP_THRESHOLD_ so that glibc maps every
 * large array afresh instead of reusing freed memory, which RSS would not see. Pages only ever read (a zero-filled
 * centre that is never written) stay unmapped and are not counted: the formula counts them, so it is an upper bound.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAggregatorConfig, type AggregatorConfig, type AggregatorKind } from '../shared/config/robust.js';
import { createRandom } from '../shared/random.js';
import { aggregateUpdates, type RobustUpdate } from '../shared/robust/index.js';

export interface ChildResult {
  readonly heldBytes: number;
  readonly heldRssBytes: number;
  readonly peakWorkingBytes: number;
}

/** Parameters as a benchmark would set them: f about a quarter of n, τ and maxNorm large enough to clip little. */
export function configFor(kind: AggregatorKind, n: number): AggregatorConfig {
  const f = Math.max(0, Math.floor((n - 3) / 4));
  switch (kind) {
    case 'trimmed-mean':
      return parseAggregatorConfig({ kind, beta: 0.1 });
    case 'krum':
    case 'multi-krum':
      return parseAggregatorConfig({ kind, f });
    case 'norm-bounded':
      return parseAggregatorConfig({ kind, maxNorm: 100 });
    case 'centered-clipping':
      return parseAggregatorConfig({ kind, tau: 100, iterations: 1 });
    case 'mean':
    case 'median':
      return parseAggregatorConfig({ kind });
  }
}

export function buildUpdates(n: number, parameters: number): RobustUpdate[] {
  const random = createRandom(n);
  return Array.from({ length: n }, () => {
    const delta = new Float32Array(parameters);
    for (let i = 0; i < parameters; i++) delta[i] = 0.01 * random.nextGaussian();
    return { delta, samples: 600 };
  });
}

function statusKiB(field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error(`/proc/self/status has no ${field}`);
  return Number(match[1]) * 1024;
}

function measure(kind: AggregatorKind, n: number, parameters: number): ChildResult {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  gc();
  const rssStart = statusKiB('VmRSS');
  const buffersStart = process.memoryUsage().arrayBuffers;
  const updates = buildUpdates(n, parameters);
  const config = configFor(kind, n);
  gc();
  const rssBefore = statusKiB('VmRSS');
  const buffersBefore = process.memoryUsage().arrayBuffers;
  writeFileSync('/proc/self/clear_refs', '5');
  const outcome = aggregateUpdates(config, updates);
  const peak = statusKiB('VmHWM');
  if (outcome.delta.length !== parameters) throw new Error('the aggregator returned the wrong length');
  return { heldBytes: buffersBefore - buffersStart, heldRssBytes: rssBefore - rssStart, peakWorkingBytes: peak - rssBefore };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [kind, n, parameters] = process.argv.slice(2);
  process.stdout.write(JSON.stringify(measure(kind as AggregatorKind, Number(n), Number(parameters))));
}
