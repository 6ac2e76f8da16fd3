import type * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset } from './simd/index.js';
import { callKernel, transpose } from './wasm-kernels.js';

/** Float32 tensors on the wasm heap, outside the tfjs engine: nothing here is tracked, so every owner frees. */
export class Heap {
  constructor(readonly backend: BackendWasm) {}

  alloc(shape: readonly number[]): TensorInfo {
    return this.backend.makeOutput([...shape], 'float32');
  }

  /** A view that stays valid only until the next allocation (the heap may grow and detach it). */
  view(info: TensorInfo): Float32Array {
    return this.backend.typedArrayFromHeap(info) as Float32Array;
  }

  free(...infos: readonly (TensorInfo | undefined)[]): void {
    for (const info of infos) if (info) this.backend.disposeData(info.dataId);
  }

  /** Same data, another shape: never free both the alias and its source. */
  alias(info: TensorInfo, shape: readonly number[]): TensorInfo {
    return { dataId: info.dataId, shape: [...shape], dtype: info.dtype };
  }

  run(kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): TensorInfo {
    return callKernel(kernelName, this.backend, inputs, attrs);
  }

  transpose(info: TensorInfo, perm: number[]): TensorInfo {
    return transpose(this.backend, info, perm);
  }

  /** where the tensor's data starts in the heap, in bytes */
  offset(info: TensorInfo): number {
    return heapOffset(this.backend, info);
  }
}
