import { z } from 'zod';

/**
 * The experiment config: the user's contract. Defaults reproduce the original proof of concept
 * (MNIST, 5 clients, 5 rounds, a CNN, FedAvg). Every object is strict so a typo is an error, not a silent default.
 * The descriptions end up in docs/config.schema.json, where editors show them as hover help.
 */

export const MODEL_NAMES = ['cnn-mcmahan', 'cnn-small', 'mlp'] as const;
export const STRATEGY_NAMES = ['fedavg'] as const;

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
  ])
  .describe('How the training set is split across clients.');

const localTrainingSchema = z
  .strictObject({
    epochs: z.int().min(1).max(100).default(1).describe('Local epochs per round (E).'),
    batchSize: z.int().min(1).max(4096).default(32).describe('Local minibatch size (B).'),
    learningRate: z.number().positive().max(10).default(0.05).describe('Client optimizer learning rate.'),
    optimizer: z.enum(['sgd', 'adam']).default('sgd').describe('Client optimizer.'),
    momentum: z.number().min(0).max(0.999).default(0.9).describe('SGD momentum (ignored by adam); 0 is plain SGD.'),
  })
  .describe('Client-side training in each round.');

const strategySchema = z
  .strictObject({
    name: z.enum(STRATEGY_NAMES).default('fedavg').describe('Server aggregation strategy.'),
  })
  .describe('How the server turns client updates into the next global model.');

const roundSchema = z
  .strictObject({
    deadlineSeconds: z.int().min(1).max(86_400).default(900).describe('Seconds a round waits for updates. At the deadline it closes with the updates it has, or the experiment fails if they are fewer than minClients.'),
    minClients: z.int().min(1).max(10_000).optional().describe('Usable updates a round needs when it closes; defaults to clients (all of them).'),
  })
  .describe('When a round closes.');

export const experimentConfigSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Path or URL of this JSON Schema, for editor completion and checks; ignored by flambda.'),
    name: z.string().min(1).max(128).default('experiment').describe('A label for reports and the experiment id.'),
    seed: z.int().min(0).max(2 ** 31 - 1).default(42).describe('Seeds the partition, initial model and client shuffles: same config, same run.'),
    dataset: z.enum(['mnist']).default('mnist').describe('Training and test data.'),
    clients: z.int().min(1).max(1000).default(5).describe('Number of clients (K).'),
    rounds: z.int().min(1).max(1000).default(5).describe('Federated rounds.'),
    partition: partitionSchema.default({ kind: 'iid' }),
    model: z.enum(MODEL_NAMES).default('cnn-small').describe('Model architecture.'),
    local: localTrainingSchema.default(localTrainingSchema.parse({})),
    strategy: strategySchema.default(strategySchema.parse({})),
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
  })
  .superRefine((config, ctx) => {
    const minClients = config.round.minClients;
    if (minClients !== undefined && minClients > config.clients) {
      ctx.addIssue({
        code: 'custom',
        path: ['round', 'minClients'],
        message: `must be at most the number of clients, ${config.clients} (got ${minClients})`,
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
export type ModelName = (typeof MODEL_NAMES)[number];
export type StrategyConfig = ExperimentConfig['strategy'];

export function resolveMinClients(config: ExperimentConfig): number {
  return config.round.minClients ?? config.clients;
}
