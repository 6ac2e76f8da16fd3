import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setWasmPaths, version_wasm } from '@tensorflow/tfjs-backend-wasm';
import type { BackendInfo, BackendName } from './types.js';
export { backendLabel } from './label.js';
import { relaxedSimdSupport, type RelaxedSimdSupport } from './simd/conv.js';
import { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from './wasm-kernels.js';

export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];
export type BackendRequest = BackendName | 'auto';

/** Optional dependency: not installable offline, so it must never be a static import (nor a bundler's target). */
const TFJS_NODE_PACKAGE = '@tensorflow/tfjs-node';

export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
  constructor(
    readonly backend: BackendName,
    reason: string,
  ) {
    super(`TensorFlow.js backend '${backend}' cannot start: ${reason}`);
  }
}

/** `FLAMBDA_BACKEND` (tensorflow | wasm | cpu | auto), 'auto' when unset or empty. */
export function backendRequestFromEnv(env: NodeJS.ProcessEnv = process.env): BackendRequest {
  const raw = env.FLAMBDA_BACKEND?.trim().toLowerCase();
  if (!raw) return 'auto';
  if (raw === 'auto' || (BACKEND_NAMES as readonly string[]).includes(raw)) return raw as BackendRequest;
  throw new Error(`FLAMBDA_BACKEND='${env.FLAMBDA_BACKEND}' is not a backend: use one of auto, ${BACKEND_NAMES.join(', ')}`);
}

/**
 * tfjs's cpu backend prints "Hi, looks like you are running TensorFlow.js in Node.js…" on first use in every process
 * and worker (tests compare against cpu; `auto` may fall back to it). We report the backend we run on ourselves,
 * and warn loudly when it is cpu (startBackend), so that advice is dropped; every other warning still prints.
 */
const TFJS_NODE_BANNER = 'Hi, looks like you are running TensorFlow.js in Node.js';
const BANNER_FILTER = Symbol.for('flambda.tfjsBannerFilter');
function dropTfjsNodeBanner(): void {
  const current = console.warn as typeof console.warn & { [BANNER_FILTER]?: true };
  if (current[BANNER_FILTER]) return;
  const filtered = Object.assign(
    (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes(TFJS_NODE_BANNER)) return;
      current(...args);
    },
    { [BANNER_FILTER]: true as const },
  );
  console.warn = filtered;
}
dropTfjsNodeBanner();

let pendingInit: Promise<BackendInfo> | undefined;
let initialised: BackendInfo | undefined;

/**
 * Starts the TensorFlow.js backend once per process. `auto` tries tensorflow (tfjs-node) → wasm → cpu;
 * an explicit backend that cannot start throws instead of falling back. Later calls return the same info;
 * asking for a different backend than the one running is an error, because cached models and their
 * weights already live on it.
 */
export function initBackend(requested?: BackendRequest): Promise<BackendInfo> {
  let wanted: BackendRequest;
  try {
    wanted = requested ?? backendRequestFromEnv();
  } catch (error) {
    return Promise.reject(error);
  }
  if (!pendingInit) {
    pendingInit = startBackend(wanted).then(
      (info) => {
        initialised = info;
        return info;
      },
      (error: unknown) => {
        pendingInit = undefined;
        throw error;
      },
    );
  }
  return pendingInit.then(async (info) => {
    if (wanted !== 'auto' && wanted !== info.backend) {
      throw new Error(
        `the '${info.backend}' TensorFlow.js backend is already running in this process, so '${wanted}' cannot be ` +
          `started; run '${wanted}' in a fresh process (FLAMBDA_BACKEND=${wanted})`,
      );
    }
    // Someone may have switched tfjs to another backend (tests compare against cpu): switch back.
    if (tf.getBackend() !== info.backend && !(await tf.setBackend(info.backend))) {
      throw new BackendUnavailableError(info.backend, 'tfjs refused to switch back to it (see the warning above)');
    }
    return info;
  });
}

/** The info of the backend started by initBackend; throws before that has completed. */
export function currentBackendInfo(): BackendInfo {
  if (!initialised) throw new Error('the TensorFlow.js backend is not initialised yet: await initBackend() first');
  return initialised;
}

async function startBackend(requested: BackendRequest): Promise<BackendInfo> {
  if (requested === 'tensorflow') return startTensorflow();
  if (requested === 'wasm') return startWasm();
  if (requested === 'cpu') return startCpu();

  const skipped: string[] = [];
  for (const start of [startTensorflow, startWasm]) {
    try {
      return await start();
    } catch (error) {
      if (!(error instanceof BackendUnavailableError)) throw error;
      skipped.push(error.message);
    }
  }
  warnLoudly([
    "training on the pure-JavaScript 'cpu' backend: about 100× slower than 'wasm'.",
    ...skipped.map((reason) => `  skipped: ${reason}`),
    'Fix the wasm backend (see above), or set FLAMBDA_BACKEND=cpu to choose cpu on purpose.',
  ]);
  return startCpu();
}

async function startTensorflow(): Promise<BackendInfo> {
  let packageJsonPath: string;
  try {
    packageJsonPath = createRequire(import.meta.url).resolve(`${TFJS_NODE_PACKAGE}/package.json`);
  } catch {
    throw new BackendUnavailableError(
      'tensorflow',
      `${TFJS_NODE_PACKAGE} is not installed (it is an optional dependency whose install script downloads ` +
        'libtensorflow, so it is skipped on machines without internet access). Install it with ' +
        `\`npm install ${TFJS_NODE_PACKAGE}\` where it can download, or use FLAMBDA_BACKEND=wasm.`,
    );
  }
  const tfjsNodeVersion = packageVersion(packageJsonPath);
  try {
    const specifier: string = TFJS_NODE_PACKAGE;
    await import(specifier);
  } catch (error) {
    throw new BackendUnavailableError(
      'tensorflow',
      `${TFJS_NODE_PACKAGE}@${tfjsNodeVersion} is installed but failed to load (${firstLine(errorMessage(error))}). ` +
        `Reinstall it (\`npm rebuild ${TFJS_NODE_PACKAGE}\`) or use FLAMBDA_BACKEND=wasm.`,
    );
  }
  if (!tf.findBackendFactory('tensorflow')) {
    throw new BackendUnavailableError(
      'tensorflow',
      `${TFJS_NODE_PACKAGE}@${tfjsNodeVersion} registered its backend with a different copy of @tensorflow/tfjs ` +
        `than ours (${tf.version_core}); install versions that match so npm dedupes them.`,
    );
  }
  if (!(await tf.setBackend('tensorflow'))) {
    throw new BackendUnavailableError('tensorflow', 'tfjs could not initialise it (see the warning printed above)');
  }
  return { backend: 'tensorflow', tfjsVersion: tf.version_core, details: { tfjsNodeVersion } };
}

/** Where the .wasm binaries are: FLAMBDA_WASM_DIR (Lambda bundles copy them next to the code) or the installed package. */
export function wasmDirectory(env: NodeJS.ProcessEnv = process.env): { dir: string; source: string } {
  const fromEnv = env.FLAMBDA_WASM_DIR?.trim();
  if (fromEnv) return { dir: path.resolve(fromEnv), source: 'FLAMBDA_WASM_DIR' };
  try {
    const entry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
    return { dir: path.dirname(entry), source: 'the installed @tensorflow/tfjs-backend-wasm' };
  } catch (error) {
    throw new BackendUnavailableError(
      'wasm',
      `@tensorflow/tfjs-backend-wasm cannot be resolved (${firstLine(errorMessage(error))}); ` +
        'set FLAMBDA_WASM_DIR to a folder holding its .wasm files',
    );
  }
}

async function startWasm(): Promise<BackendInfo> {
  const { dir, source } = wasmDirectory();
  // Before anything compiles: on Node 20 this is where relaxed SIMD gets switched on (see simd/conv.ts).
  const relaxed = relaxedSimdSupport();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const multithread = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  // The same choice tfjs-backend-wasm makes when it loads the binary.
  const binary =
    simd && multithread
      ? 'tfjs-backend-wasm-threaded-simd.wasm'
      : simd
        ? 'tfjs-backend-wasm-simd.wasm'
        : 'tfjs-backend-wasm.wasm';
  const binaryPath = path.join(dir, binary);
  if (!existsSync(binaryPath)) {
    throw new BackendUnavailableError(
      'wasm',
      `${binaryPath} does not exist (folder from ${source}). Copy the tfjs-backend-wasm*.wasm files from ` +
        '@tensorflow/tfjs-backend-wasm/dist/ into that folder, or point FLAMBDA_WASM_DIR at a folder that has them.',
    );
  }
  try {
    setWasmPaths(dir.endsWith(path.sep) ? dir : dir + path.sep);
  } catch (error) {
    throw new BackendUnavailableError('wasm', `an earlier attempt to load it failed in this process (${errorMessage(error)})`);
  }
  // tfjs answers false (and would quietly carry on on cpu) when the module cannot start; the reason only
  // reaches console.warn, so listen there while it starts.
  const { result: started, warnings } = await withConsoleWarnings(() => tf.setBackend('wasm'));
  if (!started || tf.getBackend() !== 'wasm') {
    const reasons = warnings.filter((line) => !line.startsWith('Initialization of backend')).join('; ');
    throw new BackendUnavailableError(
      'wasm',
      `tfjs could not instantiate ${binaryPath}: ${reasons || 'no reason given'}. Check that the file is the one ` +
        `shipped with @tensorflow/tfjs-backend-wasm ${version_wasm} (and, in an ESM bundle, that __dirname is defined).`,
    );
  }
  registerWasmTrainingKernels();
  const fma = relaxed.fused && (relaxed.status === 'built in' || relaxed.status === 'flag');
  return {
    backend: 'wasm',
    tfjsVersion: tf.version_core,
    details: {
      tfjsBackendWasmVersion: version_wasm,
      simd,
      threads: getThreadsCount(),
      binary: binaryPath,
      trainingKernels: WASM_TRAINING_KERNELS.join(','),
      // who runs the fused training step's convolutions and matrix products (fused-wasm.ts)
      convolutions: fma ? 'flambda relaxed-SIMD FMA' : 'XNNPACK',
      relaxedSimd: describeRelaxedSimd(relaxed),
      fma,
    },
  };
}

function describeRelaxedSimd({ status, fused }: RelaxedSimdSupport): string {
  if (status === 'off') return 'off (FLAMBDA_WASM_FMA=off)';
  if (status === 'unavailable') return 'unavailable in this runtime';
  const how = status === 'flag' ? 'enabled with --experimental-wasm-relaxed-simd' : 'built in';
  return fused ? how : `${how}, but without a hardware fused multiply-add`;
}


async function startCpu(): Promise<BackendInfo> {
  if (!(await tf.setBackend('cpu'))) throw new BackendUnavailableError('cpu', 'tfjs could not initialise it');
  return { backend: 'cpu', tfjsVersion: tf.version_core, details: { relativeSpeed: 'about 100× slower than wasm' } };
}

/** Runs `start` while also collecting the first line of everything written to console.warn (still printed). */
async function withConsoleWarnings<T>(start: () => Promise<T>): Promise<{ result: T; warnings: string[] }> {
  const warnings: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => {
    warnings.push(firstLine(args.map((arg) => (arg instanceof Error ? (arg.stack ?? arg.message) : String(arg))).join(' ')));
    original(...args);
  };
  try {
    return { result: await start(), warnings };
  } finally {
    console.warn = original;
  }
}

function firstLine(text: string): string {
  return text.trim().split('\n', 1)[0] ?? '';
}

function warnLoudly(lines: readonly string[]): void {
  const rule = '='.repeat(78);
  process.stderr.write(`${rule}\n${lines.map((line) => `[flambda] WARNING ${line}`).join('\n')}\n${rule}\n`);
}

function packageVersion(packageJsonPath: string): string {
  const parsed: unknown = JSON.parse(readFileSync(packageJsonPath, 'utf8'));
  if (typeof parsed === 'object' && parsed !== null && 'version' in parsed && typeof parsed.version === 'string') {
    return parsed.version;
  }
  return 'unknown';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
