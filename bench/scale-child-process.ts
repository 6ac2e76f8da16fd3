/** What bench/scale.ts and bench/scale-groups.ts share: their command lines, and a configuration run in a process of its own. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BurstOptions } from './scale-burst.js';
import type { ScaleRunOptions } from './scale-run.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SCALE_RESULTS_FILE = path.join(here, 'scale-results.json');
export const SCALE_GROUPS_RESULTS_FILE = path.join(here, 'scale-groups-results.json');
const TSX = path.join(here, '..', 'node_modules', '.bin', 'tsx');

export function flag(args: readonly string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
}

export function positiveIntegers(text: string, name: string): number[] {
  const values = text.split(',').map((part) => Number(part.trim()));
  if (values.some((value) => !Number.isSafeInteger(value) || value < 1)) throw new Error(`${name} takes positive integers separated by commas (got "${text}")`);
  return values;
}

/** One configuration in a process of its own (bench/scale-child.ts), so that its peak RSS and CPU are its own. */
export async function runChild<T>(options: ScaleRunOptions | { burst: BurstOptions } | { floor: { repeats: number; bodyBytes: number } }): Promise<T> {
  const { stdout } = await promisify(execFile)(TSX, [path.join(here, 'scale-child.ts'), JSON.stringify(options)], { maxBuffer: 64 * 2 ** 20 });
  const last = stdout.trim().split('\n').at(-1);
  if (!last) throw new Error('the scale child printed nothing');
  return JSON.parse(last) as T;
}
