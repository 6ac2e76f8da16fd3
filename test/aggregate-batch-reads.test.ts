import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAggregateHandler } from '../functions/aggregate.js';
import type { LocalCloud } from '../local/cloud.js';
import type { ObjectStore } from '../shared/cloud/ports.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { forEachInOrder, mapInOrder } from '../shared/pipeline/ordered-reads.js';
import { keys } from '../shared/protocol/keys.js';
import type { AggregateMessage, TrainMessage } from '../shared/protocol/messages.js';
import type { VerdictRecord } from '../shared/protocol/records.js';
import { readGlobal, shifted, startCloudWithScriptedClients, uploadConfig, waitFor, waitForStatus, writeUpdate } from './helpers/pipeline.js';

/**
 * The aggregator reads a batch's updates ahead, together, and a close reads back the accepted updates it did not fold
 * as it recorded them, a few at a time;
 * what it writes, and in which order, must not change. The batches are handed to the real aggregate handler directly
 * (one event, as Lambda's FIFO event source delivers it) against the local cloud's S3.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('reads in order, a bounded number at a time', () => {
  it('hands results over in the items\' order whatever order they finish in, with at most `limit` in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const delays = [30, 5, 20, 1, 25, 2, 15, 3, 10, 4, 8, 6];
    const seen: number[] = [];
    await forEachInOrder(
      delays,
      async (delay, index) => {
        most = Math.max(most, ++inFlight);
        await sleep(delay);
        inFlight--;
        return index;
      },
      (result) => void seen.push(result),
      4,
    );
    expect(seen).toEqual(delays.map((_, index) => index));
    expect(most).toBe(4);
  });

  it('throws the first failure in the items\' order, after consuming what came before it', async () => {
    const consumed: number[] = [];
    const failing = forEachInOrder(
      [0, 1, 2, 3],
      async (item) => {
        await sleep(item === 3 ? 1 : 10);
        if (item >= 2) throw new Error(`read ${item} failed`);
        return item;
      },
      (result) => void consumed.push(result),
      4,
    );
    await expect(failing).rejects.toThrow('read 2 failed');
    expect(consumed).toEqual([0, 1]);
    expect(await mapInOrder([3, 1, 2], async (item) => item * 2, 1)).toEqual([6, 2, 4]);
    await expect(mapInOrder([1], async (item) => item, 0)).rejects.toThrow(/positive integer/);
  });
});

/**
 * `store` with a delay on every read (a slow S3) and a record of the reads in flight and of every write, in order;
 * optionally a delay on every write too, and writes that fail (`failWrite` says which, before the write is made).
 */
function observedStore(store: ObjectStore, latencyMs: number, writes: { latencyMs?: number; failWrite?: (key: string) => boolean } = {}) {
  const seen = {
    inFlight: 0,
    mostInFlight: 0,
    mostBeforeStateWrite: undefined as number | undefined,
    writesInFlight: 0,
    mostWritesInFlight: 0,
    writes: [] as string[],
    reads: [] as string[],
    /** every read: when it started and ended (performance.now()) */
    timeline: [] as { key: string; start: number; end: number }[],
  };
  const read = async <T>(perform: () => Promise<T>, key: string): Promise<T> => {
    seen.reads.push(key);
    seen.mostInFlight = Math.max(seen.mostInFlight, ++seen.inFlight);
    const start = performance.now();
    try {
      await sleep(latencyMs);
      return await perform();
    } finally {
      seen.inFlight--;
      seen.timeline.push({ key, start, end: performance.now() });
    }
  };
  const observed: ObjectStore = {
    bucket: store.bucket,
    put: async (key, body, contentType) => {
      seen.writes.push(key);
      if (key.endsWith('/state.json')) seen.mostBeforeStateWrite ??= seen.mostInFlight;
      seen.mostWritesInFlight = Math.max(seen.mostWritesInFlight, ++seen.writesInFlight);
      try {
        if (writes.latencyMs) await sleep(writes.latencyMs);
        if (writes.failWrite?.(key)) throw new Error(`S3 PutObject ${key} failed: InternalError (500)`);
        await store.put(key, body, contentType);
      } finally {
        seen.writesInFlight--;
      }
    },
    get: (key, options) => read(() => store.get(key, options), key),
    getText: (key) => read(() => store.getText(key), key),
    head: (key) => read(() => store.head(key), key),
    getAtMost: (key, maxBytes) => read(() => store.getAtMost(key, maxBytes), key),
    exists: (key) => read(() => store.exists(key), key),
    list: (prefix) => read(() => store.list(prefix), prefix),
    delete: (key) => store.delete(key),
  };
  return { store: observed, seen };
}

let cloud: LocalCloud;
let trainMessages: TrainMessage[];
let base: PipelineContext;

beforeAll(async () => {
  ({ cloud, trainMessages } = await startCloudWithScriptedClients({
    wrapContext: (role, context) => {
      if (role === 'aggregate') base = context;
      return context;
    },
  }));
});
afterAll(async () => {
  await cloud?.stop();
});

let sequence = 0;
/** One event of `messages`, as the FIFO event source hands a batch of the experiment's group to the aggregator. */
function batchOf(messages: readonly AggregateMessage[], receiveCount = 1): SQSEvent {
  return {
    Records: messages.map((message) => {
      const id = `m-${++sequence}`;
      return {
        messageId: id,
        receiptHandle: `receipt-${id}`,
        body: JSON.stringify(message),
        attributes: {
          ApproximateReceiveCount: String(receiveCount),
          SentTimestamp: String(Date.now()),
          SenderId: 'test',
          ApproximateFirstReceiveTimestamp: String(Date.now()),
          MessageGroupId: message.experimentId,
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:flambda-aggregate.fifo',
        awsRegion: 'us-east-1',
      };
    }),
  };
}

async function openRound(experimentId: string, clients: number) {
  await uploadConfig(cloud, experimentId, { clients, rounds: 1, model: 'mlp', samplesPerClient: 20, testSamples: 50, round: { deadlineSeconds: 600 } });
  const round1 = await waitFor(`round 1 of ${experimentId}`, async () => {
    const found = trainMessages.filter((message) => message.experimentId === experimentId && message.round === 1);
    return found.length >= clients ? found : undefined;
  });
  const global0 = await readGlobal(cloud, experimentId, 0);
  for (const [index, message] of round1.entries()) await writeUpdate(cloud, message, shifted(global0, (index % 7) - 3), 5 + index);
  return round1;
}

const update = ({ experimentId, round, clientId }: TrainMessage): AggregateMessage => ({ type: 'update', experimentId, round, clientId });

async function verdictOf(experimentId: string, clientId: string): Promise<VerdictRecord> {
  return JSON.parse((await cloud.context.store.getText(keys.verdict(experimentId, 1, clientId)))!) as VerdictRecord;
}

describe('a batch of "update ready" messages', () => {
  it('reads its updates ahead together, and writes the same records in the same order as one message at a time', async () => {
    // Announced in the reverse of the expected clients' order: the ordinals, and so the fold, run the other way.
    const together = (await openRound('reads-together', 10)).reverse();
    const alone = (await openRound('reads-alone', 10)).reverse();
    const cold = (await openRound('reads-cold', 10)).reverse();
    const batched = observedStore(base.store, 20);
    const single = observedStore(base.store, 20);
    const forgetful = observedStore(base.store, 20);
    const handleBatched = createAggregateHandler(async () => ({ ...base, store: batched.store }), { retryDelaysSeconds: [1] });
    const handleAlone = createAggregateHandler(async () => ({ ...base, store: single.store }), { retryDelaysSeconds: [1] });
    // Every invocation in a new container: nothing remembered between them, the close reads everything back.
    const handleCold = createAggregateHandler(async () => ({ ...base, store: forgetful.store, warm: {} }), { retryDelaysSeconds: [1] });

    expect(await handleBatched(batchOf(together.map(update)))).toEqual({ batchItemFailures: [] });
    for (const message of alone) expect(await handleAlone(batchOf([update(message)]))).toEqual({ batchItemFailures: [] });
    for (const message of cold) expect(await handleCold(batchOf([update(message)]))).toEqual({ batchItemFailures: [] });

    for (const id of ['reads-together', 'reads-alone', 'reads-cold']) expect((await waitForStatus(cloud, id, (s) => s.state !== 'running')).state).toBe('completed');
    // The batch's reads overlapped (10 inspections ahead, bounded), where one message alone reads its round's state,
    // its verdict and its report together (the first: 3) — and its update with them once this process knows the
    // experiment's update size (the others: 4); a cold close reads the verdicts and updates back a bounded number at a
    // time, a warm one reads none of them.
    expect(batched.seen.mostBeforeStateWrite).toBeGreaterThanOrEqual(5);
    expect(single.seen.mostBeforeStateWrite).toBe(3);
    expect(batched.seen.mostInFlight).toBeLessThanOrEqual(3 * 10 + 1);
    expect(single.seen.mostInFlight).toBe(4);
    expect(forgetful.seen.mostInFlight).toBeGreaterThan(1);
    const readsOf = (reads: readonly string[], id: string, part: string) => reads.filter((key) => key.startsWith(`experiments/${id}/rounds/0001/${part}/`)).length;
    for (const [seen, id] of [[batched.seen, 'reads-together'], [single.seen, 'reads-alone']] as const) {
      expect(readsOf(seen.reads, id, 'verdicts')).toBe(10);
      expect(readsOf(seen.reads, id, 'updates')).toBe(20);
    }
    // (all but the last client's verdict, which the closing invocation wrote itself; every update: one sum folded from
    // ordinal 10 alone is no start of the fold)
    expect(readsOf(forgetful.seen.reads, 'reads-cold', 'verdicts')).toBe(10 + 9);
    expect(readsOf(forgetful.seen.reads, 'reads-cold', 'updates')).toBe(20 + 10);
    // The batch's verdicts in message order, ordinals 1…10, all before the one state write that counts them.
    const relative = (writes: readonly string[], id: string) => writes.map((key) => key.replace(`experiments/${id}/`, ''));
    const writes = relative(batched.seen.writes, 'reads-together');
    const verdictWrites = together.map((message) => `rounds/0001/verdicts/${message.clientId}.json`);
    expect(writes.slice(0, 10)).toEqual(verdictWrites);
    expect(writes[10]).toBe('rounds/0001/state.json');
    for (const [index, message] of together.entries()) expect(await verdictOf('reads-together', message.clientId)).toMatchObject({ ordinal: index + 1, outcome: 'accepted' });
    // Past the verdicts (one state write per message there), the close writes the same keys in the same order…
    const closeWrites = (all: readonly string[]) => all.filter((key) => !key.includes('/verdicts/') && key !== 'rounds/0001/state.json');
    expect(closeWrites(writes)).toEqual(closeWrites(relative(single.seen.writes, 'reads-alone')));
    // …and folds the same updates in the same order: the same model, to the bit.
    const [a, b, c] = await Promise.all(['reads-together', 'reads-alone', 'reads-cold'].map((id) => cloud.context.store.get(keys.globalModel(id, 1))));
    expect(Buffer.from(a!).equals(Buffer.from(b!))).toBe(true);
    expect(Buffer.from(a!).equals(Buffer.from(c!))).toBe(true);
  });

  it('reads a client\'s verdict, report and (first delivery, size known) update together with the round\'s state, and no update for a redelivered copy', async () => {
    const id = 'reads-early';
    const round1 = await openRound(id, 6);
    const slow = observedStore(base.store, 40);
    // A container of its own: what it knows of the experiment is what these batches teach it.
    const warm = {};
    const handle = createAggregateHandler(async () => ({ ...base, store: slow.store, warm }), { retryDelaysSeconds: [1] });
    const reads = (part: string) => slow.seen.timeline.filter(({ key }) => key.startsWith(`experiments/${id}/rounds/0001/${part}`));
    const readsOf = (clientId: string) => ({
      verdict: reads('verdicts/').find(({ key }) => key.endsWith(`/${clientId}.json`))!,
      report: reads('updates/').find(({ key }) => key.endsWith(`/${clientId}.json`))!,
      update: reads('updates/').find(({ key }) => key.endsWith(`/${clientId}.bin`))!,
    });
    const stateReads = () => reads('state.json');
    const updateReads = () => reads('updates/').filter(({ key }) => key.endsWith('.bin')).length;

    // A cold container: the verdict and report are read while the state is; the update (its size unknown until the
    // config is read) once no verdict was found.
    const [first, second] = [round1.slice(0, 3), round1.slice(3)];
    expect(await handle(batchOf(first.map(update)))).toEqual({ batchItemFailures: [] });
    const [coldState] = stateReads();
    for (const { clientId } of first) {
      const { verdict, report, update: updateRead } = readsOf(clientId);
      expect(verdict.start).toBeLessThan(coldState!.end);
      expect(report.start).toBeLessThan(coldState!.end);
      expect(updateRead.start).toBeGreaterThanOrEqual(verdict.end);
    }
    // The same messages delivered again (a failed batch comes back): their verdicts exist, no update is read.
    const updatesBefore = updateReads();
    expect(await handle(batchOf(first.map(update), 2))).toEqual({ batchItemFailures: [] });
    expect(updateReads()).toBe(updatesBefore);
    for (const [index, message] of first.entries()) expect(await verdictOf(id, message.clientId)).toMatchObject({ ordinal: index + 1, outcome: 'accepted' });
    // Warm, on a first delivery: the update too is read while the state is.
    const stateReadsBefore = stateReads().length;
    expect(await handle(batchOf(second.map(update)))).toEqual({ batchItemFailures: [] });
    const warmState = stateReads()[stateReadsBefore]!;
    for (const { clientId } of second) expect(readsOf(clientId).update.start).toBeLessThan(warmState.end);
    expect((await waitForStatus(cloud, id, (s) => s.state !== 'running')).state).toBe('completed');
    for (const [index, message] of second.entries()) expect(await verdictOf(id, message.clientId)).toMatchObject({ ordinal: 4 + index, outcome: 'accepted' });
  });

  it('never uses a read made ahead after the same invocation wrote that client\'s verdict (a close that found its report, a copy)', async () => {
    const id = 'reads-forgotten';
    const round1 = await openRound(id, 4);
    const late = observedStore(base.store, 5);
    // The aggregator's clock past the deadline: the deadline message closes the round, finding client 3's report.
    const handle = createAggregateHandler(async () => ({ ...base, store: late.store, now: () => new Date(Date.now() + 3_600_000) }), { retryDelaysSeconds: [1] });
    const [c0, c1, c2, c3] = round1 as [TrainMessage, TrainMessage, TrainMessage, TrainMessage];
    const dueAt = new Date(Date.now() + 600_000).toISOString();
    const deadline: AggregateMessage = { type: 'deadline', experimentId: id, round: 1, dueAt, attempt: 0 };
    expect(await handle(batchOf([update(c0), update(c1), update(c0), update(c2), deadline, update(c3)]))).toEqual({ batchItemFailures: [] });
    expect((await waitForStatus(cloud, id, (s) => s.state !== 'running')).state).toBe('completed');
    // client 3 was counted by the close (ordinal 4), and its own message, read ahead before that, found the verdict.
    expect(await verdictOf(id, c3.clientId)).toMatchObject({ outcome: 'accepted', ordinal: 4 });
    expect(await verdictOf(id, c0.clientId)).toMatchObject({ outcome: 'accepted', ordinal: 1 });
    expect(late.seen.writes.filter((key) => key.endsWith(`verdicts/${c3.clientId}.json`))).toHaveLength(1);
    expect(late.seen.writes.filter((key) => key.endsWith(`verdicts/${c0.clientId}.json`))).toHaveLength(1);
    const metrics = JSON.parse((await cloud.context.store.getText(keys.roundMetrics(id, 1)))!) as { clients: { clientId: string }[] };
    expect(metrics.clients.map((client) => client.clientId).sort()).toEqual(round1.map((message) => message.clientId).sort());
  });

  it('writes its verdicts together; one that fails fails the whole batch, which comes back and ends as if none had', async () => {
    const lost = await openRound('verdict-lost', 6);
    const fine = await openRound('verdict-fine', 6);
    const missing = lost[2]!.clientId;
    let failing = true;
    const flaky = observedStore(base.store, 0, { latencyMs: 20, failWrite: (key) => failing && key.endsWith(`/verdicts/${missing}.json`) });
    const handleFlaky = createAggregateHandler(async () => ({ ...base, store: flaky.store }), { retryDelaysSeconds: [1] });

    // The last message would close the round: the close waits for the verdicts first, and finds one lost.
    await expect(handleFlaky(batchOf(lost.map(update)))).rejects.toThrow(missing);
    expect(flaky.seen.mostWritesInFlight).toBeGreaterThanOrEqual(3);
    // Every other verdict was written; no round state counts any of them, and nothing of the close was written.
    for (const message of lost) {
      const written = await cloud.context.store.getText(keys.verdict('verdict-lost', 1, message.clientId));
      expect(written === undefined).toBe(message.clientId === missing);
    }
    const state = JSON.parse((await cloud.context.store.getText(keys.roundState('verdict-lost', 1)))!) as { answered: number; closed?: boolean };
    expect(state.answered).toBe(0);
    expect(flaky.seen.writes.filter((key) => !key.includes('/verdicts/'))).toEqual([]);

    // The whole batch again, in order (as SQS hands a failed FIFO batch back): each message finds its verdict or
    // decides it again, with the ordinal it had, and the round closes on the same model as a batch that never failed.
    failing = false;
    expect(await handleFlaky(batchOf(lost.map(update)))).toEqual({ batchItemFailures: [] });
    // A copy of a message right after it, while its verdict is still being written: a duplicate, not a second answer.
    const slow = observedStore(base.store, 0, { latencyMs: 20 });
    const handleSlow = createAggregateHandler(async () => ({ ...base, store: slow.store }), { retryDelaysSeconds: [1] });
    const [first, ...rest] = fine.map(update);
    expect(await handleSlow(batchOf([first!, first!, ...rest]))).toEqual({ batchItemFailures: [] });
    expect(slow.seen.writes.filter((key) => key.endsWith(`/verdicts/${fine[0]!.clientId}.json`))).toHaveLength(1);

    for (const id of ['verdict-lost', 'verdict-fine']) expect((await waitForStatus(cloud, id, (s) => s.state !== 'running')).state).toBe('completed');
    for (const [index, message] of lost.entries()) expect(await verdictOf('verdict-lost', message.clientId)).toMatchObject({ ordinal: index + 1, outcome: 'accepted' });
    for (const [index, message] of fine.entries()) expect(await verdictOf('verdict-fine', message.clientId)).toMatchObject({ ordinal: index + 1, outcome: 'accepted' });
    const [a, b] = await Promise.all(['verdict-lost', 'verdict-fine'].map((id) => cloud.context.store.get(keys.globalModel(id, 1))));
    expect(Buffer.from(a!).equals(Buffer.from(b!))).toBe(true);
  });
});
