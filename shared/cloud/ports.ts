/**
 * The ports the pipeline talks through. Only shared/cloud/*-adapter files implement them with the AWS SDK.
 */
export interface ObjectStore {
  readonly bucket: string;
  put(key: string, body: Uint8Array | string, contentType?: string): Promise<void>;
  /** undefined when the key does not exist */
  get(key: string): Promise<Uint8Array | undefined>;
  getText(key: string): Promise<string | undefined>;
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

export interface MessageQueue {
  readonly url: string;
  send(body: unknown, options?: SendOptions): Promise<void>;
}

/** The queues the pipeline sends to, by role. */
export interface PipelineQueues {
  readonly train: MessageQueue;
  readonly aggregate: MessageQueue;
  readonly timer: MessageQueue;
}
