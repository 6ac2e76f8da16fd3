import { z } from 'zod';

/**
 * The experiment config: the user's contract. Defaults reproduce the original proof of concept
 * (MNIST, 5 clients, 5 rounds, a CNN, FedAvg). Every object is strict so a typo is an error, not a silent default.
 */

export const MODEL_NAMES = ['cnn-mcmahan', 'cnn-small', 'mlp'] as const;
export const STRATEGY_NAMES = ['fedavg'] as const;

const partitionSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('iid') }),
  z.strictObject({
    kind: z.literal('shards'),
    shardsPerClient: z.int().min(1).max(100).default(2),
  }),
  z.strictObject({
    kind: z.literal('dirichlet'),
    alpha: z.number().positive().max(1000).default(0.5),
  }),
]);

const localTrainingSchema = z.strictObject({
  epochs: z.int().min(1).max(100).default(1),
  batchSize: z.int().min(1).max(4096).default(32),
  learningRate: z.number().positive().max(10).default(0.05),
  optimizer: z.enum(['sgd', 'adam']).default('sgd'),
  momentum: z.number().min(0).max(0.999).default(0.9),
});

const strategySchema = z.strictObject({
  name: z.enum(STRATEGY_NAMES).default('fedavg'),
});

const roundSchema = z.strictObject({
  deadlineSeconds: z.int().min(1).max(86_400).default(900),
  minClients: z.int().min(1).max(10_000).optional(),
});

export const experimentConfigSchema = z
  .strictObject({
    name: z.string().min(1).max(128).default('experiment'),
    seed: z.int().min(0).max(2 ** 31 - 1).default(42),
    dataset: z.enum(['mnist']).default('mnist'),
    clients: z.int().min(1).max(1000).default(5),
    rounds: z.int().min(1).max(1000).default(5),
    partition: partitionSchema.default({ kind: 'iid' }),
    model: z.enum(MODEL_NAMES).default('cnn-small'),
    local: localTrainingSchema.default(localTrainingSchema.parse({})),
    strategy: strategySchema.default(strategySchema.parse({})),
    samplesPerClient: z.int().min(1).max(60_000).nullable().default(null),
    testSamples: z.int().min(1).max(10_000).nullable().default(null),
    round: roundSchema.default(roundSchema.parse({})),
  })
  .superRefine((config, ctx) => {
    const minClients = config.round.minClients;
    if (minClients !== undefined && minClients > config.clients) {
      ctx.addIssue({
        code: 'custom',
        path: ['round', 'minClients'],
        message: `must be at most clients (${config.clients})`,
      });
    }
    if (config.partition.kind === 'shards' && config.clients * config.partition.shardsPerClient > 60_000) {
      ctx.addIssue({
        code: 'custom',
        path: ['partition', 'shardsPerClient'],
        message: 'clients × shardsPerClient must not exceed the 60,000 training samples',
      });
    }
  });

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
