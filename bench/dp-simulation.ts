/**
 * DP-FedAvg rounds in one process: the pipeline's maths without its S3/SQS orchestration, for studies of 1,000
 * clients over 100 rounds at several seeds, where the orchestration, not the training, would take most of the local
 * cloud's time (docs/scale.md). Every step calls what the pipeline calls, in the same order: the start step's
 * partition, initial weights and privacy plan; Poisson sampling per round; `trainLocal` with the trainer's seed;
 * `clipUpdate` (the trainer's clip); `createPrivateSum` with the aggregator's second clip, and the aggregator's own
 * `accountRound` and `releaseRound` (the accountant before noise, the seeded noise, the adaptive clip-norm update); the strategy's server step; `evaluate`.
 * test/privacy-simulation.test.ts checks that a seeded run gives the same global model as the pipeline.
 */
import { createWeightedMean } from '../shared/aggregate/weighted-mean.js';
import { parseExperimentConfig } from '../shared/config/parse.js';
import { resolvePrivacyPlan, type PrivacyPlan } from '../shared/config/privacy.js';
import type { ExperimentConfig, ExperimentConfigInput } from '../shared/config/schema.js';
import { head, loadMnistFromPackage, subset } from '../shared/data/mnist.js';
import type { Dataset } from '../shared/data/types.js';
import { initBackend } from '../shared/engine/backend.js';
import { initialWeights } from '../shared/engine/build-model.js';
import { evaluate } from '../shared/engine/evaluate.js';
import { trainLocal } from '../shared/engine/train.js';
import { partitionIndices } from '../shared/partition/index.js';
import { applyDelta, clipUpdate } from '../shared/privacy/clip.js';
import { createPrivateSum } from '../shared/privacy/private-sum.js';
import { privacySpent, type PrivacyStep } from '../shared/privacy/rdp.js';
import { accountRound, releaseRound } from '../shared/privacy/release.js';
import { poissonSample, samplingRandomness } from '../shared/privacy/sampling.js';
import { clientIdFor } from '../shared/protocol/keys.js';
import { selectClients } from '../shared/sampling/select.js';
import { deriveSeed } from '../shared/random.js';
import { experimentStrategy } from '../shared/strategies/index.js';
import type { ModelWeights } from '../shared/weights/types.js';

export interface SimulatedRound {
  readonly round: number;
  readonly sampled: number;
  readonly clipNorm: number;
  /** ε spent after this round (undefined without privacy) */
  readonly epsilon: number | undefined;
  /** evaluated rounds only */
  readonly accuracy?: number;
  readonly loss?: number;
}

export interface SimulationResult {
  readonly config: ExperimentConfig;
  readonly plan: PrivacyPlan | undefined;
  readonly rounds: readonly SimulatedRound[];
  readonly final: ModelWeights;
  readonly trainMs: number;
  readonly wallMs: number;
}

export interface SimulationOptions {
  /** evaluate every this many rounds (and always the last); default 1 */
  readonly evaluateEvery?: number;
  /** called after each round, e.g. to print progress */
  readonly onRound?: (round: SimulatedRound) => void;
}

/** Runs `input` (a flambda config: MNIST, a central partition, Poisson sampling when `privacy` is set). */
export async function simulatePrivateFedAvg(input: ExperimentConfigInput, options: SimulationOptions = {}): Promise<SimulationResult> {
  const parsed = parseExperimentConfig(input);
  if (!parsed.ok) throw new Error(`simulation config: ${parsed.errors.join('; ')}`);
  const config = parsed.config;
  if (config.dataset !== 'mnist' || config.partition.kind === 'natural') throw new Error('simulation: MNIST with a central partition only');
  const resolved = resolvePrivacyPlan(config);
  if (!resolved.ok) throw new Error(`simulation privacy: ${resolved.errors.join('; ')}`);
  const plan = resolved.plan;
  const started = Date.now();

  const { train, test } = await loadMnistFromPackage();
  const testSet = config.testSamples === null ? test : head(test, config.testSamples);
  const { clientIndices, stats } = partitionIndices(train.labels, {
    clients: config.clients,
    partition: config.partition,
    seed: config.seed,
    samplesPerClient: config.samplesPerClient,
    classes: train.classes,
  });
  const clientIds = clientIndices.map((_, index) => clientIdFor(index));
  const shards = new Map<string, Dataset>(clientIds.map((clientId, index) => [clientId, subset(train, clientIndices[index]!)]));
  const strategy = experimentStrategy(config);
  await initBackend();
  let global = initialWeights(config.model, config.seed);
  let serverState: ModelWeights | undefined;
  let history: PrivacyStep[] = [];
  let clipNorm = plan ? (plan.clipping.kind === 'fixed' ? plan.clipping.norm : plan.clipping.initialNorm) : 0;
  const rounds: SimulatedRound[] = [];
  let trainMs = 0;
  const every = options.evaluateEvery ?? 1;

  for (let round = 1; round <= config.rounds; round++) {
    const sampled = plan
      ? poissonSample({ clientIds, sampleRate: plan.sampleRate, round, randomness: samplingRandomness(plan.randomness, config.seed) })
      : selectClients({ clientIds, round, seed: config.seed, sampling: config.sampling, partition: stats });
    const trained: { clientId: string; weights: ModelWeights; samples: number }[] = [];
    for (const clientId of sampled) {
      const result = await trainLocal({
        model: config.model,
        weights: global,
        shard: shards.get(clientId)!,
        local: config.local,
        seed: deriveSeed(config.seed, 'train', round, clientId),
      });
      trainMs += result.durationMs;
      trained.push({ clientId, weights: result.weights, samples: result.samples });
    }

    let mean: ModelWeights;
    let epsilon: number | undefined;
    const roundClipNorm = clipNorm;
    if (plan) {
      history = accountRound(history, plan, round);
      const sum = createPrivateSum(global, clipNorm);
      for (const client of trained) {
        const clipped = clipUpdate(client.weights, global, clipNorm);
        sum.add(clipped.delta, { clipped: clipped.clipped });
      }
      const released = releaseRound(sum, { plan, seed: config.seed, round, clipNorm });
      clipNorm = released.nextClipNorm;
      const meanDelta = released.meanDelta;
      mean = applyDelta(global, meanDelta);
      epsilon = privacySpent(history, plan.delta).epsilon;
    } else {
      const folded = createWeightedMean(global);
      for (const client of trained) folded.add(client.weights, strategy.server.combineWeight(client));
      mean = trained.length ? folded.result() : global;
    }
    const stepped = strategy.server.step({
      round,
      global,
      mean,
      state: serverState,
      accepted: trained.map(({ clientId, samples }) => ({ clientId, samples })),
      side: {},
    });
    global = stepped.weights;
    serverState = stepped.state;

    const evaluated = round % every === 0 || round === config.rounds ? await evaluate({ model: config.model, weights: global, testSet }) : undefined;
    const record: SimulatedRound = {
      round,
      sampled: sampled.length,
      clipNorm: roundClipNorm,
      epsilon,
      ...(evaluated ? { accuracy: evaluated.accuracy, loss: evaluated.loss } : {}),
    };
    rounds.push(record);
    options.onRound?.(record);
  }
  return { config, plan, rounds, final: global, trainMs, wallMs: Date.now() - started };
}
