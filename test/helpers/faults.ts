import type { ObjectStore } from '../../shared/cloud/ports.js';

/**
 * Test-only fault injection over a real ObjectStore (the local cloud's, so S3 and SQS stay real): a rule fails a
 * matching operation before or after it reaches the store. Production code is untouched; the handlers just get a
 * context whose store is this wrapper.
 */
export type StoreOperation = 'put' | 'get' | 'getText' | 'getAtMost' | 'head' | 'exists' | 'list' | 'delete';

export interface StoreFault {
  readonly operation: StoreOperation | readonly StoreOperation[];
  readonly key: RegExp;
  /** writes only: the body (as text) must match too */
  readonly body?: RegExp;
  /** writes only: the body must not match */
  readonly bodyNot?: RegExp;
  /** 'before': the operation never happens; 'after': it happens, then the caller sees the error (a lost answer) */
  readonly when: 'before' | 'after';
  /** matching operations to let through first (default 0) */
  readonly skip?: number;
  /** how many matching operations to fail after that (default 1) */
  readonly times?: number;
  /** the error thrown; default an ObjectStoreError-like infrastructure failure */
  readonly error?: () => Error;
  /** slow the operation down by this much instead of failing it (a slow S3, to widen a race window) */
  readonly delayMs?: number;
}

export interface StoreCall {
  readonly operation: StoreOperation;
  readonly key: string;
  readonly bytes?: number;
}

/** What a failed S3 call looks like to the pipeline: shared/cloud/s3-store.ts's ObjectStoreError. */
export class InjectedStoreError extends Error {
  override name = 'ObjectStoreError';
}

const OPERATIONS: ReadonlySet<string> = new Set<StoreOperation>(['put', 'get', 'getText', 'getAtMost', 'head', 'exists', 'list', 'delete']);

function bodyText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return new TextDecoder().decode(body.subarray(0, 64 * 1024));
  return '';
}

/** `store` with `faults` applied; `calls` records every operation (with the bytes read or written). */
export function faultyStore(store: ObjectStore, faults: readonly StoreFault[] = [], calls: StoreCall[] = []) {
  const seen = faults.map(() => 0);
  const fired: { fault: number; operation: StoreOperation; key: string }[] = [];

  const matching = (operation: StoreOperation, key: string, body: unknown, when: 'before' | 'after'): StoreFault | undefined => {
    for (const [index, fault] of faults.entries()) {
      const operations = typeof fault.operation === 'string' ? [fault.operation] : fault.operation;
      if (fault.when !== when || !operations.includes(operation) || !fault.key.test(key)) continue;
      if (fault.body && !fault.body.test(bodyText(body))) continue;
      if (fault.bodyNot && fault.bodyNot.test(bodyText(body))) continue;
      const count = ++seen[index]!;
      const skip = fault.skip ?? 0;
      if (count > skip && count <= skip + (fault.times ?? 1)) {
        fired.push({ fault: index, operation, key });
        return fault;
      }
    }
    return undefined;
  };
  const fail = (fault: StoreFault, operation: StoreOperation, key: string): never => {
    throw fault.error?.() ?? new InjectedStoreError(`S3 ${operation} s3://${store.bucket}/${key} failed: injected fault (InternalError: 500)`);
  };

  const wrapped = new Proxy(store, {
    get(target, property, receiver) {
      const original: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || !OPERATIONS.has(property) || typeof original !== 'function') {
        return typeof original === 'function' ? (original as (...args: unknown[]) => unknown).bind(target) : original;
      }
      const operation = property as StoreOperation;
      return async (key: string, ...rest: unknown[]) => {
        const body = operation === 'put' ? rest[0] : undefined;
        const before = matching(operation, key, body, 'before');
        if (before?.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, before.delayMs));
        else if (before) fail(before, operation, key);
        const result: unknown = await (original as (...args: unknown[]) => Promise<unknown>).call(target, key, ...rest);
        const read = operation === 'getAtMost' ? (result as { bytes?: Uint8Array } | undefined)?.bytes : result;
        const bytes = read instanceof Uint8Array ? read.byteLength : typeof read === 'string' ? read.length : body instanceof Uint8Array ? body.byteLength : typeof body === 'string' ? body.length : undefined;
        calls.push({ operation, key, ...(bytes !== undefined ? { bytes } : {}) });
        const after = matching(operation, key, body, 'after');
        if (after) fail(after, operation, key);
        return result;
      };
    },
  });
  return { store: wrapped, calls, fired };
}
