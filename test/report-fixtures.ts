/**
 * Plausible ExperimentMetrics for report tests: shaped like a real run (curves that rise, a confusion matrix whose
 * diagonal is the per-class accuracy, label-skewed shards) but made in microseconds, so report tests need no training.
 */

import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { ClientPartitionStats, ExperimentMetrics, RoundMetrics } from '../shared/metrics/types.js';

export interface FabricateOptions {
  readonly experimentId?: string;
  readonly name?: string;
  readonly rounds?: number;
  readonly clients?: number;
  readonly classes?: number;
  readonly partition?: 'iid' | 'shards';
  readonly seed?: number;
  readonly testImagesPerClass?: number;
  readonly samplesPerClient?: number;
  /** Leave out the summary, as metrics.json looks while a run is going. */
  readonly running?: boolean;
  /** Clients whose update is missing in a round (deadline reached with quorum). */
  readonly missing?: readonly { readonly round: number; readonly clientId: string }[];
  readonly rejected?: readonly { readonly round: number; readonly clientId: string; readonly reason: string }[];
  readonly backend?: 'wasm' | 'tensorflow' | 'cpu';
}

const PARAMETERS = 206_922;

export function fabricateMetrics(options: FabricateOptions = {}): ExperimentMetrics {
  const rounds = options.rounds ?? 5;
  const clientCount = options.clients ?? 5;
  const classes = options.classes ?? 10;
  const kind = options.partition ?? 'iid';
  const seed = options.seed ?? 7;
  const perClassTest = options.testImagesPerClass ?? 100;
  const samplesPerClient = options.samplesPerClient ?? 1200;
  const experimentId = options.experimentId ?? `mnist-${kind}-${seed}`;
  const name = options.name ?? (kind === 'iid' ? 'MNIST IID' : 'MNIST label skew');
  const backend = options.backend ?? 'wasm';
  const rng = xoroshiro128plus(seed);
  const random = () => uniformFloat64(rng);
  const clientIds = Array.from({ length: clientCount }, (_, index) => `client-${String(index).padStart(3, '0')}`);

  const partitionClients: ClientPartitionStats[] = clientIds.map((clientId, index) => {
    const histogram = new Array<number>(classes).fill(0);
    if (kind === 'iid') {
      for (let sample = 0; sample < samplesPerClient; sample += 1) histogram[Math.floor(random() * classes)]! += 1;
    } else {
      // Two shards of neighbouring digits per client, as sorted-MNIST shards give.
      const first = (index * 2) % classes;
      histogram[first] = Math.round(samplesPerClient * (0.45 + random() * 0.1));
      histogram[(first + 1) % classes] = samplesPerClient - histogram[first]!;
    }
    return { clientId, samples: histogram.reduce((sum, count) => sum + count, 0), labelHistogram: histogram };
  });
  const held = Array.from({ length: classes }, (_, digit) => partitionClients.some((client) => (client.labelHistogram[digit] ?? 0) > 0));

  const start = Date.parse('2025-03-01T14:00:00.000Z');
  let clock = start;
  const roundMetrics: RoundMetrics[] = [];
  for (let round = 1; round <= rounds; round += 1) {
    const level = kind === 'iid' ? 0.98 - 0.7 * Math.exp(-0.9 * round) : 0.9 - 0.75 * Math.exp(-0.35 * round);
    const confusion = Array.from({ length: classes }, (_, actual) => {
      const penalty = held[actual] ? 0 : 0.5;
      const accuracy = Math.min(0.995, Math.max(0.02, level - penalty + (random() - 0.5) * 0.12));
      const row = new Array<number>(classes).fill(0);
      const correct = Math.round(accuracy * perClassTest);
      row[actual] = correct;
      const wrong = perClassTest - correct;
      row[(actual + 1) % classes]! += Math.ceil(wrong * 0.6);
      row[(actual + 3) % classes]! += wrong - Math.ceil(wrong * 0.6);
      return row;
    });
    const perClassAccuracy = confusion.map((row, actual) => (row[actual] ?? 0) / perClassTest);
    const accuracy = confusion.reduce((sum, row, actual) => sum + (row[actual] ?? 0), 0) / (perClassTest * classes);
    const missing = (options.missing ?? []).filter((entry) => entry.round === round).map((entry) => entry.clientId);
    const rejected = (options.rejected ?? [])
      .filter((entry) => entry.round === round)
      .map((entry) => ({ clientId: entry.clientId, reason: entry.reason }));
    const absent = new Set([...missing, ...rejected.map((entry) => entry.clientId)]);
    const clients = partitionClients
      .filter((client) => !absent.has(client.clientId))
      .map((client) => ({
        clientId: client.clientId,
        samples: client.samples,
        trainLoss: Math.max(0.01, 2.2 * Math.exp(-0.8 * round) + random() * 0.08),
        trainAccuracy: Math.min(0.999, level + 0.02 + random() * 0.03),
        trainMs: Math.round(1800 + random() * 1400),
        backend,
      }));
    const trainMs = Math.max(...clients.map((client) => client.trainMs));
    const waitMs = Math.round(250 + random() * 900);
    const aggregateMs = Math.round(350 + random() * 300);
    const roundMs = trainMs + waitMs;
    const startedAt = new Date(clock).toISOString();
    clock += roundMs;
    const closedAt = new Date(clock).toISOString();
    clock += aggregateMs;
    roundMetrics.push({
      round,
      accuracy,
      loss: -Math.log(Math.max(accuracy, 0.05)) * 1.15 + 0.02,
      perClassAccuracy,
      confusion,
      clients,
      missingClients: missing,
      rejectedClients: rejected,
      timing: { startedAt, closedAt, roundMs, trainMs, waitMs, aggregateMs },
      bytes: { down: PARAMETERS * 4 * clientCount, up: PARAMETERS * 4 * clients.length },
    });
  }

  const backendInfo = { backend, tfjsVersion: '4.22.0', details: { simd: true, threads: 1 } } as const;
  const last = roundMetrics.at(-1);
  const config = {
    name,
    seed,
    dataset: 'mnist',
    clients: clientCount,
    rounds,
    partition: kind === 'iid' ? { kind: 'iid' } : { kind: 'shards', shardsPerClient: 2 },
    model: 'cnn-small',
    local: { epochs: 1, batchSize: 32, learningRate: 0.05, optimizer: 'sgd', momentum: 0.9 },
    strategy: { name: 'fedavg' },
    samplesPerClient,
    testSamples: perClassTest * classes,
    round: { deadlineSeconds: 900 },
  };
  return {
    experimentId,
    config,
    backend: backendInfo,
    partition: { kind, seed, clients: partitionClients },
    rounds: roundMetrics,
    ...(options.running || last === undefined
      ? {}
      : {
          summary: {
            experimentId,
            name,
            state: 'completed' as const,
            rounds,
            finalAccuracy: last.accuracy,
            finalLoss: last.loss,
            bestAccuracy: Math.max(...roundMetrics.map((round) => round.accuracy)),
            startedAt: new Date(start).toISOString(),
            finishedAt: last.timing.closedAt,
            wallMs: clock - start,
            backend: backendInfo,
            parameters: PARAMETERS,
          },
        }),
  };
}
