import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ObjectStore } from '../shared/cloud/ports.js';

/**
 * Not copied: shards, updates, verdicts and per-client state (SCAFFOLD's control variates, FedPer's private layers) can
 * be hundreds of MB over a long run, are per client, and are reproducible from the config; nor the per-round models.
 */
const SKIPPED = [/\/shards\//, /\/updates\//, /\/verdicts\//, /^clients\//, /\/global\.bin$/, /\/server-state\.bin$/];

export interface DownloadOptions {
  /** told about each key that was not copied because it would land outside the results folder */
  readonly onUnsafeKey?: (key: string) => void;
}

/**
 * Copies an experiment's record (configs, partition, metrics, round metrics, summary, final model) to <out>/<id>/.
 * A key is a path only if it stays inside that folder: `..` segments (S3 allows them) are refused, never followed.
 */
export async function downloadExperiment(store: ObjectStore, experimentId: string, outDir: string, options: DownloadOptions = {}): Promise<string> {
  const prefix = `experiments/${experimentId}/`;
  const folder = path.resolve(outDir, experimentId);
  for (const key of await store.list(prefix)) {
    const relative = key.slice(prefix.length);
    if (SKIPPED.some((pattern) => pattern.test(key) || pattern.test(relative))) continue;
    const file = path.resolve(folder, relative);
    const segments = relative.split('/');
    if (!file.startsWith(folder + path.sep) || segments.some((segment) => segment === '..' || segment === '.' || segment === '')) {
      options.onUnsafeKey?.(key);
      continue;
    }
    const body = await store.get(key);
    if (body === undefined) continue;
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, body);
  }
  return folder;
}
