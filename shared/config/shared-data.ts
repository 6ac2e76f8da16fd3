import { z } from 'zod';

/**
 * The `sharedData` section: Zhao et al. (2018, "Federated Learning with Non-IID Data")'s data-sharing strategy. A small
 * class-balanced subset G of the training set is made public: the server holds it, and each client mixes a random
 * share of it into its own training set. It is not pure federated learning (docs/config.md, docs/noniid.md): the
 * public subset leaves the server for every client; the clients' own data still never moves.
 */

export const sharedDataSchema = z
  .strictObject({
    fraction: z
      .number()
      .gt(0)
      .lt(1)
      .describe('Size of the public subset G as a share of the training set, balanced over the classes: 0.05 of MNIST is 3,000 images, 300 of each digit. Its images are taken out of the clients\' shards, so no image is both public and private.'),
    perClient: z
      .number()
      .gt(0)
      .max(1)
      .default(1)
      .describe('α in Zhao et al.: the share of G each client receives once, at the start (a seeded random subset keeping G\'s class balance), and trains on every round with its own data. 1 gives every client all of G.'),
  })
  .describe('Shared data (Zhao et al., 2018): a small public, class-balanced subset of the training set mixed into every client\'s local training. Not pure FL: the subset is public data that leaves the server to every client; the clients\' own data still never moves. Omit it for pure federated learning.');

export type SharedDataConfig = z.output<typeof sharedDataSchema>;

export interface SharedDataProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** The combinations `sharedData` cannot work with: needs only the config, so an editor-independent check at the edge. */
export function sharedDataProblems(config: {
  readonly sharedData?: SharedDataConfig | undefined;
  readonly partition: { readonly kind: string };
  readonly personalization?: unknown;
}): SharedDataProblem[] {
  if (!config.sharedData) return [];
  const problems: SharedDataProblem[] = [];
  if (config.partition.kind === 'natural') {
    problems.push({
      path: ['sharedData'],
      message: 'cannot be combined with partition "natural": there is no central training set to take the public subset from (each client imported its own data); remove sharedData or use a central dataset',
    });
  }
  if (config.personalization !== undefined) {
    problems.push({
      path: ['sharedData'],
      message: 'cannot be combined with personalization: a client\'s personalized accuracy is measured on samples held out of its training set, which would then include public samples from every class; remove one of the two',
    });
  }
  return problems;
}
