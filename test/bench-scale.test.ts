import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCounts, countingQueue, countingStore, emptyCounts, subtractCounts } from '../bench/scale-counting.js';
import { AWS_FIGURES, aggregatorMsPerUpdate, clientMs, estimateRound, laterClientMs, LIMITS, scaleBytes, simulateRound, trainingMs, type CallsPerUpdate, type LimitName, type Workload } from '../bench/scale-model.js';
import { floorCpuPerUpdate, requestsPerUpdate, type RequestCosts } from '../bench/scale-floor.js';
import { measureScale, type ScaleRunResult } from '../bench/scale-run.js';
import { meanOverheadPerUpdate, placementPairs } from '../bench/scale-local-doc.js';
import type { ScaleResults } from '../bench/scale.js';
import { startLocalCloud, type LocalCloud } from '../local/cloud.js';

const noCalls: CallsPerUpdate = { s3Gets: 0, s3GetBytes: 0, s3Puts: 0, s3PutBytes: 0, s3Heads: 0, s3Lists: 0, sqsCalls: 0 };

function workload(overrides: Partial<Workload> = {}): Workload {
  return {
    model: 'test',
    trainMs: 1000,
    evaluationMs: 500,
    trainer: { ...noCalls, s3Gets: 2, s3GetBytes: 1e6, s3Puts: 2, s3PutBytes: 1e6, sqsCalls: 3 },
    aggregator: { ...noCalls, s3Gets: 3, s3Puts: 1, s3Heads: 1, s3GetBytes: 2e6, s3PutBytes: 1e4, sqsCalls: 3 },
    ...overrides,
  };
}

const allBut = (kept: LimitName) => new Set(LIMITS.filter((limit) => limit !== kept));

describe('the AWS round model', () => {
  it('times a client and an aggregator message from their calls, bytes and the published latencies', () => {
    const w = workload();
    const a = AWS_FIGURES;
    expect(trainingMs(60, 1, 2000)).toBeCloseTo(30);
    expect(() => trainingMs(60, 1, 0)).toThrow(/samplesPerSecond/);
    expect(clientMs(w)).toBeCloseTo(a.coldStartMs + 4 * a.s3LatencyMs + (2e6 / a.bytesPerSecond) * 1000 + 1000 + 3 * a.sqsLatencyMs);
    expect(aggregatorMsPerUpdate(w)).toBeCloseTo(5 * a.s3LatencyMs + (2.01e6 / a.bytesPerSecond) * 1000 + 3 * a.sqsLatencyMs);
    // reads made together wait a share of a request each: 3 of the 4 reads, 10 at a time
    const together = workload({ aggregator: { ...w.aggregator, overlappedReads: 3 }, readConcurrency: 10 });
    expect(aggregatorMsPerUpdate(together)).toBeCloseTo(2 * a.s3LatencyMs + (3 * a.s3LatencyMs) / 10 + (2.01e6 / a.bytesPerSecond) * 1000 + 3 * a.sqsLatencyMs);
    // and the writes made together likewise: the verdict of the 1 PUT, 10 at a time
    const writesToo = workload({ aggregator: { ...w.aggregator, overlappedReads: 3, overlappedWrites: 1 }, readConcurrency: 10 });
    expect(aggregatorMsPerUpdate(writesToo)).toBeCloseTo(a.s3LatencyMs + (4 * a.s3LatencyMs) / 10 + (2.01e6 / a.bytesPerSecond) * 1000 + 3 * a.sqsLatencyMs);
    // Reads made alongside one that waits anyway (a verdict and a report with the round state) add nothing; never more than the overlapped ones.
    const hidden = workload({ aggregator: { ...w.aggregator, overlappedReads: 3, overlappedWrites: 1, hiddenReads: 2 }, readConcurrency: 10 });
    expect(aggregatorMsPerUpdate(hidden)).toBeCloseTo(a.s3LatencyMs + (2 * a.s3LatencyMs) / 10 + (2.01e6 / a.bytesPerSecond) * 1000 + 3 * a.sqsLatencyMs);
    const overHidden = workload({ aggregator: { ...w.aggregator, overlappedReads: 1, overlappedWrites: 0, hiddenReads: 5 }, readConcurrency: 10 });
    expect(aggregatorMsPerUpdate(overHidden)).toBeCloseTo(4 * a.s3LatencyMs + (2.01e6 / a.bytesPerSecond) * 1000 + 3 * a.sqsLatencyMs);
    // the fan-out sends 10 messages a call
    expect(simulateRound(95, w).fanOutMs).toBe(10 * a.sqsLatencyMs);
  });

  it('serialises the aggregator: N updates cost at least N message times after the first client is done', () => {
    const w = workload();
    const round = simulateRound(100, w);
    expect(round.roundMs).toBeGreaterThanOrEqual(clientMs(w) + 100 * aggregatorMsPerUpdate(w) + w.evaluationMs);
    const lifted = simulateRound(100, w, AWS_FIGURES, new Set(['serial-aggregator']));
    expect(lifted.roundMs).toBeLessThan(round.roundMs / 2);
    expect(estimateRound(100, w).firstLimit).toBe('serial-aggregator');
  });

  it('divides the serial path by about the group count with a tree of sums, plus the final fold', () => {
    const w = workload({ trainMs: 0 });
    const flat = simulateRound(1000, w, AWS_FIGURES, allBut('serial-aggregator'));
    const tree = simulateRound(1000, w, AWS_FIGURES, allBut('serial-aggregator'), 32);
    const serial = 1000 * aggregatorMsPerUpdate(w);
    expect(flat.roundMs).toBeGreaterThanOrEqual(serial + w.evaluationMs);
    // 32 groups of ~32 updates, each closing with its partial sum, its state and a message; then 4 reads of partial sums, 10 at a time
    const close = 2 * AWS_FIGURES.s3LatencyMs + ((2 * 1e6) / AWS_FIGURES.bytesPerSecond) * 1000 + AWS_FIGURES.sqsLatencyMs;
    const fold = close + 4 * AWS_FIGURES.s3LatencyMs + ((32 * 2 * 1e6) / AWS_FIGURES.bytesPerSecond) * 1000;
    expect(tree.roundMs - tree.trainingMs).toBeLessThanOrEqual(Math.ceil(1000 / 32) * aggregatorMsPerUpdate(w) + fold + w.evaluationMs + 1);
    expect(tree.roundMs).toBeLessThan(flat.roundMs / 5);
    expect(() => simulateRound(10, w, AWS_FIGURES, new Set(), 0)).toThrow(/groups/);
  });

  it('gives a trainer invocation up to a batch of clients: one cold start, then each further client its training and warm bytes', () => {
    const w = workload({ trainerWarm: { ...noCalls, s3Gets: 1, s3GetBytes: 1e5, s3Puts: 2, s3PutBytes: 1e6 } });
    const a = AWS_FIGURES;
    const later = w.trainMs + (1.1e6 / a.bytesPerSecond) * 1000;
    expect(laterClientMs(w)).toBeCloseTo(later);
    // 10 clients, every limit lifted: all at once with one a invocation; one invocation training them one after another with ten
    const one = simulateRound(10, w, AWS_FIGURES, new Set(LIMITS));
    const ten = simulateRound(10, w, AWS_FIGURES, new Set(LIMITS), 1, 10);
    expect(one.invocationMs).toBeCloseTo(10 * clientMs(w));
    expect(ten.invocationMs).toBeCloseTo(clientMs(w) + 9 * later);
    expect(ten.trainingMs - one.trainingMs).toBeCloseTo(9 * later, -1);
    // Where the pollers' ramp holds back clients that train in no time, ten a invocation needs a tenth of the pollers.
    const quick = workload({ trainMs: 0, trainerWarm: w.trainerWarm! });
    const ramped = simulateRound(1000, quick, AWS_FIGURES, allBut('sqs-poller-scaling'));
    const rampedBatched = simulateRound(1000, quick, AWS_FIGURES, allBut('sqs-poller-scaling'), 1, 10);
    expect(rampedBatched.trainingMs).toBeLessThan(ramped.trainingMs / 2);
    // batch 1 is the round as it was, and the estimate reports the batched rounds beside it
    expect(simulateRound(100, w, AWS_FIGURES, new Set(), 1, 1).roundMs).toBe(simulateRound(100, w).roundMs);
    const estimate = estimateRound(1000, w);
    // one group: the serial aggregator sets this round either way; the tree lifts it, and the batch then shortens the ramp
    expect(estimate.batchedRoundMs).toBeLessThanOrEqual(estimate.roundMs);
    expect(estimate.batchedTreeRoundMs).toBeLessThan(estimate.treeRoundMs);
    expect(estimate.batchedTreeRoundMs).toBeLessThanOrEqual(estimate.batchedRoundMs);
    for (const bad of [0, 11, 2.5]) expect(() => simulateRound(10, w, AWS_FIGURES, new Set(), 1, bad)).toThrow(/trainBatch/);
  });

  it('runs clients in waves beyond the account concurrency, and ramps the event-source pollers up at 300 a minute', () => {
    const w = workload();
    const waves = simulateRound(2500, w, AWS_FIGURES, allBut('lambda-concurrency'));
    expect(waves.trainingMs).toBeGreaterThanOrEqual(3 * clientMs(w));
    const ramp = simulateRound(1000, w, AWS_FIGURES, allBut('sqs-poller-scaling'));
    // With c(t) = 5 + 5t pollers (t in s), clients done by T are at most ∫c dt ÷ D: 2.5T² + 5T ≥ 1000·D.
    const seconds = clientMs(w) / 1000;
    expect(ramp.trainingMs / 1000).toBeGreaterThanOrEqual((-5 + Math.sqrt(25 + 10 * 1000 * seconds)) / 5);
    const free = simulateRound(1000, w, AWS_FIGURES, new Set(LIMITS));
    expect(free.trainingMs).toBeLessThan(ramp.trainingMs);
  });

  it('holds "update ready" sends to the FIFO rate and S3 writes to the per-prefix rate', () => {
    const fast = workload({ trainMs: 0 });
    const fifo = simulateRound(3000, fast, AWS_FIGURES, allBut('sqs-fifo-throughput'));
    const none = simulateRound(3000, fast, AWS_FIGURES, new Set(LIMITS));
    expect(fifo.roundMs - none.roundMs).toBeGreaterThan(((3000 - 1) / AWS_FIGURES.fifoCallsPerSecond) * 1000 - clientMs(fast) - 3000 * AWS_FIGURES.sqsLatencyMs);
    const manyPuts = workload({ trainer: { ...fast.trainer, s3Puts: 50 } });
    const s3 = simulateRound(3000, manyPuts, AWS_FIGURES, allBut('s3-prefix-rate'));
    expect(s3.trainingMs).toBeGreaterThan(((3000 * 50) / AWS_FIGURES.s3PutsPerSecondPerPrefix) * 1000 * 0.9);
  });

  it('prices a round linearly in its clients, and scales model-sized transfers by parameter count', () => {
    const w = workload();
    const ten = estimateRound(10, w).cost;
    const hundred = estimateRound(100, w).cost;
    expect(hundred.s3).toBeCloseTo(10 * ten.s3, 10);
    expect(hundred.sqs).toBeCloseTo(10 * ten.sqs, 10);
    expect(hundred.total).toBeGreaterThan(9 * ten.total);
    expect(ten.total).toBeCloseTo(ten.lambda + ten.s3 + ten.sqs, 12);
    expect(scaleBytes(w.trainer, 100, 250)).toEqual({ ...w.trainer, s3GetBytes: 2.5e6, s3PutBytes: 2.5e6 });
    expect(() => simulateRound(0, w)).toThrow(/positive integer/);
  });
});

describe('counting decorators on the local cloud', () => {
  let cloud: LocalCloud;
  beforeAll(async () => {
    const none = async () => ({ batchItemFailures: [] });
    cloud = await startLocalCloud({ uploadMnist: false, log: () => undefined, handlers: { start: async () => undefined, train: none, aggregate: none, timer: none } });
  });
  afterAll(async () => {
    await cloud?.stop();
  });

  it('counts every S3 call with the bytes it moved', async () => {
    const counts = emptyCounts();
    const store = countingStore(cloud.context.store, counts.s3);
    await store.put('scale-test/a.bin', new Uint8Array(1000));
    await store.put('scale-test/b.json', 'ünï');
    expect(await store.get('scale-test/a.bin')).toHaveLength(1000);
    expect(await store.getText('scale-test/b.json')).toBe('ünï');
    expect(await store.get('scale-test/missing')).toBeUndefined();
    expect((await store.head('scale-test/a.bin'))?.size).toBe(1000);
    expect(await store.exists('scale-test/missing')).toBe(false);
    expect(await store.list('scale-test/')).toEqual(['scale-test/a.bin', 'scale-test/b.json']);
    await store.delete('scale-test/a.bin');
    expect(counts.s3).toEqual({ get: 3, getBytes: 1005, put: 2, putBytes: 1005, head: 2, list: 1, delete: 1, overlapped: 0 });
    // reads made together: each one started while another was in flight counts as overlapped
    await Promise.all([store.get('scale-test/b.json'), store.head('scale-test/b.json'), store.exists('scale-test/missing')]);
    expect(counts.s3).toMatchObject({ get: 4, head: 4, overlapped: 2 });
  });

  it('counts SQS sends with their bytes, and visibility changes even when SQS refuses them', async () => {
    const counts = emptyCounts();
    const queue = countingQueue(cloud.context.queues.timer, counts.sqs);
    await queue.send({ hello: 'world' });
    await expect(queue.changeVisibilityBatch([{ receiptHandle: 'not-a-receipt-handle', seconds: 0 }])).rejects.toThrow();
    expect(counts.sqs).toMatchObject({ send: 1, sendBytes: JSON.stringify({ hello: 'world' }).length, changeVisibility: 1 });
  });

  it('adds and subtracts counts field by field', () => {
    const a = emptyCounts();
    a.s3.get = 3;
    a.sqs.send = 2;
    const b = emptyCounts();
    b.s3.get = 1;
    b.s3.putBytes = 7;
    expect(addCounts(a, b).s3).toMatchObject({ get: 4, putBytes: 7 });
    expect(subtractCounts(addCounts(a, b), b)).toEqual(a);
  });
});

describe('the floor under the local overhead', () => {
  const cost = (cpuMs: number) => ({ cpuMs, wallMs: cpuMs });
  const costs: RequestCosts = {
    repeats: 1,
    bodyBytes: 1000,
    getSmall: cost(1),
    getLarge: cost(3),
    putSmall: cost(2),
    putLarge: cost(6),
    head: cost(0.5),
    messageTrip: cost(3),
  };

  it('prices each request at its kind, bodies by their bytes, every SQS call at a third of a message trip', () => {
    const counts = emptyCounts();
    // over 2 updates: 4 GETs moving 2,000 bytes, 2 PUTs moving 1,000, 2 HEADs, 6 SQS calls of every kind
    Object.assign(counts.s3, { get: 4, getBytes: 2000, put: 2, putBytes: 1000, head: 2 });
    Object.assign(counts.sqs, { send: 1, sendBatch: 1, changeVisibility: 2, receive: 1, delete: 1 });
    // GETs 4 × 1 + 2,000 B × 2/1,000; PUTs 2 × 2 + 1,000 B × 4/1,000; HEADs 2 × 0.5; SQS 6 × 1 → 4 + 4 + 4 + 4 + 1 + 6 = 23 over 2 updates
    expect(floorCpuPerUpdate(counts, 2, costs)).toBeCloseTo(11.5, 9);
    expect(requestsPerUpdate(counts, 2)).toBe((4 + 2 + 2 + 6) / 2);
  });

  it('never prices bytes below nothing when a large body happened to cost less than a small one', () => {
    const counts = emptyCounts();
    Object.assign(counts.s3, { get: 1, getBytes: 1000 });
    expect(floorCpuPerUpdate(counts, 1, { ...costs, getLarge: cost(0.5) })).toBe(1);
  });
});

describe('the scale benchmark on a tiny real round', () => {
  it('counts, per client-update, one update and one report written and one "update ready" sent', async () => {
    const clients = 12;
    const result = await measureScale({ clients, perRound: clients, rounds: 1, testSamples: 100, trainer: 'in-process' });
    expect(result.state).toBe('completed');
    expect(result.updates).toBe(clients);
    expect(result.rounds).toHaveLength(1);
    expect(result.rounds[0]!.clients).toBe(clients);
    const { train, aggregate } = result.counts;
    // the trainer writes its update, then its report, then announces it
    expect(train.s3.put).toBe(2 * clients);
    expect(train.sqs.send).toBe(clients);
    expect(train.sqs.received).toBe(clients);
    // the aggregator sent the round's train messages (10 a SendMessageBatch call) and received every "update ready"
    expect(aggregate.sqs.batched + result.setupCounts.aggregate.sqs.batched).toBeGreaterThanOrEqual(clients);
    expect(result.setupCounts.aggregate.sqs.sendBatch).toBe(Math.ceil(result.setupCounts.aggregate.sqs.batched / 10));
    expect(aggregate.sqs.received).toBeGreaterThanOrEqual(clients);
    expect(result.aggregator.messages).toBe(aggregate.sqs.received);
    // the close read every update: at least one GET of an update's size each
    expect(aggregate.s3.getBytes).toBeGreaterThanOrEqual(train.s3.putBytes / 2);
    // the start wrote one shard per client, counted apart from the round
    expect(result.setupCounts.aggregate.s3.put).toBeGreaterThanOrEqual(clients);
    expect(result.memory.storedBytes).toBeGreaterThanOrEqual(train.s3.putBytes + aggregate.s3.putBytes);
  }, 180_000);
});

describe("the scale document's emulator placements", () => {
  const run = (perRound: number, emulatorThread: boolean, overheadMsPerUpdate: number) =>
    ({
      options: { perRound, clients: 1000, rounds: 2, trainer: 'worker', trainWorkers: 2, emulatorThread },
      rounds: [{ overheadMsPerUpdate }],
    }) as unknown as ScaleRunResult;

  it('pairs each size with its other placement, then the repeats in order, never mixing sizes or incomplete pairs', () => {
    const asRun = run(1000, true, 31);
    const results = {
      runs: { a: asRun, b: run(1000, false, 35), c: run(10, false, 55), d: run(10, true, 59) },
      placementRepeats: {
        'x-pair3': run(1000, true, 30),
        'y-pair3': run(1000, false, 32),
        'x-pair2': run(1000, false, 36),
        'y-pair2': run(1000, true, 29),
        'x-pair4': run(1000, true, 28),
        'z-pair2': run(10, true, 70),
      },
    } as unknown as ScaleResults;
    const pairs = placementPairs(results, asRun);
    expect(pairs.map(({ onMain, ownThread }) => [meanOverheadPerUpdate(onMain), meanOverheadPerUpdate(ownThread)])).toEqual([
      [35, 31],
      [36, 29],
      [32, 30],
    ]);
  });
});
