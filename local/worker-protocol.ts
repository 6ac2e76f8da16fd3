import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';

/** What a train worker needs to reach the local cloud and build its handler. */
export interface TrainWorkerData {
  /** file: URL of local/train-worker.ts, imported by the bootstrap (through tsx when it is TypeScript). */
  readonly entry: string;
  /** file: URL of the module exporting createTrainHandler. */
  readonly handlerModule: string;
  readonly endpoint: string;
  readonly region: string;
  readonly bucket: string;
  readonly queueUrls: { readonly train: string; readonly aggregate: string; readonly timer: string };
}

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

export type ToWorker = { readonly type: 'invoke'; readonly id: number; readonly event: SQSEvent };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly id: number; readonly response: SQSBatchResponse | undefined }
  | { readonly type: 'error'; readonly id: number; readonly error: SerializedError }
  | { readonly type: 'log'; readonly event: string; readonly fields?: Readonly<Record<string, unknown>> };

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  // Powertools' FullBatchFailureError keeps the causes in recordErrors, which would not survive the thread boundary.
  const recordErrors: unknown = (error as { recordErrors?: unknown }).recordErrors;
  const causes = Array.isArray(recordErrors)
    ? recordErrors.map((cause, index) => `\nrecord error ${index + 1}: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`).join('')
    : '';
  const stack = (error.stack ?? `${error.name}: ${error.message}`) + causes;
  return { name: error.name, message: error.message, stack };
}
