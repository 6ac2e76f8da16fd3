import v8 from 'node:v8';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { CONV_WASM_FMA_BASE64, CONV_WASM_SIMD_BASE64 } from './conv-wasm.js';
import { tfjsMemory, wasmApi } from './index.js';

/**
 * Our convolution and matrix-multiply kernels (conv.wat) bound to the tfjs wasm heap. Arguments are byte offsets,
 * byte strides and sizes; see conv.wat for what each computes.
 */
export interface ConvKernels {
  /** 'fma': relaxed SIMD's fused multiply-add; 'mul-add': the same kernels with a multiply and an add */
  readonly madd: MaddBuild;
  conv2d(
    x: number, xRow: number, xImage: number, w: number, wRow: number, wBlock: number, bias: number, y: number, yRow: number, yImage: number,
    n: number, h: number, width: number, c: number, o: number, k: number, relu: number,
  ): void;
  /** [rows, o] → [o/8, rows, 8] */
  packPanels(src: number, dst: number, rows: number, o: number): void;
  conv2dFilterGrad(
    x: number, xRow: number, xImage: number, dz: number, dzPixel: number, dzRow: number, dzImage: number, dzBlock: number, dw: number,
    n: number, h: number, width: number, c: number, o: number, k: number,
  ): void;
  gemm(
    a: number, aRow: number, aCol: number, b: number, bRow: number, c: number, cRow: number,
    m: number, cols: number, depth: number, bias: number, relu: number, accumulate: number,
  ): void;
  maxPool2x2(x: number, y: number, yRow: number, yImage: number, n: number, h: number, w: number, c: number): void;
  poolReluBackward(
    x: number, pooled: number, pRow: number, pImage: number, dy: number, dyImage: number, dyStep: number,
    dz: number, dzRow: number, dzImage: number, panels: number, panelImage: number, panelBlock: number,
    bias: number, n: number, h: number, w: number, c: number,
  ): void;
}

export type MaddBuild = 'fma' | 'mul-add';

/** The output channels of conv2d and conv2dFilterGrad come in blocks of this many. */
export const CONV_CHANNEL_BLOCK = 8;

/**
 * f32x4.relaxed_madd(1 + 2⁻²³, 1 − 2⁻²³, −1): −2⁻⁴⁶ when fused (one rounding), 0 when the runtime multiplies and
 * adds. Relaxed SIMD lets a runtime do either, so validating the instruction is not enough to know we get an FMA.
 * (module (func (export "f") (result f32) (f32x4.extract_lane 0 (f32x4.relaxed_madd (f32x4.splat a) (… b) (… c)))))
 */
const FUSED_PROBE = Uint8Array.from(Buffer.from('AGFzbQEAAAABBQFgAAF9AwIBAAcFAQFmAAAKHwEdAEMBAIA//RND/v9/P/0TQwAAgL/9E/2FAv0fAAs=', 'base64'));

/** Whether the runtime can run the 'fma' build, and how that was arranged. */
export interface RelaxedSimdSupport {
  /** 'built in': V8 ≥ 11.4 (Node 22); 'flag': enabled here with --experimental-wasm-relaxed-simd (V8 11.3, Node 20) */
  readonly status: 'built in' | 'flag' | 'unavailable' | 'off';
  /** relaxed_madd really rounds once on this CPU (the speed-up needs hardware FMA) */
  readonly fused: boolean;
}

let support: RelaxedSimdSupport | undefined;

/**
 * Relaxed SIMD, once per process. V8 11.3 (Node 20) has it behind --experimental-wasm-relaxed-simd (V8 11.4, Chrome
 * 114, turned it on by default); V8's flags are process-wide and read when a module is validated or compiled, so
 * setting the flag here, before our module is compiled, turns it on for this thread and for worker threads (checked
 * in both). It only adds the instructions: tfjs's own module does not use them, and every kernel of ours is tested
 * on Node 20 with the flag. No other flag is touched. FLAMBDA_WASM_FMA=off leaves it alone (and our kernels off).
 */
export function relaxedSimdSupport(env: NodeJS.ProcessEnv = process.env): RelaxedSimdSupport {
  if (support) return support;
  const setting = env.FLAMBDA_WASM_FMA?.trim().toLowerCase();
  if (setting && setting !== 'auto' && setting !== 'off') {
    throw new Error(`FLAMBDA_WASM_FMA='${env.FLAMBDA_WASM_FMA}' is not a setting: use auto (the default) or off`);
  }
  if (setting === 'off') return (support = { status: 'off', fused: false });
  const api = wasmApi();
  let status: RelaxedSimdSupport['status'];
  // Judged by the V8 version, not by a first validate(): another thread of this process may have set the flag already.
  if (/^11\.3\./.test(process.versions.v8)) {
    if (!api.validate(FUSED_PROBE)) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    status = api.validate(FUSED_PROBE) ? 'flag' : 'unavailable';
  } else {
    status = api.validate(FUSED_PROBE) ? 'built in' : 'unavailable';
  }
  let fused = false;
  if (status !== 'unavailable') {
    const probe = new api.Instance(new api.Module(FUSED_PROBE), {}).exports.f;
    fused = typeof probe === 'function' && probe() === -(2 ** -46);
  }
  return (support = { status, fused });
}

const instances = new WeakMap<BackendWasm, Map<MaddBuild, ConvKernels | null>>();

/**
 * One build of the kernels bound to this backend's memory, or undefined where it cannot run (the 'fma' build
 * without relaxed SIMD, a tfjs build that hides its memory). Call relaxedSimdSupport() first for the 'fma' one.
 */
export function convKernels(backend: BackendWasm, madd: MaddBuild): ConvKernels | undefined {
  let builds = instances.get(backend);
  if (!builds) instances.set(backend, (builds = new Map()));
  if (!builds.has(madd)) builds.set(madd, instantiate(backend, madd) ?? null);
  return builds.get(madd) ?? undefined;
}

const EXPORTS = ['conv2d', 'packPanels', 'conv2dFilterGrad', 'gemm', 'maxPool2x2', 'poolReluBackward'] as const;

function instantiate(backend: BackendWasm, madd: MaddBuild): ConvKernels | undefined {
  const memory = tfjsMemory(backend);
  if (!memory) return undefined;
  const api = wasmApi();
  const bytes = Buffer.from(madd === 'fma' ? CONV_WASM_FMA_BASE64 : CONV_WASM_SIMD_BASE64, 'base64');
  if (!api.validate(bytes)) return undefined;
  const { exports } = new api.Instance(new api.Module(bytes), { env: { memory } });
  const functions: Partial<Record<(typeof EXPORTS)[number], unknown>> = {};
  for (const name of EXPORTS) {
    if (typeof exports[name] !== 'function') return undefined;
    functions[name] = exports[name];
  }
  return { madd, ...(functions as Omit<ConvKernels, 'madd'>) };
}
