/**
 * One configuration of bench/scale.ts in a process of its own, so that its peak RSS is its own:
 *   npx tsx bench/scale-child.ts '<ScaleRunOptions as JSON>'
 * Prints the ScaleRunResult as the last line of stdout.
 */
import { measureScale, type ScaleRunOptions } from './scale-run.js';

const options = JSON.parse(process.argv[2] ?? '{}') as ScaleRunOptions;
const result = await measureScale(options);
process.stdout.write(`\n${JSON.stringify(result)}\n`);
