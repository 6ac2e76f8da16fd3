import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendLabel, backendRequestFromEnv, currentBackendInfo, initBackend, wasmDirectory } from '../shared/engine/backend.js';
import { initialWeights } from '../shared/engine/build-model.js';

const backendModule = fileURLToPath(new URL('../shared/engine/backend.ts', import.meta.url));
const installedWasmDir = path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
const tfjsNodeInstalled = (() => {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node/package.json');
    return true;
  } catch {
    return false;
  }
})();

let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'flambda-backend-'));
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

function withEnv<T>(vars: Record<string, string | undefined>, run: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((key) => [key, process.env[key]]));
  const restore = () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  for (const [key, value] of Object.entries(vars)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  return run().finally(restore);
}

interface StepOutcome {
  readonly ok: boolean;
  readonly backend?: string;
  readonly label?: string;
  readonly convolutions?: string;
  readonly error?: string;
}

/** Backend start-up is once per process, so failure paths that poison tfjs's state run in a child process. */
function runInChild(env: Record<string, string>, requests: readonly string[]): { steps: StepOutcome[]; stderr: string } {
  const script = path.join(scratch, 'init-steps.mts');
  writeFileSync(
    script,
    `import { backendLabel, initBackend } from ${JSON.stringify(pathToFileURL(backendModule).href)};
for (const request of process.argv.slice(2)) {
  try {
    const info = await initBackend(request === 'default' ? undefined : (request as 'auto'));
    console.log(JSON.stringify({ ok: true, backend: info.backend, label: backendLabel(info), convolutions: info.details.convolutions }));
  } catch (error) {
    console.log(JSON.stringify({ ok: false, error: error instanceof Error ? error.message : String(error) }));
  }
}
`,
  );
  const child = spawnSync(process.execPath, ['--import', 'tsx', script, ...requests], {
    env: { ...process.env, FLAMBDA_BACKEND: '', FLAMBDA_WASM_DIR: '', ...env },
    encoding: 'utf8',
    cwd: path.dirname(backendModule),
  });
  expect(child.status, child.stderr).toBe(0);
  const steps = child.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as StepOutcome);
  return { steps, stderr: child.stderr };
}

describe('backend selection', () => {
  it('reads FLAMBDA_BACKEND, defaulting to auto, and rejects unknown names', () => {
    expect(backendRequestFromEnv({})).toBe('auto');
    expect(backendRequestFromEnv({ FLAMBDA_BACKEND: '' })).toBe('auto');
    expect(backendRequestFromEnv({ FLAMBDA_BACKEND: 'WASM' })).toBe('wasm');
    expect(() => backendRequestFromEnv({ FLAMBDA_BACKEND: 'gpu' })).toThrow(/FLAMBDA_BACKEND='gpu'.*auto, tensorflow, wasm, cpu/);
  });

  it('locates the wasm binaries from FLAMBDA_WASM_DIR, else from the installed package', () => {
    expect(wasmDirectory({ FLAMBDA_WASM_DIR: '/opt/task' })).toEqual({ dir: '/opt/task', source: 'FLAMBDA_WASM_DIR' });
    expect(wasmDirectory({}).dir).toBe(installedWasmDir);
  });

  it('currentBackendInfo() and model building refuse to run before initialisation', () => {
    expect(() => currentBackendInfo()).toThrow(/await initBackend\(\)/);
    expect(() => initialWeights('mlp', 1)).toThrow(/await initBackend\(\)/);
  });

  it.skipIf(tfjsNodeInstalled)('an explicit tensorflow request says tfjs-node is missing and what to do', async () => {
    await expect(initBackend('tensorflow')).rejects.toThrow(
      /'tensorflow' cannot start: @tensorflow\/tfjs-node is not installed.*FLAMBDA_BACKEND=wasm/,
    );
  });

  it('an explicit wasm request with no binaries in FLAMBDA_WASM_DIR names the missing file', async () => {
    const empty = path.join(scratch, 'empty');
    await withEnv({ FLAMBDA_WASM_DIR: empty }, async () => {
      await expect(initBackend('wasm')).rejects.toThrow(
        new RegExp(`${empty}/tfjs-backend-wasm-simd\\.wasm does not exist \\(folder from FLAMBDA_WASM_DIR\\)`),
      );
    });
  });

  it('starts wasm from a copied binary (the Lambda layout), once, with the training kernels', async () => {
    const taskRoot = path.join(scratch, 'task-root');
    mkdirSync(taskRoot);
    copyFileSync(path.join(installedWasmDir, 'tfjs-backend-wasm-simd.wasm'), path.join(taskRoot, 'tfjs-backend-wasm-simd.wasm'));

    const info = await withEnv({ FLAMBDA_WASM_DIR: taskRoot, FLAMBDA_BACKEND: undefined }, () => initBackend());
    expect(info.backend).toBe('wasm');
    expect(info.tfjsVersion).toBe(tf.version_core);
    expect(info.details).toMatchObject({
      simd: true,
      threads: 1,
      binary: path.join(taskRoot, 'tfjs-backend-wasm-simd.wasm'),
      trainingKernels: 'Conv2DBackpropFilter,Conv2DBackpropInput,BatchMatMul,MaxPoolGrad',
      // relaxed SIMD: built into Node 22, switched on by flag in Node 20; every CPU we run on has FMA
      convolutions: 'flambda relaxed-SIMD FMA',
      fma: true,
      relaxedSimd: /^11\.3\./.test(process.versions.v8) ? 'enabled with --experimental-wasm-relaxed-simd' : 'built in',
    });
    expect(backendLabel(info)).toBe('wasm+fma');
    expect(tf.getBackend()).toBe('wasm');
    // tfjs 4.22 has no wasm Conv2DBackpropFilter of its own: this one is ours.
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();

    expect(await initBackend()).toBe(info);
    expect(await initBackend('auto')).toBe(info);
    expect(await initBackend('wasm')).toBe(info);
    expect(currentBackendInfo()).toBe(info);
    await expect(initBackend('cpu')).rejects.toThrow(/'wasm' TensorFlow.js backend is already running.*FLAMBDA_BACKEND=cpu/);

    await tf.setBackend('cpu');
    expect(await initBackend()).toBe(info);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('FLAMBDA_WASM_FMA=off keeps XNNPACK for the convolutions; another value is an error that names it', () => {
    const off = runInChild({ FLAMBDA_WASM_FMA: 'off' }, ['wasm']);
    expect(off.steps).toEqual([{ ok: true, backend: 'wasm', label: 'wasm', convolutions: 'XNNPACK' }]);
    const wrong = runInChild({ FLAMBDA_WASM_FMA: 'yes' }, ['wasm']);
    expect(wrong.steps[0]?.ok).toBe(false);
    expect(wrong.steps[0]?.error).toMatch(/FLAMBDA_WASM_FMA='yes' is not a setting: use auto \(the default\) or off/);
  });

  it('a wasm binary tfjs cannot instantiate is an error when asked for; FLAMBDA_BACKEND=auto then falls back to cpu loudly', () => {
    const corrupt = path.join(scratch, 'corrupt');
    mkdirSync(corrupt);
    writeFileSync(path.join(corrupt, 'tfjs-backend-wasm-simd.wasm'), 'not a wasm module');
    const { steps, stderr } = runInChild({ FLAMBDA_WASM_DIR: corrupt, FLAMBDA_BACKEND: 'auto' }, ['wasm', 'default']);
    expect(steps).toHaveLength(2);
    expect(steps[0]).toMatchObject({ ok: false });
    expect(steps[0]!.error).toMatch(/'wasm' cannot start: tfjs could not instantiate .*corrupt\/tfjs-backend-wasm-simd\.wasm: .*expected magic word/);
    expect(steps[1]).toEqual({ ok: true, backend: 'cpu', label: 'cpu' });
    expect(stderr).toMatch(/\[flambda\] WARNING training on the pure-JavaScript 'cpu' backend: about 100× slower/);
    expect(stderr).toMatch(/skipped: .*'wasm' cannot start/);
  });
});
