/**
 * The ports the pipeline talks through. Only shared/cloud/*-adapter files implement them with the AWS SDK.
 */
export interface ObjectInfo {
  readonly size: number;
  /** as S3 returns it, quotes included */
  readonly eTag: string;
  /** when the object was last written, by the store's clock, to the second (ISO-8601); absent if the store does not say */
  readonly lastModified?: string;
}

export interface GetOptions {
  /** Read only this version (S3 `IfMatch`, and the returned ETag checked too): throws ObjectChangedError otherwise. */
  readonly ifMatch?: string;
}

/** What a bounded read found: the object's size, ETag and date, and its bytes unless it was larger than asked. */
export interface BoundedObject {
  readonly info: ObjectInfo;
  /** undefined when the object is larger than the bound: its body was not read */
  readonly bytes?: Uint8Array;
}

/** A conditional read found another version of the object than the one asked for. */
export class ObjectChangedError extends Error {
  override name = 'ObjectChangedError';
}

export interface ObjectStore {
  readonly bucket: string;
  put(key: string, body: Uint8Array | string, contentType?: string): Promise<void>;
  /** undefined when the key does not exist */
  get(key: string, options?: GetOptions): Promise<Uint8Array | undefined>;
  getText(key: string): Promise<string | undefined>;
  /** size and ETag without the body (HEAD): how a reader refuses an object too large to read; undefined when absent */
  head(key: string): Promise<ObjectInfo | undefined>;
  /**
   * One GET that reads the body only if the object is at most maxBytes (S3 sends the size, ETag and date before the
   * body): what a HEAD and then a GET tell, in one request. undefined when absent.
   */
  getAtMost(key: string, maxBytes: number): Promise<BoundedObject | undefined>;
  exists(key: string): Promise<boolean>;
  /** every key under prefix (paginates) */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}

export interface SendOptions {
  /** FIFO queues only */
  readonly groupId?: string;
  /** FIFO queues only */
  readonly deduplicationId?: string;
  /** standard queues only, 0–900 */
  readonly delaySeconds?: number;
}

/** One message of a batch send. */
export interface BatchEntry {
  readonly body: unknown;
  readonly options?: SendOptions;
}

export interface MessageQueue {
  readonly url: string;
  send(body: unknown, options?: SendOptions): Promise<void>;
  /**
   * Sends every entry, up to 10 a call (SQS SendMessageBatch); entries SQS refused for a reason of its own are sent
   * again. Throws if some could not be sent: the caller's retry then sends them all again, so each message must be
   * harmless twice (a train message is: the trainer and the aggregator absorb duplicates).
   */
  sendBatch(entries: readonly BatchEntry[]): Promise<void>;
  /**
   * Makes received messages visible again after their `seconds`, up to 10 a call (SQS ChangeMessageVisibilityBatch):
   * how a handler keeps its whole batch leased, and hands the records it failed back within seconds instead of the
   * queue's visibility timeout. Throws, naming them, if SQS refused some.
   */
  changeVisibilityBatch(entries: readonly VisibilityEntry[]): Promise<void>;
}

/** One message of a visibility change in a batch. */
export interface VisibilityEntry {
  readonly receiptHandle: string;
  readonly seconds: number;
}

/** The queues the pipeline sends to, by role. */
export interface PipelineQueues {
  readonly train: MessageQueue;
  readonly aggregate: MessageQueue;
  readonly timer: MessageQueue;
}
