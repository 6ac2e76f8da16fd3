/**
 * Runs inside `docker build -f infra/docker/trainer.Dockerfile .`: bundles functions/train.ts like the zip functions, but leaves
 * every @tensorflow package outside the bundle so the image's npm install of @tensorflow/tfjs-node and the bundle
 * share one copy of @tensorflow/tfjs (tfjs-node registers its backend with the copy it finds). Writes
 * <outDir>/index.mjs and <outDir>/package.json pinning those packages to the versions in package-lock.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { ESM_REQUIRE_BANNER, IMAGE_NODE_TARGET, NEVER_BUNDLED } from '../lib/bundle-options.js';

const IMAGE_PACKAGES = ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node'] as const;

interface LockFile {
  readonly packages: Readonly<Record<string, { readonly version?: string } | undefined>>;
}

function lockedVersion(lock: LockFile, name: string): string {
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (!version) throw new Error(`package-lock.json has no version for ${name}: run npm install where it can download`);
  return version;
}

async function main(): Promise<void> {
  const [outDir = 'dist'] = process.argv.slice(2);
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as LockFile;
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: ['functions/train.ts'],
    outfile: path.join(outDir, 'index.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: IMAGE_NODE_TARGET,
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    banner: { js: ESM_REQUIRE_BANNER },
    external: [...NEVER_BUNDLED, '@tensorflow/*'],
    logLevel: 'warning',
  });
  const dependencies = Object.fromEntries(IMAGE_PACKAGES.map((name) => [name, lockedVersion(lock, name)]));
  writeFileSync(path.join(outDir, 'package.json'), `${JSON.stringify({ name: 'flambda-trainer', private: true, type: 'module', dependencies }, null, 2)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
