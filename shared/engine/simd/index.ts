import { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { TensorInfo } from '@tensorflow/tfjs';
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';

/** Our own wasm SIMD kernels (kernels.wat), running on the tfjs wasm heap. Arguments are byte offsets and sizes. */
export interface SimdKernels {
  /** out[a, b, o] = Σ xpad[n, i + a, j + b] · dz[n, i, j, o]; `filters` a multiple of 16 */
  conv1FilterGrad(xpad: number, dz: number, out: number, n: number, h: number, w: number, filters: number, k: number): void;
  /** max-pool 2×2/2 + relu backward into dz [n,h,w,c] and/or dzT [c,h,w,n] (offset 0: not wanted), bias gradient summed */
  maxPoolReluBackward(x: number, pooled: number, dy: number, dz: number, dzT: number, bias: number, n: number, h: number, w: number, c: number): void;
  /** v ← momentum·v + g; out ← w − lr·v over `count` floats (`out` may be `w`; with momentum 0, `v` may be `g`) */
  sgdMomentum(w: number, g: number, v: number, out: number, count: number, lr: number, momentum: number): void;
  /** where a tensor's data starts in the heap */
  offset(info: TensorInfo): number;
}

/** The filters of conv1FilterGrad come in blocks of this many (four f32x4 accumulators). */
export const CONV1_FILTER_BLOCK = 16;

/** The slice of the WebAssembly JS API used here (this project's TypeScript libs do not declare its values). */
export interface WebAssemblyApi {
  readonly Module: new (bytes: Uint8Array) => unknown;
  readonly Instance: new (module: unknown, imports: Record<string, Record<string, unknown>>) => { readonly exports: Record<string, unknown> };
  readonly Memory: abstract new (...args: never[]) => unknown;
  validate(bytes: Uint8Array): boolean;
}

export function wasmApi(): WebAssemblyApi {
  return (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
}

/** The tfjs wasm backend's memory, or undefined for a tfjs build that hides it. */
export function tfjsMemory(backend: BackendWasm): unknown {
  // Emscripten keeps the instance's exports, memory included, on Module.asm.
  const memory = (backend.wasm as unknown as { asm?: { memory?: unknown } }).asm?.memory;
  return memory instanceof wasmApi().Memory ? memory : undefined;
}

/** Where a tensor's data starts in the wasm heap. */
export function heapOffset(backend: BackendWasm, info: TensorInfo): number {
  const data = backend.dataIdMap.get(info.dataId);
  if (!data || typeof data.memoryOffset !== 'number') throw new Error('tensor is not on the wasm heap');
  return data.memoryOffset;
}

const loaded = new WeakMap<BackendWasm, SimdKernels | null>();

/**
 * The kernels bound to this backend's memory, or undefined where they cannot run (a tfjs build that hides its
 * memory, or a runtime without wasm SIMD: then tfjs itself runs without SIMD too and the tape loop is used).
 */
export function simdKernels(backend: BackendWasm): SimdKernels | undefined {
  if (!loaded.has(backend)) loaded.set(backend, instantiate(backend) ?? null);
  return loaded.get(backend) ?? undefined;
}

function instantiate(backend: BackendWasm): SimdKernels | undefined {
  const memory = tfjsMemory(backend);
  if (!memory) return undefined;
  const wasm = wasmApi();
  let exports: Record<string, unknown>;
  try {
    const module = new wasm.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
    exports = new wasm.Instance(module, { env: { memory } }).exports;
  } catch {
    return undefined;
  }
  const { conv1FilterGrad, sgdMomentum, maxPoolReluBackward } = exports;
  if (typeof conv1FilterGrad !== 'function' || typeof sgdMomentum !== 'function' || typeof maxPoolReluBackward !== 'function') return undefined;
  return {
    maxPoolReluBackward: maxPoolReluBackward as SimdKernels['maxPoolReluBackward'],
    conv1FilterGrad: conv1FilterGrad as SimdKernels['conv1FilterGrad'],
    sgdMomentum: sgdMomentum as SimdKernels['sgdMomentum'],
    offset: (info) => heapOffset(backend, info),
  };
}
