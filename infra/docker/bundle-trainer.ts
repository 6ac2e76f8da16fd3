/**
 * Runs inside `docker build -f infra/docker/trainer.Dockerfile .`: bundles functions/train.ts like the zip functions, but leaves
 * every @tensorflow package outside the bundle so the image's tfjs-node and the bundle share one copy of
 * @tensorflow/tfjs (tfjs-node registers its backend with the copy it finds). Writes <outDir>/index.mjs (+ map).
 * The packages themselves come from infra/docker/image/ (package.json + its own package-lock.json, installed with
 * `npm ci`); this script refuses to bundle when that package.json pins other versions than the repository's lock,
 * so the image and the zip functions always run the same tfjs.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ESM_REQUIRE_BANNER, IMAGE_NODE_TARGET, NEVER_BUNDLED } from '../lib/bundle-options.js';

export const IMAGE_PACKAGES = ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node'] as const;
export const IMAGE_MANIFEST = 'infra/docker/image/package.json';

interface LockFile {
  readonly packages: Readonly<Record<string, { readonly version?: string } | undefined>>;
}

/** The differences between the image's pinned versions and the repository lock's, as readable lines. */
export function imagePinMismatches(rootLock: LockFile, imageManifest: { readonly dependencies?: Readonly<Record<string, string>> }): string[] {
  return IMAGE_PACKAGES.flatMap((name) => {
    const locked = rootLock.packages[`node_modules/${name}`]?.version;
    const pinned = imageManifest.dependencies?.[name];
    return locked === pinned ? [] : [`${name}: ${IMAGE_MANIFEST} pins ${pinned ?? 'nothing'}, package-lock.json has ${locked ?? 'nothing'}`];
  });
}

async function main(): Promise<void> {
  const [outDir = 'dist'] = process.argv.slice(2);
  const mismatches = imagePinMismatches(
    JSON.parse(readFileSync('package-lock.json', 'utf8')) as LockFile,
    JSON.parse(readFileSync(IMAGE_MANIFEST, 'utf8')) as { dependencies?: Record<string, string> },
  );
  if (mismatches.length > 0) {
    throw new Error(`${mismatches.join('\n')}\nSet the same versions, then run \`npm install --package-lock-only\` in infra/docker/image/.`);
  }
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
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
