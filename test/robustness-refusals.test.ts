import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../local/cloud.js';
import { compress, encodeCompressedUpdate, weightsDelta, type LossyCompression } from '../shared/compression/index.js';
import { parseCompressionConfig } from '../shared/config/compression.js';
import type { RoundMetrics } from '../shared/metrics/types.js';
import { keys } from '../shared/protocol/keys.js';
import type { TrainMessage } from '../shared/protocol/messages.js';
import { announceUpdate, readGlobal, shifted, startCloudWithScriptedClients, uploadConfig, waitFor, waitForStatus, writeUpdate } from './helpers/pipeline.js';

/**
 * Issue 12's bad input, through the real start, aggregate and timer handlers on the local cloud: configs a robust
 * aggregator cannot work with are refused at start naming the field, and a compressed update whose header lies about
 * its size is rejected with the decoder's reason. The test plays the clients.
 */

let cloud: LocalCloud;
let trainMessages: TrainMessage[];
beforeAll(async () => {
  ({ cloud, trainMessages } = await startCloudWithScriptedClients());
}, 60_000);
afterAll(async () => {
  await cloud?.stop();
});

async function refusal(experimentId: string, config: Record<string, unknown>): Promise<string> {
  await uploadConfig(cloud, experimentId, { name: experimentId, model: 'mlp', samplesPerClient: 10, ...config });
  const status = await waitForStatus(cloud, experimentId, (s) => s.state !== 'running');
  expect(status).toMatchObject({ state: 'failed', round: 0 });
  return (status.errors ?? []).join('\n');
}

/** a DP section that is fine on its own: the refusals below are about what it is combined with */
const dp = { clipping: { kind: 'fixed', norm: 1 }, noiseMultiplier: 1, delta: 1e-3 };

describe('configs a robust aggregator cannot work with are refused at start, naming the field', () => {
  it.each([
    ['krum-too-few', { clients: 4, aggregator: { kind: 'krum', f: 1 } }, /aggregator\.f: Krum tolerates f attackers only with n ≥ 2f \+ 3 = 5 updates, but 4 clients are sampled per round; f must be at most ⌊\(n − 3\)\/2⌋ = 0 \(got 1\)/],
    ['krum-f-vs-sampled', { clients: 10, sampling: { perRound: 3 }, aggregator: { kind: 'multi-krum', f: 3 } }, /aggregator\.f: must be less than the 3 clients sampled per round \(got 3\)/],
    ['trim-everything', { clients: 10, aggregator: { kind: 'trimmed-mean', beta: 0.5 } }, /aggregator\.beta: .*0\.5/],
    ['trim-nothing', { clients: 4, aggregator: { kind: 'trimmed-mean', beta: 0.2 } }, /aggregator\.beta: trims ⌊β·n⌋ = 0 updates per side when 4 clients are sampled per round/],
    ['too-big', { clients: 1000, model: 'cnn-mcmahan', aggregator: { kind: 'median' } }, /aggregator\.kind: "median" holds every update of a round at once: 1000 updates .* only \d+ fit in its 1769 MB; sample at most \d+ clients per round/],
    ['robust-scaffold', { clients: 5, strategy: { name: 'scaffold' }, aggregator: { kind: 'median' } }, /aggregator\.kind: "median" cannot be combined with strategy "scaffold"/],
    ['unknown-attacker', { clients: 3, adversaries: { kind: 'sign-flip', clients: ['client-007'] } }, /adversaries\.clients\[0\]: "client-007" is not a client of this experiment/],
    ['no-attacker', { clients: 3, adversaries: { kind: 'scale', fraction: 0.1 } }, /adversaries\.fraction: selects round\(fraction × clients\) = 0 of the 3 clients/],
    ['bad-compression', { clients: 3, compression: { kind: 'int4' } }, /compression\.kind/],
    ['dp-median', { clients: 10, sampling: { method: 'poisson', fraction: 0.5 }, privacy: dp, aggregator: { kind: 'median' } }, /aggregator\.kind: "median" cannot be combined with privacy yet/],
    ['dp-alie', { clients: 10, sampling: { method: 'poisson', fraction: 0.5 }, privacy: dp, adversaries: { kind: 'alie', fraction: 0.2 } }, /adversaries\.kind: "alie" cannot be combined with privacy/],
  ])('%s', async (experimentId, config, expected) => {
    expect(await refusal(experimentId, config)).toMatch(expected);
  }, 60_000);
});

describe('a compressed update whose header lies about its size', () => {
  it('is rejected with the reason as a verdict, and the round closes with the honest update', async () => {
    const experimentId = 'lying-header';
    const compression = { kind: 'topk', ratio: 0.01, errorFeedback: true } as const;
    await uploadConfig(cloud, experimentId, { name: experimentId, clients: 2, rounds: 1, model: 'mlp', samplesPerClient: 10, testSamples: 50, compression, round: { minClients: 1 } });
    const messages = await waitFor('two train messages', async () => {
      const mine = trainMessages.filter((message) => message.experimentId === experimentId);
      return mine.length >= 2 ? mine.slice(0, 2) : undefined;
    });
    const global = await readGlobal(cloud, experimentId, 0);
    const encoded = (shift: number) => encodeCompressedUpdate(compress(weightsDelta(shifted(global, shift), global), undefined, parseCompressionConfig(compression) as LossyCompression, 1).payload);
    const honest = encoded(0.01);
    // The same bytes with a header that claims top-k 2 % where 1 % was sent ("0.01" → "0.02": the header's length is unchanged).
    const lying = encoded(0.02);
    const headerLength = new DataView(lying.buffer, lying.byteOffset).getUint32(4, true);
    const header = new TextDecoder().decode(lying.subarray(8, 8 + headerLength));
    expect(header).toContain('"ratio":0.01');
    lying.set(new TextEncoder().encode(header.replace('"ratio":0.01', '"ratio":0.02')), 8);

    await writeUpdate(cloud, messages[0]!, honest, 10);
    await writeUpdate(cloud, messages[1]!, lying, 10);
    for (const message of messages) await announceUpdate(cloud, message);
    const status = await waitForStatus(cloud, experimentId, (s) => s.state !== 'running');
    expect(status.state, JSON.stringify(status.errors)).toBe('completed');

    const metrics = JSON.parse((await cloud.context.store.getText(keys.roundMetrics(experimentId, 1)))!) as RoundMetrics;
    expect(metrics.clients.map((client) => client.clientId)).toEqual([messages[0]!.clientId]);
    expect(metrics.rejectedClients).toHaveLength(1);
    expect(metrics.rejectedClients[0]!.clientId).toBe(messages[1]!.clientId);
    expect(metrics.rejectedClients[0]!.reason).toMatch(/truncated: the header's \d+ topk tensors .* need \d+ bytes, got \d+/);
    expect(metrics.bytes.up).toBe(honest.byteLength);
  }, 120_000);
});
