import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ObjectStore } from '../shared/cloud/ports.js';

// Shards and per-client updates can be hundreds of MB over a long run and are reproducible from the config: not copied.
const SKIPPED = [/\/shards\//, /\/updates\//, /\/global\.bin$/, /\/server-state\.bin$/];

/** Copies an experiment's record (configs, partition, metrics, round metrics, summary, final model) to <out>/<id>/. */
export async function downloadExperiment(store: ObjectStore, experimentId: string, outDir: string): Promise<string> {
  const prefix = `experiments/${experimentId}/`;
  const folder = path.join(outDir, experimentId);
  for (const key of await store.list(prefix)) {
    if (SKIPPED.some((pattern) => pattern.test(key))) continue;
    const body = await store.get(key);
    if (body === undefined) continue;
    const file = path.join(folder, key.slice(prefix.length));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, body);
  }
  return folder;
}
