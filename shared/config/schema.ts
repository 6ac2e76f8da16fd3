import { z } from 'zod';
import { BUILTIN_DATASET_NAMES, CLIENT_ID_PATTERN, CLIENT_ID_RULE, DATASET_NAME_PATTERN, DATASET_NAME_RULE } from '../data/registry.js';
import { clientsPerRound } from '../sampling/count.js';
import { adversariesSchema } from './adversaries.js';
import { compressionSchema } from './compression.js';
import { groupingProblems, MAX_ROUND_GROUPS } from './grouping.js';
import { aggregatorSchema } from './robust.js';
import { robustnessProblems } from './robustness-rules.js';
import { privacySchema } from './privacy.js';
import { secureAggregationProblems, secureAggregationSchema } from './secure-aggregation.js';
import { sharedDataProblems, sharedDataSchema } from './shared-data.js';

/**
 * The experiment config: the user's contract. Defaults reproduce the original proof of concept
 * (MNIST, 5 clients, 5 rounds, a CNN, FedAvg). Every object is strict so a typo is an error, not a silent default.
 * The descriptions end up in docs/config.schema.json, where editors show them as hover help.
 */

export const MODEL_NAMES = ['cnn-mcmahan', 'cnn-small', 'mlp', 'cnn-cifar', 'cnn-tiny'] as const;
export const STRATEGY_NAMES = ['fedavg', 'fedprox', 'fedavgm', 'fedadam', 'fedyogi', 'fedadagrad', 'scaffold', 'feddyn', 'fednova'] as const;
export const SAMPLING_METHODS = ['uniform', 'stratified', 'poisson'] as const;

/** MNIST's training set: no partition can deal out more samples than this. */
const MNIST_TRAIN_SAMPLES = 60_000;

const partitionSchema = z
  .discriminatedUnion('kind', [
    z
      .strictObject({ kind: z.literal('iid').describe('Shuffle, then deal the samples evenly.') })
      .describe('IID: every client gets a uniform random share.'),
    z
      .strictObject({
        kind: z.literal('shards').describe('Sort by label, cut into clients × shardsPerClient shards, deal shards at random.'),
        shardsPerClient: z.int().min(1).max(100).default(2).describe('Shards per client; 2 gives the classic pathological label skew.'),
      })
      .describe('Label skew (McMahan et al., 2017): each client sees only a few labels.'),
    z
      .strictObject({
        kind: z.literal('dirichlet').describe('Split each label across clients in Dirichlet(alpha) proportions.'),
        alpha: z.number().positive().max(1000).default(0.5).describe('Concentration: small (0.1) is very skewed, large (100) is close to IID.'),
      })
      .describe('Label-distribution skew (Hsu et al., 2019).'),
    z
      .strictObject({
        kind: z.literal('natural').describe('Each client trains on its own data, imported with `flambda dataset import <name> --client <id>`; nothing is partitioned centrally.'),
        clients: z
          .array(z.string())
          .superRefine((ids, ctx) => {
            ids.forEach((id, index) => {
              if (!CLIENT_ID_PATTERN.test(id)) ctx.addIssue({ code: 'custom', path: [index], message: `client ids use ${CLIENT_ID_RULE} (got ${JSON.stringify(id.slice(0, 70))})` });
              else if (ids.indexOf(id) !== index) ctx.addIssue({ code: 'custom', path: [index], message: `${JSON.stringify(id)} is listed twice` });
            });
          })
          .optional()
          .describe("The imported clients that take part (as many as clients); omitted: every client of the dataset, in name order."),
      })
      .describe('Natural partition (cross-silo): the data never moves; the start step reads only each client\'s sample count and label histogram.'),
  ])
  .describe('How the training set is split across clients.');

const localObjectiveSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('cross-entropy').describe('Plain softmax cross-entropy over all classes.') }).describe('The default.'),
    z
      .strictObject({
        kind: z.literal('fedlc').describe("Logit calibration: subtract τ·n_c^(−1/4) from class c's logit, n_c the client's count of c (at least 1)."),
        tau: z.number().min(0).max(100).default(1).describe('τ: calibration strength; 0 is plain cross-entropy.'),
      })
      .describe('FedLC (Zhang et al., 2022).'),
    z
      .strictObject({
        kind: z.literal('fedrs').describe("Restricted softmax: the logits of classes absent from the client's data are scaled by α."),
        alpha: z.number().min(0).max(1).default(0.5).describe('α: scale of absent classes\' logits; 1 is plain cross-entropy.'),
      })
      .describe('FedRS (Li & Zhan, 2021).'),
    z
      .strictObject({ kind: z.literal('masked').describe("Softmax over the classes present in the client's data only; absent classes get no gradient.") })
      .describe('Masked softmax.'),
  ])
  .describe("The clients' training loss under label skew, from each client's own label counts; composes with every strategy. Evaluation always uses the plain logits. Omit it for plain cross-entropy.");

const localTrainingSchema = z
  .strictObject({
    epochs: z.int().min(1).max(100).default(1).describe('Local epochs per round (E).'),
    batchSize: z.int().min(1).max(4096).default(32).describe('Local minibatch size (B).'),
    learningRate: z.number().positive().max(10).default(0.05).describe('Client optimizer learning rate.'),
    optimizer: z.enum(['sgd', 'adam']).default('sgd').describe('Client optimizer.'),
    momentum: z.number().min(0).max(0.999).default(0.9).describe('SGD momentum (ignored by adam); 0 is plain SGD.'),
    objective: localObjectiveSchema.optional(),
  })
  .describe('Client-side training in each round.');

const serverLearningRate = (fallback: number) =>
  z.number().positive().max(10).default(fallback).describe('Server learning rate (η, or η_g for scaffold): the step taken along the clients\' mean update.');

/** β1 = 0.9 and β2 = 0.99 as in Reddi et al. (2021); τ = 1e-3 is in the paper's grid and is Flower's FedYogi default. */
const beta1 = z.number().min(0).lt(1).default(0.9).describe('β1: decay of the first moment (momentum) of the pseudo-gradient; 0 turns momentum off.');
const beta2 = z.number().min(0).lt(1).default(0.99).describe('β2: decay of the second moment of the pseudo-gradient.');
const tau = z.number().positive().max(1).default(1e-3).describe('τ: adaptivity; added to √v in the denominator, and v starts at τ². Smaller is more adaptive.');

const strategySchema = z
  .discriminatedUnion('name', [
    z
      .strictObject({ name: z.literal('fedavg').describe('The next global model is the sample-weighted mean of the client models.') })
      .describe('FedAvg (McMahan et al., 2017).'),
    z
      .strictObject({
        name: z.literal('fedprox').describe('FedAvg aggregation; clients add a proximal term μ/2·‖w − w_global‖² to their loss.'),
        mu: z.number().min(0).max(10).default(0.01).describe('μ: weight of the proximal term; 0 is FedAvg.'),
      })
      .describe('FedProx (Li et al., 2020).'),
    z
      .strictObject({
        name: z.literal('fedavgm').describe('Server momentum on the pseudo-gradient Δ = mean − global.'),
        serverLearningRate: serverLearningRate(1),
        momentum: z.number().min(0).max(0.999).default(0.9).describe('β: server momentum; 0 with serverLearningRate 1 is FedAvg.'),
      })
      .describe('FedAvgM (Hsu et al., 2019).'),
    z
      .strictObject({
        name: z.literal('fedadam').describe('Adam on the server, over the pseudo-gradient Δ = mean − global.'),
        serverLearningRate: serverLearningRate(0.01),
        beta1,
        beta2,
        tau,
      })
      .describe('FedAdam (Reddi et al., 2021).'),
    z
      .strictObject({
        name: z.literal('fedyogi').describe('Yogi on the server, over the pseudo-gradient Δ = mean − global.'),
        serverLearningRate: serverLearningRate(0.01),
        beta1,
        beta2,
        tau,
      })
      .describe('FedYogi (Reddi et al., 2021).'),
    z
      .strictObject({
        name: z.literal('fedadagrad').describe('Adagrad on the server, over the pseudo-gradient Δ = mean − global.'),
        serverLearningRate: serverLearningRate(0.1),
        beta1,
        tau,
      })
      .describe('FedAdagrad (Reddi et al., 2021); its second moment sums Δ² without decay, so it has no β2.'),
    z
      .strictObject({
        name: z.literal('scaffold').describe('Control variates correct each client\'s drift; clients keep their own between rounds.'),
        serverLearningRate: serverLearningRate(1),
      })
      .describe('SCAFFOLD (Karimireddy et al., 2020), control-variate option II; needs local.optimizer "sgd".'),
    z
      .strictObject({
        name: z.literal('feddyn').describe("Dynamic regularisation: each client's loss gets a linear term from its own state and α/2·‖w − w_global‖²."),
        alpha: z.number().positive().max(10).default(0.01).describe('α: weight of the dynamic regulariser (the paper tunes it in {0.1, 0.01, 0.001}).'),
      })
      .describe('FedDyn (Acar et al., 2021); clients keep their own state between rounds.'),
    z
      .strictObject({
        name: z.literal('fednova').describe("Normalised averaging: each client's update is divided by its number of local steps before the mean."),
      })
      .describe('FedNova (Wang et al., 2020), for clients taking different numbers of local steps; needs local.optimizer "sgd".'),
  ])
  .describe('How the server turns client updates into the next global model.');

const samplingSchema = z
  .strictObject({
    fraction: z.number().positive().max(1).optional().describe('Share of the clients asked to train each round, rounded to the nearest whole client (at least 1). Give this or perRound.'),
    perRound: z.int().min(1).max(1000).optional().describe('Clients asked to train each round (at most clients). Give this or fraction.'),
    method: z
      .enum(SAMPLING_METHODS)
      .default('uniform')
      .describe('uniform: a seeded random subset. stratified: a subset whose summed label histogram is close to the whole federation\'s. poisson: each client independently with probability fraction (or perRound/clients), so the number varies and can be 0; required by privacy.'),
  })
  // Here rather than with the cross-field rules, so it is reported alongside problems elsewhere in the config.
  .superRefine(({ fraction, perRound }, ctx) => {
    if ((fraction === undefined) === (perRound === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: `give exactly one of "fraction" (a share of the clients) or "perRound" (a number of clients) (got ${fraction === undefined ? 'neither' : 'both'})`,
      });
    }
  })
  .describe('Client sampling: which clients train each round, seeded by seed and the round. Omit it to use every client every round.');

const MAX_LOCAL_LAYERS = 64;
const MAX_LAYER_PREFIX_LENGTH = 128;

const personalizationSchema = z
  .strictObject({
    localLayers: z
      .array(z.string())
      // Length rules as custom issues: the config's error wording has no sentence for array lengths or array items.
      .superRefine((prefixes, ctx) => {
        if (prefixes.length === 0) ctx.addIssue({ code: 'custom', message: 'must name at least one layer, e.g. ["logits"] (got an empty array)' });
        if (prefixes.length > MAX_LOCAL_LAYERS) ctx.addIssue({ code: 'custom', message: `must name at most ${MAX_LOCAL_LAYERS} layers (got ${prefixes.length})` });
        prefixes.forEach((prefix, index) => {
          if (prefix.length < 1 || prefix.length > MAX_LAYER_PREFIX_LENGTH) {
            ctx.addIssue({ code: 'custom', path: [index], message: `must be a weight-name prefix of 1 to ${MAX_LAYER_PREFIX_LENGTH} characters (got ${JSON.stringify(prefix.slice(0, 40))})` });
          } else if (prefixes.indexOf(prefix) !== index) {
            ctx.addIssue({ code: 'custom', path: [index], message: `${JSON.stringify(prefix)} is listed twice` });
          }
        });
      })
      .describe('Weight-name prefixes (e.g. "logits" for logits/kernel and logits/bias) of the layers each client keeps to itself; 1 to 64 of them.'),
  })
  .describe('Personalization (FedPer, Arivazhagan et al., 2019): the named layers never leave the client. Omit it to share every layer.');

const roundSchema = z
  .strictObject({
    deadlineSeconds: z.int().min(1).max(86_400).default(900).describe('Seconds a round waits for updates. At the deadline it closes with the updates it has, or the experiment fails if they are fewer than minClients.'),
    minClients: z.int().min(1).max(10_000).optional().describe('Usable updates a round needs when it closes; defaults to clients (all of them).'),
    groups: z
      .int()
      .min(1)
      .max(MAX_ROUND_GROUPS)
      .default(1)
      .describe(
        'Aggregator groups per round (a tree of sums, docs/protocol.md): the round\'s clients are dealt over this many groups, each checked and summed by its own aggregator invocation at the same time, and the partial sums are added when every group has closed. 1 checks every update in one group, one batch after another. Only for a plain weighted mean: not with privacy, secureAggregation, compression, a robust aggregator or a strategy that keeps client state on the server (SCAFFOLD, FedDyn).',
      ),
  })
  .describe('When a round closes.');

export const experimentConfigSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Path or URL of this JSON Schema, for editor completion and checks; ignored by flambda.'),
    name: z.string().min(1).max(128).default('experiment').describe('A label for reports and the experiment id.'),
    seed: z.int().min(0).max(2 ** 31 - 1).default(42).describe('Seeds the partition, initial model and client shuffles: same config, same run.'),
    dataset: z
      .string()
      .superRefine((name, ctx) => {
        if (!DATASET_NAME_PATTERN.test(name)) {
          ctx.addIssue({ code: 'custom', message: `must be ${BUILTIN_DATASET_NAMES.map((n) => JSON.stringify(n)).join(', ')} or the name of a dataset imported with \`flambda dataset import\` (${DATASET_NAME_RULE}) (got ${JSON.stringify(name.slice(0, 70))})` });
        }
      })
      .default('mnist')
      .meta({ examples: [...BUILTIN_DATASET_NAMES] })
      .describe('Training and test data: "mnist", "fashion-mnist", "cifar10" (both imported once with `flambda dataset import`), or your own imported dataset (docs/datasets.md).'),
    clients: z.int().min(1).max(1000).default(5).describe('Number of clients (K).'),
    rounds: z.int().min(1).max(1000).default(5).describe('Federated rounds.'),
    partition: partitionSchema.default({ kind: 'iid' }),
    model: z.enum(MODEL_NAMES).default('cnn-small').describe('Model architecture.'),
    local: localTrainingSchema.default(localTrainingSchema.parse({})),
    strategy: strategySchema.default({ name: 'fedavg' }),
    sampling: samplingSchema.optional(),
    personalization: personalizationSchema.optional(),
    privacy: privacySchema.optional(),
    samplesPerClient: z
      .int()
      .min(1)
      .max(MNIST_TRAIN_SAMPLES)
      .nullable()
      .default(null)
      .describe("Cap on each client's samples (a random subset keeping its label mix); null keeps the whole partition."),
    testSamples: z
      .int()
      .min(1)
      .max(10_000)
      .nullable()
      .default(null)
      .describe('Evaluate the global model on the first N test images; null uses all 10,000.'),
    round: roundSchema.default(roundSchema.parse({})),
    aggregator: aggregatorSchema.optional(),
    adversaries: adversariesSchema.optional(),
    compression: compressionSchema.optional(),
    sharedData: sharedDataSchema.optional(),
    secureAggregation: secureAggregationSchema.optional(),
  })
  .superRefine((config, ctx) => {
    for (const problem of secureAggregationProblems(config)) ctx.addIssue({ code: 'custom', path: [...problem.path], message: problem.message });
    for (const problem of robustnessProblems(config)) ctx.addIssue({ code: 'custom', path: [...problem.path], message: problem.message });
    for (const problem of sharedDataProblems(config)) ctx.addIssue({ code: 'custom', path: [...problem.path], message: problem.message });
    const minClients = config.round.minClients;
    if (minClients !== undefined && minClients > config.clients) {
      ctx.addIssue({
        code: 'custom',
        path: ['round', 'minClients'],
        message: `must be at most the number of clients, ${config.clients} (got ${minClients})`,
      });
    }
    checkSampling(config, ctx);
    for (const problem of groupingProblems(config)) ctx.addIssue({ code: 'custom', path: [...problem.path], message: problem.message });
    const stepsAssumedBy = { scaffold: 'control-variate update', fednova: 'normalisation by the local steps' } as const;
    if ((config.strategy.name === 'scaffold' || config.strategy.name === 'fednova') && config.local.optimizer !== 'sgd') {
      ctx.addIssue({
        code: 'custom',
        path: ['local', 'optimizer'],
        message: `must be "sgd" when strategy.name is "${config.strategy.name}", whose ${stepsAssumedBy[config.strategy.name]} assumes SGD steps (got ${JSON.stringify(config.local.optimizer)})`,
      });
    }
    if (config.partition.kind === 'natural' && config.partition.clients !== undefined && config.partition.clients.length !== config.clients) {
      ctx.addIssue({
        code: 'custom',
        path: ['partition', 'clients'],
        message: `must list as many clients as "clients", ${config.clients} (got ${config.partition.clients.length})`,
      });
    }
    if (config.partition.kind === 'shards' && config.clients * config.partition.shardsPerClient > MNIST_TRAIN_SAMPLES) {
      ctx.addIssue({
        code: 'custom',
        path: ['partition', 'shardsPerClient'],
        message: `clients × shardsPerClient (${config.clients} × ${config.partition.shardsPerClient}) must not exceed the ${MNIST_TRAIN_SAMPLES} training samples`,
      });
    }
  })
  .describe('A flambda federated-learning experiment. Every field is optional: {} is MNIST, 5 clients, 5 rounds, cnn-small, FedAvg, IID.');

/** What the user writes (every field optional). */
export type ExperimentConfigInput = z.input<typeof experimentConfigSchema>;
/** What the code sees: defaults filled in. `round.minClients` defaults to `clients` via resolveMinClients. */
export type ExperimentConfig = z.output<typeof experimentConfigSchema>;
export type PartitionConfig = ExperimentConfig['partition'];
export type LocalTrainingConfig = ExperimentConfig['local'];
export type LocalObjectiveConfig = NonNullable<LocalTrainingConfig['objective']>;
export type ModelName = (typeof MODEL_NAMES)[number];
export type StrategyConfig = ExperimentConfig['strategy'];
/** A strategy as a user writes it: only `name` is required. */
export type StrategyConfigInput = z.input<typeof strategySchema>;
export type SamplingConfig = NonNullable<ExperimentConfig['sampling']>;
export type SamplingMethod = (typeof SAMPLING_METHODS)[number];
export type PersonalizationConfig = NonNullable<ExperimentConfig['personalization']>;
export type { SharedDataConfig } from './shared-data.js';

/** A strategy's parameters with their defaults filled in, e.g. `parseStrategyConfig({ name: 'fedadam' })`. */
export function parseStrategyConfig(input: StrategyConfigInput): StrategyConfig {
  return strategySchema.parse(input);
}

/** Cross-field rules of `sampling`, which the JSON Schema cannot express: editors do not flag these, flambda does. */
function checkSampling(
  config: { readonly clients: number; readonly sampling?: z.output<typeof samplingSchema> | undefined; readonly round: { readonly minClients?: number | undefined } },
  ctx: z.RefinementCtx,
): void {
  const { sampling, clients } = config;
  if (sampling === undefined) return;
  if ((sampling.fraction === undefined) === (sampling.perRound === undefined)) return;
  if (sampling.perRound !== undefined && sampling.perRound > clients) {
    ctx.addIssue({
      code: 'custom',
      path: ['sampling', 'perRound'],
      message: `must be at most the number of clients, ${clients} (got ${sampling.perRound})`,
    });
    return;
  }
  // zod runs this even when a value broke its own range rule (reported already); only in-range values are compared.
  const inRange =
    sampling.perRound !== undefined
      ? Number.isSafeInteger(sampling.perRound) && sampling.perRound >= 1
      : sampling.fraction! > 0 && sampling.fraction! <= 1;
  if (!inRange || !Number.isSafeInteger(clients) || clients < 1) return;
  const sampled = clientsPerRound(sampling, clients);
  const minClients = config.round.minClients;
  if (minClients !== undefined && minClients <= clients && minClients > sampled) {
    ctx.addIssue({
      code: 'custom',
      path: ['round', 'minClients'],
      message: `must be at most the clients sampled per round, ${sampled} (got ${minClients})`,
    });
  }
}

export function resolveMinClients(config: ExperimentConfig): number {
  return config.round.minClients ?? config.clients;
}
