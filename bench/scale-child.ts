/**
 * One configuration of bench/scale.ts in a process of its own, so that its peak RSS is its own:
 *   npx tsx bench/scale-child.ts '<ScaleRunOptions as JSON>'
 *   npx tsx bench/scale-child.ts '{"burst": <BurstOptions>}'
 * Prints the ScaleRunResult (or BurstResult) as the last line of stdout.
 */
import type { BurstOptions } from './scale-burst.js';
import { measureScale, type ScaleRunOptions } from './scale-run.js';

const options = JSON.parse(process.argv[2] ?? '{}') as ScaleRunOptions | { burst: BurstOptions };
const result = 'burst' in options ? await (await import('./scale-burst.js')).measureBurst(options.burst) : await measureScale(options);
process.stdout.write(`\n${JSON.stringify(result)}\n`);
