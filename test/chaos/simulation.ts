import { createHash } from 'node:crypto';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { createAggregateHandler } from '../../functions/aggregate.js';
import { createStartHandler } from '../../functions/start.js';
import { createTimerHandler } from '../../functions/timer.js';
import { createTrainHandler } from '../../functions/train.js';
import { s3EventFor, sqsEventFor } from '../../local/events.js';
import type { MessageQueue, ObjectStore, PipelineQueues } from '../../shared/cloud/ports.js';
import type { QueueRole } from '../../shared/cloud/resources.js';
import { MNIST_FILES, readMnistFile, type MnistFile } from '../../shared/data/mnist.js';
import { initBackend } from '../../shared/engine/backend.js';
import type { PipelineContext } from '../../shared/pipeline/context.js';
import { loadTestSet, loadTrainSet } from '../../shared/pipeline/datasets.js';
import { keys } from '../../shared/protocol/keys.js';
import { statusSchema } from '../../shared/protocol/records.js';
import { SimClock, SimQueue, SimStore, type Envelope, type QueueSnapshot, type StoreSnapshot } from './sim-cloud.js';
import type { FunctionName, InvocationStats, Operation, OperationKind, Schedule, SimOutcome, SimSettings } from './sim-types.js';

export type * from './sim-types.js';

/**
 * One experiment run to quiescence on the simulated cloud with the real handlers (functions/*.ts, so real training,
 * aggregation and evaluation), under a fault schedule. Every port call an invocation makes goes through this class,
 * which numbers the mutating ones (S3 PUT/DELETE, SQS send, visibility change, and the event source's delete after
 * a successful invocation) and the reads, and injects the schedule's faults at those numbers. Deliveries are chosen
 * one at a time from the messages a receive could return, by a seeded random stream: the same schedule is the same run.
 */


/** A round's per-client objects: its updates (and reports, and the files sent with them) and its verdicts. */
const CLIENT_OBJECT = /\/rounds\/\d+\/(updates|verdicts)\//;
const EXPERIMENT_RECORD = /^experiments\/[^/]+\/(config\.resolved|partition)\.json$/;

/** Bytes a read returned: a body, a text, or a bounded read's body (none when it was too large to read). */
function readBytes(result: unknown): number {
  if (result instanceof Uint8Array) return result.byteLength;
  if (typeof result === 'string') return Buffer.byteLength(result);
  const bytes = (result as { bytes?: unknown } | undefined)?.bytes;
  return bytes instanceof Uint8Array ? bytes.byteLength : 0;
}

export class SimulatedCrash extends Error {
  override name = 'SimulatedCrash';
}

/** What a failed S3 call looks like to the pipeline (shared/cloud/s3-store.ts's ObjectStoreError). */
class InjectedStoreError extends Error {
  override name = 'ObjectStoreError';
}

interface Invocation {
  readonly fn: FunctionName;
  readonly skewMs: number;
  dead: boolean;
  readonly stats: InvocationStats;
}

const BUCKET = 'flambda-sim';
const REGION = 'us-east-1';
const ROLES: readonly QueueRole[] = ['train', 'aggregate', 'timer'];
const QUEUE_NAMES: Readonly<Record<QueueRole, string>> = { train: 'flambda-train', aggregate: 'flambda-aggregate.fifo', timer: 'flambda-timer' };
const START_TIME = Date.parse('2026-11-26T12:00:00.000Z');

let mnist: Map<string, Uint8Array> | undefined;

/** MNIST, the tfjs backend and the datasets cache, loaded once: no run reads the datasets, so runs number reads alike. */
export async function prepareSimulation(): Promise<void> {
  if (mnist) return;
  await initBackend();
  const files = new Map<string, Uint8Array>();
  for (const file of Object.keys(MNIST_FILES) as MnistFile[]) files.set(keys.mnist(file), await readMnistFile(file));
  const store = new SimStore(BUCKET);
  for (const [key, body] of files) store.objects.set(key, { body, eTag: '"mnist"', modifiedAt: 0 });
  await loadTrainSet(store);
  await loadTestSet(store);
  mnist = files;
}

export const sha256 = (bytes: Uint8Array | undefined) => (bytes ? createHash('sha256').update(bytes).digest('hex') : undefined);

/** mulberry32: a small seeded generator whose whole state is one number, so a run can be resumed from a snapshot. */
class SimRandom {
  constructor(public state: number) {}

  nextInt(maxExclusive: number): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4_294_967_296) * maxExclusive);
  }
}

/**
 * Everything a run is between two deliveries: a run resumed from it goes on exactly as the run it was taken from, so a
 * schedule whose faults all lie later can start there instead of from the upload (the crash sweep's prefixes are the
 * same run).
 */
export interface SimSnapshot {
  readonly clockMs: number;
  readonly store: StoreSnapshot;
  readonly queues: Readonly<Record<QueueRole, QueueSnapshot>>;
  readonly operations: readonly Operation[];
  readonly reads: number;
  readonly deliveries: number;
  readonly invocations: number;
  readonly lostStarts: number;
  readonly starts: readonly PendingStart[];
  readonly stats: readonly InvocationStats[];
  readonly random: number;
}

interface PendingStart {
  readonly event: ReturnType<typeof s3EventFor>;
  readonly attempt: number;
  readonly visibleAt: number;
}

export class Simulation {
  readonly clock = new SimClock(START_TIME);
  readonly store = new SimStore(BUCKET, this.clock);
  readonly queues: Readonly<Record<QueueRole, SimQueue>>;
  private readonly random: SimRandom;
  private operations: Operation[] = [];
  private reads = 0;
  private deliveries = 0;
  private invocations = 0;
  private faultsFired = 0;
  /** S3 notifications whose start failed every attempt (Lambda's on-failure destination) */
  private lostStarts = 0;
  private invocationStats: InvocationStats[] = [];
  private starts: PendingStart[] = [];
  private current: Invocation | undefined;
  private readonly handlers;
  /**
   * The warm container every invocation runs in: what the handlers cache between invocations (config, partition,
   * what the aggregator remembers of a round). It outlives crashes, the harder case — a cache must hold only what S3
   * does — unless the settings replace it on a crash, as Lambda does.
   */
  private container = {};

  constructor(
    private readonly settings: SimSettings,
    private readonly schedule: Schedule,
  ) {
    if (!mnist) throw new Error('call prepareSimulation() first');
    for (const [key, body] of mnist) this.store.objects.set(key, { body, eTag: '"mnist"', modifiedAt: 0 });
    this.queues = {
      train: new SimQueue({ name: QUEUE_NAMES.train, ...settings.queues.train }, this.clock),
      aggregate: new SimQueue({ name: QUEUE_NAMES.aggregate, ...settings.queues.aggregate }, this.clock),
      timer: new SimQueue({ name: QUEUE_NAMES.timer, ...settings.queues.timer }, this.clock),
    };
    this.random = new SimRandom(schedule.seed);
    const getContext = async () => this.contextFor(this.current!);
    this.handlers = {
      start: createStartHandler(getContext),
      train: createTrainHandler(getContext),
      aggregate: createAggregateHandler(getContext),
      timer: createTimerHandler(getContext),
    };
  }

  private crashes(index: number, when: 'before' | 'after'): boolean {
    return this.schedule.faults.some((fault) => fault.kind === 'crash' && fault.at === index && fault.when === when);
  }

  private kill(invocation: Invocation): never {
    invocation.dead = true;
    this.faultsFired++;
    if (this.settings.replaceContainerOnCrash) this.container = {};
    throw new SimulatedCrash(`simulated crash of the ${invocation.fn} invocation`);
  }

  private async mutate(invocation: Invocation, kind: OperationKind, target: string, perform: () => unknown): Promise<void> {
    if (invocation.dead) throw new SimulatedCrash('the invocation is dead');
    const index = this.operations.length;
    this.operations.push({ index, kind, target, fn: invocation.fn });
    if (this.crashes(index, 'before')) this.kill(invocation);
    if (kind === 's3.put' && this.schedule.faults.some((fault) => fault.kind === 'write-error' && fault.at === index)) {
      this.faultsFired++;
      throw new InjectedStoreError(`S3 PutObject s3://${BUCKET}/${target} failed: injected InternalError (500)`);
    }
    await perform();
    if (kind.startsWith('sqs')) invocation.stats.sqsCalls++;
    else invocation.stats.s3Writes++;
    if (this.crashes(index, 'after')) this.kill(invocation);
  }

  private async read<T>(invocation: Invocation, target: string, perform: () => Promise<T>): Promise<T> {
    if (invocation.dead) throw new SimulatedCrash('the invocation is dead');
    const index = this.reads++;
    if (this.schedule.faults.some((fault) => fault.kind === 'read-error' && fault.at === index)) {
      this.faultsFired++;
      throw new InjectedStoreError(`S3 GetObject s3://${BUCKET}/${target} failed: injected InternalError (500)`);
    }
    const result = await perform();
    invocation.stats.s3Reads++;
    invocation.stats.s3ReadBytes += readBytes(result);
    if (EXPERIMENT_RECORD.test(target)) invocation.stats.experimentReads++;
    if (CLIENT_OBJECT.test(target)) {
      invocation.stats.clientReads++;
      invocation.stats.clientReadBytes += readBytes(result);
    }
    return result;
  }

  private contextFor(invocation: Invocation): PipelineContext {
    const store: ObjectStore = {
      bucket: BUCKET,
      put: (key, body) =>
        this.mutate(invocation, 's3.put', key, () => {
          invocation.stats.s3WriteBytes += typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
          return this.store.put(key, body);
        }),
      delete: (key) => this.mutate(invocation, 's3.delete', key, () => this.store.delete(key)),
      get: (key, options) => this.read(invocation, key, () => this.store.get(key, options)),
      getText: (key) => this.read(invocation, key, () => this.store.getText(key)),
      head: (key) => this.read(invocation, key, () => this.store.head(key)),
      getAtMost: (key, maxBytes) => this.read(invocation, key, () => this.store.getAtMost(key, maxBytes)),
      exists: (key) => this.read(invocation, key, () => this.store.exists(key)),
      list: (prefix) => this.read(invocation, prefix, () => this.store.list(prefix)),
    };
    const queue = (role: QueueRole): MessageQueue => ({
      url: this.queues[role].url,
      send: (body, options) => this.mutate(invocation, 'sqs.send', QUEUE_NAMES[role], () => this.sendTo(role, body, options)),
      // A batch's entries succeed or fail one by one on SQS: each is a crash point of its own here, as each send was.
      sendBatch: async (entries) => {
        for (const entry of entries) await this.mutate(invocation, 'sqs.send', QUEUE_NAMES[role], () => this.sendTo(role, entry.body, entry.options));
      },
      // One request for all its entries: one crash point, as a single call.
      changeVisibilityBatch: (entries) =>
        this.mutate(invocation, 'sqs.visibility', QUEUE_NAMES[role], () => {
          // SQS changes every entry it can and reports the others, as the adapter then throws.
          const refused: string[] = [];
          for (const { receiptHandle, seconds } of entries) {
            try {
              this.queues[role].changeVisibility(receiptHandle, seconds);
            } catch (error) {
              refused.push(error instanceof Error ? error.message : String(error));
            }
          }
          if (refused.length > 0) throw new Error(`ChangeMessageVisibilityBatch refused ${refused.length}: ${refused.join('; ')}`);
        }),
    });
    const queues: PipelineQueues = { train: queue('train'), aggregate: queue('aggregate'), timer: queue('timer') };
    return { store, queues, now: () => new Date(this.clock.nowMs + invocation.skewMs), log: () => {}, warm: this.container };
  }

  private sendTo(role: QueueRole, body: unknown, options: Parameters<MessageQueue['send']>[1]): void {
    const queue = this.queues[role];
    queue.send(body, options);
    if (role !== 'train') return;
    const message = body as { round: number; clientId: string };
    const delay = this.schedule.faults.find((fault) => fault.kind === 'delay-train' && fault.round === message.round && fault.clientId === message.clientId);
    if (delay?.kind === 'delay-train') queue.messages.at(-1)!.visibleAt = this.clock.nowMs + delay.seconds * 1000;
  }

  /** The user's upload of config.json, and S3's notification of it. */
  private async uploadConfig(): Promise<void> {
    const key = keys.config(this.settings.experimentId);
    await this.store.put(key, JSON.stringify(this.settings.config));
    const object = (await this.store.head(key))!;
    const event = s3EventFor(
      { eventName: 'ObjectCreated:Put', bucket: BUCKET, key, size: object.size, eTag: object.eTag, sourceIp: '127.0.0.1', requestId: 'sim', time: this.clock.now(), sequence: 1 },
      REGION,
      'flambda-start',
    );
    this.starts.push({ event, attempt: 0, visibleAt: this.clock.nowMs });
  }

  private candidates(): ({ kind: 'start'; start: PendingStart } | { kind: 'sqs'; role: QueueRole; message: Envelope })[] {
    const now = this.clock.nowMs;
    return [
      ...this.starts.filter((start) => start.visibleAt <= now).map((start) => ({ kind: 'start' as const, start })),
      ...ROLES.flatMap((role) =>
        this.queues[role].deliverable().sort((a, b) => a.seq - b.seq).map((message) => ({ kind: 'sqs' as const, role, message })),
      ),
    ];
  }

  private nextWake(): number | undefined {
    const times = [
      ...this.starts.map((start) => start.visibleAt),
      ...ROLES.map((role) => this.queues[role].nextVisibleAt()).filter((time): time is number => time !== undefined),
    ].filter((time) => time > this.clock.nowMs);
    return times.length ? Math.min(...times) : undefined;
  }

  snapshot(): SimSnapshot {
    return {
      clockMs: this.clock.nowMs,
      store: this.store.capture(),
      queues: { train: this.queues.train.capture(), aggregate: this.queues.aggregate.capture(), timer: this.queues.timer.capture() },
      operations: [...this.operations],
      reads: this.reads,
      deliveries: this.deliveries,
      invocations: this.invocations,
      lostStarts: this.lostStarts,
      starts: [...this.starts],
      stats: this.invocationStats.map((stats) => ({ ...stats })),
      random: this.random.state,
    };
  }

  private restore(snapshot: SimSnapshot): void {
    this.clock.nowMs = snapshot.clockMs;
    this.store.restore(snapshot.store);
    for (const role of ROLES) this.queues[role].restore(snapshot.queues[role]);
    this.operations = [...snapshot.operations];
    this.reads = snapshot.reads;
    this.deliveries = snapshot.deliveries;
    this.invocations = snapshot.invocations;
    this.lostStarts = snapshot.lostStarts;
    this.starts = [...snapshot.starts];
    this.invocationStats = snapshot.stats.map((stats) => ({ ...stats }));
    this.random.state = snapshot.random;
  }

  /**
   * Runs to quiescence: from the config upload, or from `from` (a snapshot of a run with the same seed whose faults,
   * if any, all came after it). `onSnapshot` sees the run before each delivery.
   */
  async run(options: { readonly from?: SimSnapshot; readonly onSnapshot?: (snapshot: SimSnapshot) => void } = {}): Promise<SimOutcome> {
    if (options.from) this.restore(options.from);
    else await this.uploadConfig();
    let limit: string | undefined;
    for (;;) {
      options.onSnapshot?.(this.snapshot());
      if (this.invocations >= this.settings.maxInvocations) {
        limit = `more than ${this.settings.maxInvocations} invocations`;
        break;
      }
      const candidates = this.candidates();
      if (candidates.length === 0) {
        const wake = this.nextWake();
        if (wake === undefined) break;
        if (wake - START_TIME > this.settings.maxVirtualSeconds * 1000) {
          limit = `still busy after ${this.settings.maxVirtualSeconds} virtual seconds`;
          break;
        }
        this.clock.nowMs = wake;
        continue;
      }
      const chosen = candidates[this.random.nextInt(candidates.length)]!;
      if (chosen.kind === 'start') await this.deliverStart(chosen.start);
      else await this.deliverMessage(chosen.role, chosen.message);
    }
    return this.outcome(limit);
  }

  private nextInvocation(fn: FunctionName, type: string): Invocation {
    const delivery = this.deliveries++;
    this.invocations++;
    // Only the timer's clock runs ahead: it forwards a deadline early. The aggregator's clock decides deadlines and is
    // trusted (Lambda's clocks are NTP-synchronised); a skewed decider would close rounds early by design.
    const skew = fn === 'timer' ? this.schedule.faults.find((fault) => fault.kind === 'skew' && fault.at === delivery) : undefined;
    if (skew) this.faultsFired++;
    const stats: InvocationStats = { fn, type, s3Reads: 0, s3ReadBytes: 0, clientReads: 0, clientReadBytes: 0, experimentReads: 0, s3Writes: 0, s3WriteBytes: 0, sqsCalls: 0 };
    this.invocationStats.push(stats);
    const invocation: Invocation = { fn, skewMs: skew?.kind === 'skew' ? skew.seconds * 1000 : 0, dead: false, stats };
    this.current = invocation;
    return invocation;
  }

  private async deliverStart(start: PendingStart): Promise<void> {
    this.starts = this.starts.filter((pending) => pending !== start);
    const invocation = this.nextInvocation('start', 'upload');
    const ok = await this.handlers.start(start.event).then(() => true, () => false);
    if (ok && !invocation.dead) return;
    const delay = this.settings.startRetryDelaysSeconds[start.attempt];
    if (delay !== undefined) this.starts.push({ event: start.event, attempt: start.attempt + 1, visibleAt: this.clock.nowMs + delay * 1000 });
    else this.lostStarts++;
  }

  /**
   * The messages a receive would hand out with `head`, up to the role's batch size (settings.aggregateBatchSize and
   * trainBatchSize; 1 unless a scenario says otherwise): on the FIFO queue the next visible ones of its group in order,
   * on a standard queue any visible ones, taken in send order so that a run stays reproducible from its seed.
   */
  private followers(role: QueueRole, head: Envelope): Envelope[] {
    const queue = this.queues[role];
    const size = role === 'aggregate' ? (this.settings.aggregateBatchSize ?? 1) : role === 'train' ? (this.settings.trainBatchSize ?? 1) : 1;
    if (size <= 1) return [];
    const now = this.clock.nowMs;
    const inGroup = (message: Envelope) => !queue.fifo || (message.groupId === head.groupId && message.seq > head.seq);
    return queue.messages
      .filter((message) => message !== head && inGroup(message) && message.visibleAt <= now)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, size - 1);
  }

  private async deliverMessage(role: QueueRole, message: Envelope): Promise<void> {
    const queue = this.queues[role];
    const delivery = this.deliveries;
    const following = this.followers(role, message);
    const received = queue.receive(message);
    if (!received) return;
    const batch = [received, ...following.flatMap((next) => queue.receive(next) ?? [])];
    const invocation = this.nextInvocation(role, String((JSON.parse(received.body) as { type?: unknown }).type));
    const event: SQSEvent = sqsEventFor(
      batch.map((envelope) => ({
        messageId: envelope.id,
        receiptHandle: envelope.receipt!,
        body: envelope.body,
        md5OfBody: '',
        attributes: {
          ApproximateReceiveCount: String(envelope.receiveCount),
          SentTimestamp: String(envelope.sentAt),
          ...(envelope.groupId ? { MessageGroupId: envelope.groupId, MessageDeduplicationId: envelope.dedupId ?? '', SequenceNumber: String(envelope.seq) } : {}),
        },
        messageAttributes: {},
      })),
      `arn:aws:sqs:${REGION}:000000000000:${queue.settings.name}`,
      REGION,
    );
    let response: SQSBatchResponse | undefined;
    try {
      response = await this.handlers[role](event);
    } catch {
      response = undefined;
    }
    if (invocation.dead || !response) return;
    const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
    const succeeded = batch.filter((envelope) => !failed.has(envelope.id));
    if (succeeded.length === 0) return;
    // Lambda's event source deletes what succeeded (one DeleteMessageBatch): a crash just before that is a
    // redelivery of finished work.
    const index = this.operations.length;
    this.operations.push({ index, kind: 'sqs.delete', target: queue.settings.name, fn: role });
    if (this.crashes(index, 'before')) {
      this.faultsFired++;
      return;
    }
    for (const envelope of succeeded) queue.delete(envelope.receipt!);
    if (!failed.has(received.id) && this.schedule.faults.some((fault) => fault.kind === 'duplicate' && fault.at === delivery)) {
      this.faultsFired++;
      queue.duplicate(received);
    }
  }

  private async outcome(limit: string | undefined): Promise<SimOutcome> {
    const { experimentId } = this.settings;
    const statusText = await this.store.getText(keys.status(experimentId));
    const status = statusText === undefined ? undefined : statusSchema.parse(JSON.parse(statusText));
    const rounds = Number(this.settings.config.rounds);
    const globals: (string | undefined)[] = [];
    const accepted: string[][] = [];
    for (let round = 1; round <= rounds; round++) {
      globals.push(sha256(await this.store.get(keys.globalModel(experimentId, round))));
      const metrics = await this.store.getText(keys.roundMetrics(experimentId, round));
      accepted.push(metrics ? (JSON.parse(metrics) as { clients: { clientId: string }[] }).clients.map((client) => client.clientId) : []);
    }
    return {
      status,
      finalModel: sha256(await this.store.get(keys.finalModel(experimentId))),
      globals,
      accepted,
      operations: this.operations,
      reads: this.reads,
      deliveries: this.deliveries,
      invocations: this.invocations,
      deadLetters: ROLES.reduce((total, role) => total + this.queues[role].deadLetters.length, 0) + this.lostStarts,
      faultsFired: this.faultsFired,
      virtualSeconds: Math.round((this.clock.nowMs - START_TIME) / 1000),
      invocationStats: this.invocationStats,
      ...(limit ? { limit } : {}),
    };
  }
}
