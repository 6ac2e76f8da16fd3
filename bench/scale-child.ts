/**
 * One configuration of bench/scale.ts in a process of its own, so that its peak RSS (or CPU) is its own:
 *   npx tsx bench/scale-child.ts '<ScaleRunOptions as JSON>'
 *   npx tsx bench/scale-child.ts '{"burst": <BurstOptions>}'
 *   npx tsx bench/scale-child.ts '{"floor": {"repeats": 300, "bodyBytes": 797000}}'
 * Prints the ScaleRunResult (or BurstResult, or RequestCosts) as the last line of stdout.
 */
import type { BurstOptions } from './scale-burst.js';
import { measureScale, type ScaleRunOptions } from './scale-run.js';

type ChildOptions = ScaleRunOptions | { burst: BurstOptions } | { floor: { repeats: number; bodyBytes: number } };

async function run(options: ChildOptions): Promise<unknown> {
  if ('burst' in options) return (await import('./scale-burst.js')).measureBurst(options.burst);
  if ('floor' in options) return (await import('./scale-floor.js')).measureRequestCosts(options.floor.repeats, options.floor.bodyBytes);
  return measureScale(options);
}

const result = await run(JSON.parse(process.argv[2] ?? '{}') as ChildOptions);
process.stdout.write(`\n${JSON.stringify(result)}\n`);
