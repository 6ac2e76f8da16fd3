import type { BackendInfo } from './types.js';

/**
 * The backend in one word for a summary line: 'wasm+fma' when our relaxed-SIMD FMA kernels train on it (see
 * simd/conv.ts). Free of tfjs, so the CLI can print it without loading an engine.
 */
export function backendLabel(info: BackendInfo): string {
  return info.backend === 'wasm' && info.details.fma === true ? 'wasm+fma' : info.backend;
}
