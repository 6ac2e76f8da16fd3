import { createHash } from 'node:crypto';
import { ObjectChangedError, type BoundedObject, type GetOptions, type ObjectInfo, type ObjectStore, type SendOptions } from '../../shared/cloud/ports.js';

/**
 * A deterministic S3 and SQS for fault-injection runs (test-only): a virtual clock, an in-memory bucket, and queues with
 * the SQS semantics the pipeline relies on — at-least-once delivery, visibility timeouts and ChangeMessageVisibility,
 * per-message delays on standard queues, FIFO groups (one message in flight per group, in order) with the 5-minute
 * deduplication window, and redrive to a dead-letter queue after maxReceiveCount receives. What it does not model is
 * listed in docs/reliability.md. The real emulator (fauxqs) is what the rest of the suite runs against; this one exists
 * because a sweep of hundreds of crash points must decide every delivery order from a seed.
 */

export class SimClock {
  constructor(public nowMs: number) {}
  now(): Date {
    return new Date(this.nowMs);
  }
}

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

/** Content hashes for records (a config uploaded twice keeps its ETag, as on S3); a cheap unique tag for weights and shards. */
const HASHED_BYTES = 64 * 1024;

export interface StoredObject {
  readonly body: Uint8Array;
  readonly eTag: string;
  /** ms since the epoch, to the second as S3 keeps it */
  readonly modifiedAt: number;
}

export class SimStore implements ObjectStore {
  readonly objects = new Map<string, StoredObject>();
  private versions = 0;

  constructor(
    readonly bucket: string,
    private readonly clock?: SimClock,
  ) {}

  async put(key: string, body: Uint8Array | string): Promise<void> {
    // Not copied: the pipeline never changes a buffer after writing it, and runs read hundreds of MB.
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    const eTag = bytes.byteLength <= HASHED_BYTES ? md5(bytes) : `large-${bytes.byteLength}-${++this.versions}`;
    const now = this.clock?.nowMs ?? 0;
    this.objects.set(key, { body: bytes, eTag: `"${eTag}"`, modifiedAt: now - (now % 1000) });
  }

  async get(key: string, options: GetOptions = {}): Promise<Uint8Array | undefined> {
    const object = this.objects.get(key);
    if (!object) return undefined;
    if (options.ifMatch && options.ifMatch.replace(/"/g, '') !== object.eTag.replace(/"/g, '')) {
      throw new ObjectChangedError(`sim://${key} changed: ETag is ${object.eTag}, not ${options.ifMatch}`);
    }
    return object.body;
  }

  async getText(key: string): Promise<string | undefined> {
    const body = await this.get(key);
    return body === undefined ? undefined : new TextDecoder().decode(body);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const object = this.objects.get(key);
    return object ? { size: object.body.byteLength, eTag: object.eTag, lastModified: new Date(object.modifiedAt).toISOString() } : undefined;
  }

  async getAtMost(key: string, maxBytes: number): Promise<BoundedObject | undefined> {
    const info = await this.head(key);
    const object = this.objects.get(key);
    if (!info || !object) return undefined;
    return object.body.byteLength > maxBytes ? { info } : { info, bytes: object.body };
  }

  async exists(key: string): Promise<boolean> {
    return this.objects.has(key);
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  /** The bucket as it is now (bodies are never changed in place, so sharing them is safe). */
  capture(): StoreSnapshot {
    return { objects: new Map(this.objects), versions: this.versions };
  }

  restore(snapshot: StoreSnapshot): void {
    this.objects.clear();
    for (const [key, value] of snapshot.objects) this.objects.set(key, value);
    this.versions = snapshot.versions;
  }
}

export interface StoreSnapshot {
  readonly objects: ReadonlyMap<string, StoredObject>;
  readonly versions: number;
}

export interface QueueSnapshot {
  readonly messages: readonly Envelope[];
  readonly deadLetters: readonly Envelope[];
  readonly deduplication: ReadonlyMap<string, number>;
  readonly sequence: number;
  readonly receipts: number;
}

export interface Envelope {
  readonly id: string;
  readonly body: string;
  readonly groupId: string | undefined;
  readonly dedupId: string | undefined;
  readonly seq: number;
  readonly sentAt: number;
  visibleAt: number;
  receiveCount: number;
  receipt: string | undefined;
}

export interface SimQueueSettings {
  readonly name: string;
  readonly visibilityTimeoutSeconds: number;
  readonly maxReceiveCount: number;
}

const DEDUP_WINDOW_MS = 5 * 60_000;
const MAX_DELAY_SECONDS = 900;

export class SimQueue {
  readonly fifo: boolean;
  readonly url: string;
  readonly messages: Envelope[] = [];
  readonly deadLetters: Envelope[] = [];
  private readonly deduplication = new Map<string, number>();
  private sequence = 0;
  private receipts = 0;

  constructor(
    readonly settings: SimQueueSettings,
    private readonly clock: SimClock,
  ) {
    this.fifo = settings.name.endsWith('.fifo');
    this.url = `https://sqs.sim/000000000000/${settings.name}`;
  }

  /** SendMessage, with the checks SqsMessageQueue makes and SQS's FIFO deduplication. */
  send(body: unknown, options: SendOptions = {}): void {
    const now = this.clock.nowMs;
    if (this.fifo && (!options.groupId || !options.deduplicationId)) throw new Error(`${this.settings.name}: FIFO messages need a group and a deduplication id`);
    if (this.fifo && options.delaySeconds !== undefined) throw new Error(`${this.settings.name}: FIFO queues cannot delay single messages`);
    const delay = options.delaySeconds ?? 0;
    if (!Number.isInteger(delay) || delay < 0 || delay > MAX_DELAY_SECONDS) throw new Error(`delaySeconds must be an integer in 0–900, got ${delay}`);
    if (this.fifo) {
      if ((options.deduplicationId ?? '').length > 128) throw new Error('a deduplication id is at most 128 characters');
      const seenAt = this.deduplication.get(options.deduplicationId!);
      if (seenAt !== undefined && now - seenAt < DEDUP_WINDOW_MS) return;
      this.deduplication.set(options.deduplicationId!, now);
    }
    const seq = ++this.sequence;
    this.messages.push({
      id: `${this.settings.name}-${seq}`,
      body: JSON.stringify(body),
      groupId: options.groupId,
      dedupId: options.deduplicationId,
      seq,
      sentAt: now,
      visibleAt: now + delay * 1000,
      receiveCount: 0,
      receipt: undefined,
    });
  }

  private inFlight(message: Envelope, now: number): boolean {
    return message.receipt !== undefined && message.visibleAt > now;
  }

  /** Messages a receive could return now; on a FIFO queue the head of each group that has nothing in flight. */
  deliverable(): Envelope[] {
    const now = this.clock.nowMs;
    if (!this.fifo) return this.messages.filter((message) => message.visibleAt <= now);
    const heads = new Map<string, Envelope>();
    const blocked = new Set<string>();
    for (const message of this.messages) {
      const group = message.groupId ?? '';
      if (this.inFlight(message, now)) blocked.add(group);
      const head = heads.get(group);
      if (!head || message.seq < head.seq) heads.set(group, message);
    }
    return [...heads.values()].filter((message) => !blocked.has(message.groupId ?? '') && message.visibleAt <= now);
  }

  /** ReceiveMessage of one message: counts the receive, or moves it to the dead-letter queue past maxReceiveCount. */
  receive(message: Envelope): Envelope | undefined {
    const index = this.messages.indexOf(message);
    if (index < 0) throw new Error('receive of a message that is not in the queue');
    if (message.receiveCount >= this.settings.maxReceiveCount) {
      this.messages.splice(index, 1);
      this.deadLetters.push(message);
      return undefined;
    }
    message.receiveCount++;
    message.receipt = `${message.id}/r${++this.receipts}`;
    message.visibleAt = this.clock.nowMs + this.settings.visibilityTimeoutSeconds * 1000;
    return message;
  }

  /** DeleteMessage: a stale receipt handle (the message was received again since) deletes nothing, as on SQS. */
  delete(receipt: string): void {
    const index = this.messages.findIndex((message) => message.receipt === receipt);
    if (index >= 0) this.messages.splice(index, 1);
  }

  changeVisibility(receipt: string, seconds: number): void {
    const message = this.messages.find((candidate) => candidate.receipt === receipt);
    if (!message || !this.inFlight(message, this.clock.nowMs)) throw new Error(`${this.settings.name}: receipt handle ${receipt} is not in flight (ReceiptHandleIsInvalid)`);
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 43_200) throw new Error(`VisibilityTimeout must be an integer in 0–43200, got ${seconds}`);
    message.visibleAt = this.clock.nowMs + seconds * 1000;
  }

  /** When the next message becomes visible, if any is waiting. */
  nextVisibleAt(): number | undefined {
    const now = this.clock.nowMs;
    const times = this.messages.map((message) => message.visibleAt).filter((time) => time > now);
    return times.length ? Math.min(...times) : undefined;
  }

  capture(): QueueSnapshot {
    return {
      messages: this.messages.map((message) => ({ ...message })),
      deadLetters: this.deadLetters.map((message) => ({ ...message })),
      deduplication: new Map(this.deduplication),
      sequence: this.sequence,
      receipts: this.receipts,
    };
  }

  restore(snapshot: QueueSnapshot): void {
    this.messages.splice(0, this.messages.length, ...snapshot.messages.map((message) => ({ ...message })));
    this.deadLetters.splice(0, this.deadLetters.length, ...snapshot.deadLetters.map((message) => ({ ...message })));
    this.deduplication.clear();
    for (const [id, at] of snapshot.deduplication) this.deduplication.set(id, at);
    this.sequence = snapshot.sequence;
    this.receipts = snapshot.receipts;
  }

  /** A copy of a message sent again, as SQS's at-least-once delivery may hand one out twice. */
  duplicate(message: Envelope): void {
    const seq = ++this.sequence;
    this.messages.push({ ...message, id: `${this.settings.name}-${seq}`, seq, receiveCount: 0, receipt: undefined, visibleAt: this.clock.nowMs });
  }
}
