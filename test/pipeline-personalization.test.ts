import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAggregateHandler } from '../functions/aggregate.js';
import { createStartHandler } from '../functions/start.js';
import { createTimerHandler } from '../functions/timer.js';
import { createTrainHandler } from '../functions/train.js';
import { startLocalCloud, type LocalCloud } from '../local/cloud.js';
import { loadMnistFromPackage, subset } from '../shared/data/mnist.js';
import { decodeShard } from '../shared/data/shard-codec.js';
import { trainLocal } from '../shared/engine/train.js';
import type { ExperimentMetrics, RoundMetrics } from '../shared/metrics/types.js';
import { weightSpecs } from '../shared/models/index.js';
import { readResolvedConfig } from '../shared/pipeline/experiment.js';
import { latestKeptState } from '../shared/pipeline/client-state.js';
import { holdoutSplit, mergeWeights, personalizationProblems, splitWeights, withPersonalization } from '../shared/strategies/fedper.js';
import { strategyFor } from '../shared/strategies/index.js';
import { trainClient } from '../shared/pipeline/train.js';
import { keys } from '../shared/protocol/keys.js';
import { trainMessageSchema, type TrainMessage } from '../shared/protocol/messages.js';
import type { UpdateReport } from '../shared/protocol/records.js';
import { updateReportSchema } from '../shared/protocol/records.js';
import { deriveSeed } from '../shared/random.js';
import { decodeModelWeights, encodeModelWeights } from '../shared/weights/codec.js';
import type { ModelWeights } from '../shared/weights/types.js';
import {
  announceUpdate,
  readGlobal,
  shifted,
  uploadConfig,
  waitFor,
  waitForStatus,
  writeUpdate,
} from './helpers/pipeline.js';

const names = (weights: readonly { name: string }[]) => weights.map((tensor) => tensor.name);
const tensorsNamed = (weights: ModelWeights, prefix: string) => weights.filter((tensor) => tensor.name.startsWith(prefix));
const maxAbsDifference = (a: ModelWeights, b: ModelWeights) =>
  Math.max(...a.map((tensor, t) => tensor.values.reduce((max, value, i) => Math.max(max, Math.abs(value - b[t]!.values[i]!)), 0)));

function tinyModel(): ModelWeights {
  return [
    { name: 'dense1/kernel', shape: [2, 2], values: Float32Array.of(1, 2, 3, 4) },
    { name: 'dense1/bias', shape: [2], values: Float32Array.of(5, 6) },
    { name: 'dense10/kernel', shape: [2, 1], values: Float32Array.of(7, 8) },
    { name: 'logits/kernel', shape: [1, 1], values: Float32Array.of(9) },
    { name: 'logits/bias', shape: [1], values: Float32Array.of(10) },
  ];
}

describe('splitting a model into shared and local layers', () => {
  it('puts every weight whose name starts with a prefix in the local part, keeping the model order in both parts', () => {
    const { shared, local } = splitWeights(tinyModel(), ['logits']);
    expect(names(shared)).toEqual(['dense1/kernel', 'dense1/bias', 'dense10/kernel']);
    expect(names(local)).toEqual(['logits/kernel', 'logits/bias']);
    // Prefixes are plain string prefixes, as the config documents: "dense1" also takes "dense10".
    expect(names(splitWeights(tinyModel(), ['dense1']).local)).toEqual(['dense1/kernel', 'dense1/bias', 'dense10/kernel']);
    expect(names(splitWeights(tinyModel(), ['dense1/', 'logits/bias']).local)).toEqual(['dense1/kernel', 'dense1/bias', 'logits/bias']);
  });

  it('merges the parts back into the model layout, and refuses a merge that drops or adds a tensor', () => {
    const model = tinyModel();
    const { shared, local } = splitWeights(model, ['logits']);
    expect(mergeWeights(model, local, shared)).toEqual(model);
    expect(() => mergeWeights(model, shared)).toThrow(/"logits\/kernel" of the model is missing/);
    expect(() => mergeWeights(model, shared, local, [{ name: 'extra/bias', shape: [1], values: Float32Array.of(0) }])).toThrow(/"extra\/bias" is not a weight/);
    expect(() => mergeWeights(model, shared, local, local)).toThrow(/given twice/);
  });

  it('names prefixes that match no weight of the model, and a choice that leaves nothing shared', () => {
    expect(personalizationProblems('mlp', { localLayers: ['logits'] })).toEqual([]);
    expect(personalizationProblems('mlp', undefined)).toEqual([]);
    expect(personalizationProblems('mlp', { localLayers: ['logits', 'conv1'] })).toEqual([
      'personalization.localLayers[1]: "conv1" is the start of no weight name of model "mlp" (its layers: dense1, dense2, logits)',
    ]);
    expect(personalizationProblems('mlp', { localLayers: ['dense', 'logits'] })).toEqual([
      'personalization.localLayers: must leave at least one layer of model "mlp" shared (it names all of dense1, dense2, logits)',
    ]);
  });

  it('as a wrapper: the server half averages the shared layers, keeps the global head, and refuses an upload with a local layer', () => {
    const model = tinyModel();
    const { shared, local } = splitWeights(model, ['logits']);
    const fedper = withPersonalization(strategyFor({ name: 'fedavg' }), { localLayers: ['logits'] });
    expect(names([...fedper.server.averagedPart(model)])).toEqual(names(shared));
    const next = fedper.server.complete(model, shifted([...shared], 1));
    expect(names(next)).toEqual(names(model));
    expect(splitWeights(next, ['logits']).local).toEqual(local);
    expect(splitWeights(next, ['logits']).shared).toEqual(shifted([...shared], 1));
    expect(fedper.server.uploadProblem(names(shared))).toBeUndefined();
    expect(fedper.server.uploadProblem(names(model))).toMatch(/local-layer tensor\(s\) "logits\/kernel", "logits\/bias"/);
  });
});

describe('the held-out part of a shard', () => {
  let shard: ReturnType<typeof subset>;
  beforeAll(async () => {
    const { train } = await loadMnistFromPackage();
    shard = subset(train, Array.from({ length: 50 }, (_, i) => i * 7));
  });

  const fingerprints = (dataset: typeof shard) =>
    Array.from({ length: dataset.count }, (_, i) => Buffer.from(dataset.images.subarray(i * 784, (i + 1) * 784)).toString('base64'));

  it('holds out a seeded 20 %, disjoint from the training part, the same for the same seed', () => {
    const first = holdoutSplit(shard, 11);
    expect(first.holdout?.count).toBe(10);
    expect(first.train.count).toBe(40);
    const together = [...fingerprints(first.train), ...fingerprints(first.holdout!)];
    expect(new Set(together).size).toBe(50);
    expect(together.sort()).toEqual(fingerprints(shard).sort());
    expect(fingerprints(holdoutSplit(shard, 11).holdout!)).toEqual(fingerprints(first.holdout!));
    expect(fingerprints(holdoutSplit(shard, 12).holdout!)).not.toEqual(fingerprints(first.holdout!));
  });

  it('always keeps a sample for training and holds out none from a one-sample shard', () => {
    expect(holdoutSplit(subset(shard, [0, 1]), 1, 0.9)).toMatchObject({ train: { count: 1 }, holdout: { count: 1 } });
    expect(holdoutSplit(subset(shard, [0, 1, 2]), 1, 0.01).holdout?.count).toBe(1);
    expect(holdoutSplit(subset(shard, [0]), 1)).toMatchObject({ train: { count: 1 }, holdout: undefined });
  });
});

/** Experiments whose clients the real trainer trains; the test plays the clients of every other experiment. */
const REAL_TRAINING = 'real-';

/**
 * One local cloud with the real start, aggregate and timer handlers, and a train handler that records every train
 * message and runs the real trainer (in this thread, not in worker threads: one cloud start instead of two) for
 * REAL_TRAINING experiments only.
 */
let cloud: LocalCloud;
const trainMessages: TrainMessage[] = [];

beforeAll(async () => {
  cloud = await startLocalCloud({
    visibilityTimeoutSeconds: { aggregate: 1, timer: 1, train: 120 },
    startRetryDelaysMs: [100, 200],
    log: () => {},
    handlers: (context) => {
      const getContext = async () => context;
      const train = createTrainHandler(getContext);
      return {
        start: createStartHandler(getContext),
        aggregate: createAggregateHandler(getContext),
        timer: createTimerHandler(getContext),
        train: async (event: SQSEvent) => {
          const messages = event.Records.map((record) => trainMessageSchema.parse(JSON.parse(record.body)));
          trainMessages.push(...messages);
          const real = event.Records.filter((_, index) => messages[index]!.experimentId.startsWith(REAL_TRAINING));
          return real.length ? train({ Records: real }) : { batchItemFailures: [] };
        },
      };
    },
  });
});
afterAll(async () => {
  await cloud?.stop();
});

describe('personalized rounds with scripted clients', () => {
  const waitForTrainMessages = (experimentId: string, round: number, clients: number) =>
    waitFor(`${clients} train messages for round ${round}`, async () => {
      const messages = trainMessages.filter((message) => message.experimentId === experimentId && message.round === round);
      return messages.length >= clients ? messages : undefined;
    });

  async function writePersonalReport(message: TrainMessage, personalizedAccuracy: number, holdoutSamples: number, samples = 10) {
    const key = keys.updateReport(message.experimentId, message.round, message.clientId);
    const report = JSON.parse((await cloud.context.store.getText(key))!) as UpdateReport;
    await cloud.context.store.put(key, JSON.stringify({ ...report, samples, personalizedAccuracy, holdoutSamples } satisfies UpdateReport));
  }

  it('averages only the shared layers, keeps the global model\'s local layers, and rejects updates carrying local layers', async () => {
    const id = 'fedper-scripted';
    await uploadConfig(cloud, id, {
      name: 'fedper scripted', clients: 5, rounds: 1, model: 'mlp', samplesPerClient: 20, testSamples: 100,
      personalization: { localLayers: ['logits'] }, round: { minClients: 2 },
    });
    const [a, b, leaky, misshapen, greedy] = await waitForTrainMessages(id, 1, 5);
    const global0 = await readGlobal(cloud, id, 0);
    const { shared } = splitWeights(global0, ['logits']);

    await writeUpdate(cloud, a!, shifted(shared, 1), 10);
    await writePersonalReport(a!, 0.5, 2);
    await writeUpdate(cloud, b!, shifted(shared, 3), 10);
    await writePersonalReport(b!, 1, 6);
    // The whole model, local layers included: exactly what FedPer must never send.
    await writeUpdate(cloud, leaky!, shifted(global0, 1), 10);
    await writeUpdate(cloud, misshapen!, shared.map((tensor, i) => (i === 0 ? { ...tensor, shape: [tensor.values.length - 1], values: tensor.values.slice(1) } : tensor)), 10);
    // 18 trained on + 4 held out is more than the 20 samples of its shard.
    await writeUpdate(cloud, greedy!, shifted(shared, 1), 18);
    await writePersonalReport(greedy!, 0.9, 4, 18);
    for (const message of [a!, b!, leaky!, misshapen!, greedy!]) await announceUpdate(cloud, message);

    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running');
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed' });
    const metrics = JSON.parse((await cloud.context.store.getText(keys.roundMetrics(id, 1)))!) as RoundMetrics;
    expect(metrics.clients.map((client) => client.clientId)).toEqual([a!.clientId, b!.clientId]);
    const reasons = Object.fromEntries(metrics.rejectedClients.map(({ clientId, reason }) => [clientId, reason]));
    expect(Object.keys(reasons).sort()).toEqual([leaky!.clientId, misshapen!.clientId, greedy!.clientId].sort());
    expect(reasons[leaky!.clientId]).toMatch(/local-layer tensor\(s\) "logits\/kernel", "logits\/bias"/);
    expect(reasons[misshapen!.clientId]).toMatch(/shape/);
    expect(reasons[greedy!.clientId]).toMatch(/claims 22 samples \(18 trained on \+ 4 held out\) but its data holds 20/);

    const global1 = await readGlobal(cloud, id, 1);
    expect(names(global1)).toEqual(names(global0));
    // FedAvg over the shared layers: equal weights of shifts +1 and +3.
    for (const [t, tensor] of global1.entries()) {
      const before = global0[t]!;
      if (tensor.name.startsWith('logits')) expect(tensor.values).toEqual(before.values);
      else expect(tensor.values[0]).toBeCloseTo(before.values[0]! + 2, 4);
    }
    // Pooled over held-out samples: (0.5·2 + 1·6) / 8.
    expect(metrics.personalizedAccuracy).toBeCloseTo(7 / 8, 10);
    expect(metrics.clients.map(({ personalizedAccuracy, holdoutSamples }) => ({ personalizedAccuracy, holdoutSamples }))).toEqual([
      { personalizedAccuracy: 0.5, holdoutSamples: 2 },
      { personalizedAccuracy: 1, holdoutSamples: 6 },
    ]);
  });

  it('a retried round starts from the same local layers even after its first attempt saved them', async () => {
    const id = 'fedper-retry';
    await uploadConfig(cloud, id, {
      name: 'fedper retry', clients: 2, rounds: 1, model: 'mlp', samplesPerClient: 30, testSamples: 100,
      personalization: { localLayers: ['dense2', 'logits'] },
    });
    const [message] = await waitForTrainMessages(id, 1, 2);
    const store = cloud.context.store;
    // An earlier round's saved layers, as the client would have left them.
    const global0 = await readGlobal(cloud, id, 0);
    const earlier = shifted(splitWeights(global0, ['dense2', 'logits']).local, 0.01);
    const retried = { ...message!, round: 3 };
    await store.put(keys.personalLayers(id, message!.clientId, 1), encodeModelWeights(earlier));
    await store.put(keys.globalModel(id, 2), encodeModelWeights(global0));

    expect(await trainClient(cloud.context, retried)).toBe('trained');
    const firstLayers = await store.get(keys.personalLayers(id, message!.clientId, 3));
    const firstUpdate = await store.get(keys.update(id, 3, message!.clientId));
    const report = updateReportSchema.parse(JSON.parse((await store.getText(keys.updateReport(id, 3, message!.clientId)))!));
    expect(report).toMatchObject({ samples: 24, holdoutSamples: 6 });
    const latestRound = async (round: number) => (await latestKeptState(store, { experimentId: id, round, clientId: message!.clientId }, 'personal'))?.round;
    expect(await latestRound(4)).toBe(3);
    expect(await latestRound(3)).toBe(1);

    // The first attempt died after saving its layers but before its report: the retry must train exactly the same.
    await store.delete(keys.updateReport(id, 3, message!.clientId));
    expect(await trainClient(cloud.context, retried)).toBe('trained');
    expect(Buffer.compare(Buffer.from((await store.get(keys.personalLayers(id, message!.clientId, 3)))!), Buffer.from(firstLayers!))).toBe(0);
    expect(Buffer.compare(Buffer.from((await store.get(keys.update(id, 3, message!.clientId)))!), Buffer.from(firstUpdate!))).toBe(0);
    // And it did start from round 1's layers, not the global model's: from those it trains to something else.
    await store.delete(keys.personalLayers(id, message!.clientId, 1));
    await store.delete(keys.updateReport(id, 3, message!.clientId));
    await store.delete(keys.personalLayers(id, message!.clientId, 3));
    expect(await trainClient(cloud.context, retried)).toBe('trained');
    expect(Buffer.compare(Buffer.from((await store.get(keys.personalLayers(id, message!.clientId, 3)))!), Buffer.from(firstLayers!))).not.toBe(0);
  });
});

describe('FedPer with real training on the embedded local cloud', () => {
  it('keeps the local layers on the clients, carries them over between rounds and reports personalized accuracy', async () => {
    const id = `${REAL_TRAINING}fedper`;
    const clients = ['client-000', 'client-001', 'client-002'];
    await uploadConfig(cloud, id, {
      name: 'fedper', clients: 3, rounds: 2, model: 'mlp', samplesPerClient: 200, testSamples: 500,
      partition: { kind: 'shards' }, personalization: { localLayers: ['logits'] },
    });
    const status = await waitForStatus(cloud, id, (s) => s.state !== 'running', 240_000);
    expect(status, JSON.stringify(status.errors)).toMatchObject({ state: 'completed', round: 2 });
    const store = cloud.context.store;
    const global0 = await readGlobal(cloud, id, 0);
    const global1 = await readGlobal(cloud, id, 1);
    const global2 = await readGlobal(cloud, id, 2);
    const sharedNames = weightSpecs('mlp').map((spec) => spec.name).filter((name) => !name.startsWith('logits'));

    // No update carries a local-layer tensor; every client saved its own local layers each round.
    for (const round of [1, 2]) {
      for (const clientId of clients) {
        const update = decodeModelWeights((await store.get(keys.update(id, round, clientId)))!);
        expect(names(update)).toEqual(sharedNames);
        const personal = decodeModelWeights((await store.get(keys.personalLayers(id, clientId, round)))!);
        expect(names(personal)).toEqual(['logits/kernel', 'logits/bias']);
      }
    }
    // The global model keeps its own head: the round-0 one, never averaged.
    expect(tensorsNamed(global2, 'logits')).toEqual(tensorsNamed(global0, 'logits'));

    // Round 2 of client-001 started from the global shared layers of round 1 and the head it saved in round 1:
    // training that start on its shard minus the held-out part reproduces what the client saved and sent.
    const clientId = 'client-001';
    const config = await readResolvedConfig(store, id);
    const { train } = holdoutSplit(decodeShard((await store.get(keys.shard(id, clientId)))!), deriveSeed(config.seed, 'holdout', clientId));
    const savedHead = (round: number) => store.get(keys.personalLayers(id, clientId, round)).then((bytes) => decodeModelWeights(bytes!));
    const replay = (head: ModelWeights) =>
      trainLocal({
        model: 'mlp', weights: mergeWeights(global1, splitWeights(global1, ['logits']).shared, head), shard: train,
        local: config.local, seed: deriveSeed(config.seed, 'train', 2, clientId),
      }).then((result) => splitWeights(result.weights, ['logits']));
    const fromOwnHead = await replay(await savedHead(1));
    expect(maxAbsDifference(fromOwnHead.local, await savedHead(2))).toBeLessThan(1e-5);
    expect(maxAbsDifference(fromOwnHead.shared, decodeModelWeights((await store.get(keys.update(id, 2, clientId)))!))).toBeLessThan(1e-5);
    const fromGlobalHead = await replay(tensorsNamed(global1, 'logits'));
    expect(maxAbsDifference(fromGlobalHead.local, await savedHead(2))).toBeGreaterThan(1e-3);

    // Both accuracies are reported: the global model's and each client's own, on 40 held-out samples of its 200.
    const metrics = JSON.parse((await store.getText(keys.metrics(id)))!) as ExperimentMetrics;
    for (const round of metrics.rounds) {
      expect(round.clients.map((client) => [client.clientId, client.samples, client.holdoutSamples])).toEqual(
        clients.map((client) => [client, 160, 40]),
      );
      for (const client of round.clients) expect(client.personalizedAccuracy).toBeGreaterThanOrEqual(0);
      const pooled = round.clients.reduce((sum, client) => sum + client.personalizedAccuracy! * client.holdoutSamples!, 0) / 120;
      expect(round.personalizedAccuracy).toBeCloseTo(pooled, 10);
    }
    // Each client sees only a few digits: its own head beats the global model on its own data.
    const last = metrics.rounds[1]!;
    expect(last.personalizedAccuracy).toBeGreaterThan(last.accuracy);
  });
});
