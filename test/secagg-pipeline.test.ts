import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../local/cloud.js';
import type { ExperimentConfigInput } from '../shared/config/schema.js';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import type { PipelineContext } from '../shared/pipeline/context.js';
import { keys } from '../shared/protocol/keys.js';
import type { TrainMessage } from '../shared/protocol/messages.js';
import { readGlobal, type LogEntry } from './helpers/pipeline.js';
import { startSecAggCloud, type SecAggCloud } from './helpers/secagg-cloud.js';

/**
 * Secure aggregation end to end on the embedded local cloud: real S3/SQS (fauxqs), the real handlers, real tfjs
 * training on a small slice. The aggregator's store is wrapped to record every key it reads; the trainer is the real
 * handler in this thread behind a filter that makes chosen clients drop out of a chosen stage (their stage messages are
 * consumed and never answered) and that replays stage messages through the real queues.
 */

const CLIPPING = 1;
const BITS = 16;
const base = {
  // 4 clients, complete graph (k = 3), t = 2: a round survives k − t = 1 dropout.
  clients: 4,
  rounds: 1,
  model: 'cnn-small',
  samplesPerClient: 150,
  testSamples: 300,
  partition: { kind: 'iid' },
  round: { deadlineSeconds: 45, minClients: 2 },
} as const satisfies ExperimentConfigInput;
const secureAggregation = { threshold: 2, clippingRange: CLIPPING, quantizationBits: BITS, stageDeadlineSeconds: 60 } as const;

const replayed = new Set<string>();
const replayIn = new Set<string>();

/**
 * Replays: every stage message once more through the train queue, and its announcement twice more through the FIFO
 * aggregate queue (new deduplication ids, so SQS delivers them).
 */
async function replay(context: PipelineContext, messages: readonly TrainMessage[], droppedOut: (message: TrainMessage) => boolean) {
  for (const message of messages) {
    const id = `${message.experimentId}:${message.clientId}:${message.stage}`;
    if (!replayIn.has(message.experimentId) || !message.stage || droppedOut(message) || replayed.has(id)) continue;
    replayed.add(id);
    await context.queues.train.send(message);
    for (const copy of [1, 2]) {
      await context.queues.aggregate.send(
        { type: 'secagg', experimentId: message.experimentId, round: message.round, clientId: message.clientId, stage: message.stage },
        { groupId: message.experimentId, deduplicationId: `replay:${id}:${copy}` },
      );
    }
  }
}

describe('secure aggregation through the pipeline on the local cloud', () => {
  let cloud: LocalCloud;
  let harness: SecAggCloud;
  let logs: LogEntry[];
  let dropouts: SecAggCloud['dropouts'];
  const run: SecAggCloud['run'] = (...args) => harness.run(...args);

  beforeAll(async () => {
    harness = await startSecAggCloud({ afterTrain: replay });
    ({ cloud, logs, dropouts } = harness);
  }, 60_000);
  afterAll(async () => {
    await cloud?.stop();
  });

  const metricsOf = async (experimentId: string) => JSON.parse((await cloud.context.store.getText(keys.metrics(experimentId)))!) as ExperimentMetrics;

  it('unmasks the same global model as plain FedAvg within the quantization step, with replayed stage messages changing nothing, and the aggregator reading no individual update', async () => {
    const plain = await run('sa-plain', base, 'completed');
    // The instrument sees individual updates when there are some: the plain aggregator reads them.
    expect(new Set(plain.reads.filter((key) => /\/updates\/[^/]+\.bin$/.test(key))).size).toBe(4);

    replayIn.add('sa-masked');
    const masked = await run('sa-masked', { ...base, secureAggregation }, 'completed');
    // Every key the aggregator read: no individual update, no client secret; the masked inputs, all four.
    expect(masked.reads.filter((key) => /\/updates\/[^/]+\.bin$/.test(key) || /\/clients\/[^/]+\/secagg\//.test(key))).toEqual([]);
    expect(new Set(masked.reads.filter((key) => key.includes('/secagg/masked/') && key.endsWith('.bin')))).toEqual(
      new Set(['client-000', 'client-001', 'client-002', 'client-003'].map((id) => keys.secaggMaskedVector('sa-masked', 1, id))),
    );

    // Replays happened (the trainer re-announced answered stages, the aggregator saw duplicates) and changed nothing.
    expect(logs.some(({ event, fields }) => event === 'aggregate.outcome' && fields.experimentId === 'sa-masked' && fields.outcome === 'duplicate')).toBe(true);
    const metrics = await metricsOf('sa-masked');
    const round = metrics.rounds[0]!;
    expect(round.clients.map((client) => client.clientId)).toEqual(['client-000', 'client-001', 'client-002', 'client-003']);
    expect(round.secureAggregation?.outcome).toBe('unmasked');
    expect(round.secureAggregation?.stages.map((stage) => [stage.stage, stage.asked, stage.answered, stage.closedBy])).toEqual([
      ['advertise-keys', 4, 4, 'all-answered'],
      ['share-keys', 4, 4, 'all-answered'],
      ['masked-input', 4, 4, 'all-answered'],
      ['unmask', 4, 4, 'all-answered'],
    ]);
    for (const stage of round.secureAggregation!.stages) {
      expect(Object.keys(stage.upBytes).sort()).toEqual(['client-000', 'client-001', 'client-002', 'client-003']);
      expect(stage.ms).toBeGreaterThanOrEqual(0);
    }
    // Bytes up in the masked-input stage: the masked vector (one word per parameter, plus the weight word) and its notice.
    const global = await readGlobal(cloud, 'sa-masked', 1);
    const parameters = global.reduce((total, tensor) => total + tensor.values.length, 0);
    const maskedUp = round.secureAggregation!.stages[2]!.upBytes['client-000']!;
    expect(maskedUp).toBeGreaterThan(4 * (parameters + 1));
    expect(maskedUp).toBeLessThan(4 * (parameters + 1) + 1024);

    // The unmasked mean of the clipped, quantized updates is plain FedAvg's to within one quantization step.
    const expected = await readGlobal(cloud, 'sa-plain', 1);
    const step = (2 * CLIPPING) / (2 ** BITS - 1);
    let worst = 0;
    global.forEach((tensor, t) => tensor.values.forEach((value, i) => (worst = Math.max(worst, Math.abs(value - expected[t]!.values[i]!)))));
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(step * 1.01);
    expect(Math.abs(round.accuracy - (await metricsOf('sa-plain')).rounds[0]!.accuracy)).toBeLessThanOrEqual(0.01);
  }, 900_000);

  it('completes when one client drops out at the masked-input stage and t survive, recording why', async () => {
    dropouts.set('sa-drop-one', { stage: 'masked-input', clients: ['client-001'] });
    const { reads } = await run('sa-drop-one', { ...base, round: { deadlineSeconds: 20, minClients: 2 }, secureAggregation }, 'completed');
    expect(reads.filter((key) => /\/updates\/[^/]+\.bin$/.test(key) || /\/clients\/[^/]+\/secagg\//.test(key))).toEqual([]);
    const round = (await metricsOf('sa-drop-one')).rounds[0]!;
    expect(round.clients.map((client) => client.clientId)).toEqual(['client-000', 'client-002', 'client-003']);
    expect(round.rejectedClients).toEqual([{ clientId: 'client-001', reason: expect.stringContaining('masked-input stage') }]);
    expect(round.secureAggregation?.stages.map((stage) => [stage.stage, stage.asked, stage.answered, stage.closedBy])).toEqual([
      ['advertise-keys', 4, 4, 'all-answered'],
      ['share-keys', 4, 4, 'all-answered'],
      ['masked-input', 4, 3, 'deadline'],
      ['unmask', 3, 3, 'all-answered'],
    ]);
    expect(round.accuracy).toBeGreaterThan(0.2);
  }, 900_000);

  // Issue 14: a round survives up to k − t dropouts at any stage. Here k − t = 1, at the first and the last stage.
  const quick = { ...secureAggregation, stageDeadlineSeconds: 8 };
  const worstDistance = (a: Awaited<ReturnType<typeof readGlobal>>, b: Awaited<ReturnType<typeof readGlobal>>) => {
    let worst = 0;
    a.forEach((tensor, t) => tensor.values.forEach((value, i) => (worst = Math.max(worst, Math.abs(value - b[t]!.values[i]!)))));
    return worst;
  };

  it('completes when one client drops out at the unmask stage: its masked input stays in the sum, its self mask is rebuilt from the others\' shares', async () => {
    dropouts.set('sa-drop-unmask', { stage: 'unmask', clients: ['client-002'] });
    const { reads } = await run('sa-drop-unmask', { ...base, secureAggregation: quick }, 'completed');
    expect(reads.filter((key) => /\/updates\/[^/]+\.bin$/.test(key) || /\/clients\/[^/]+\/secagg\//.test(key))).toEqual([]);
    const round = (await metricsOf('sa-drop-unmask')).rounds[0]!;
    expect(round.clients.map((client) => client.clientId)).toEqual(['client-000', 'client-001', 'client-002', 'client-003']);
    expect(round.secureAggregation?.stages.map((stage) => [stage.stage, stage.asked, stage.answered, stage.closedBy])).toEqual([
      ['advertise-keys', 4, 4, 'all-answered'],
      ['share-keys', 4, 4, 'all-answered'],
      ['masked-input', 4, 4, 'all-answered'],
      ['unmask', 4, 3, 'deadline'],
    ]);
    // Every mask removed: the mean of all four is plain FedAvg's (the first test's run) within one quantization step.
    const step = (2 * CLIPPING) / (2 ** BITS - 1);
    expect(worstDistance(await readGlobal(cloud, 'sa-drop-unmask', 1), await readGlobal(cloud, 'sa-plain', 1))).toBeLessThanOrEqual(step * 1.01);
  }, 900_000);

  it('completes when one client drops out at the advertise-keys stage: the other three run the protocol among themselves', async () => {
    dropouts.set('sa-drop-advertise', { stage: 'advertise-keys', clients: ['client-003'] });
    const { reads } = await run('sa-drop-advertise', { ...base, secureAggregation: quick }, 'completed');
    expect(reads.filter((key) => /\/updates\/[^/]+\.bin$/.test(key) || /\/clients\/[^/]+\/secagg\//.test(key))).toEqual([]);
    const round = (await metricsOf('sa-drop-advertise')).rounds[0]!;
    expect(round.clients.map((client) => client.clientId)).toEqual(['client-000', 'client-001', 'client-002']);
    expect(round.rejectedClients).toEqual([{ clientId: 'client-003', reason: expect.stringContaining('advertise-keys stage') }]);
    expect(round.secureAggregation?.stages.map((stage) => [stage.stage, stage.asked, stage.answered, stage.closedBy])).toEqual([
      ['advertise-keys', 4, 3, 'deadline'],
      ['share-keys', 3, 3, 'all-answered'],
      ['masked-input', 3, 3, 'all-answered'],
      ['unmask', 3, 3, 'all-answered'],
    ]);
    expect(round.accuracy).toBeGreaterThan(0.2);
  }, 900_000);

  it('completes when one client drops out at the share-keys stage: nobody holds its shares, so it is left out of the masks', async () => {
    dropouts.set('sa-drop-share', { stage: 'share-keys', clients: ['client-000'] });
    const { reads } = await run('sa-drop-share', { ...base, secureAggregation: quick }, 'completed');
    expect(reads.filter((key) => /\/updates\/[^/]+\.bin$/.test(key) || /\/clients\/[^/]+\/secagg\//.test(key))).toEqual([]);
    const round = (await metricsOf('sa-drop-share')).rounds[0]!;
    expect(round.clients.map((client) => client.clientId)).toEqual(['client-001', 'client-002', 'client-003']);
    expect(round.rejectedClients).toEqual([{ clientId: 'client-000', reason: expect.stringContaining('share-keys stage') }]);
    expect(round.secureAggregation?.stages.map((stage) => [stage.stage, stage.asked, stage.answered, stage.closedBy])).toEqual([
      ['advertise-keys', 4, 4, 'all-answered'],
      ['share-keys', 4, 3, 'deadline'],
      ['masked-input', 3, 3, 'all-answered'],
      ['unmask', 3, 3, 'all-answered'],
    ]);
    expect(round.accuracy).toBeGreaterThan(0.2);
  }, 900_000);

  it('fails the round with the reason when fewer than t masked inputs arrive', async () => {
    dropouts.set('sa-drop-two', { stage: 'masked-input', clients: ['client-000', 'client-002', 'client-003'] });
    const { status } = await run('sa-drop-two', { ...base, round: { deadlineSeconds: 20, minClients: 2 }, secureAggregation }, 'failed');
    expect(status.errors?.join(' ')).toMatch(/secure aggregation failed at the masked-input stage: .*threshold/i);
  }, 900_000);
});
