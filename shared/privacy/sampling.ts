import { createRandom, deriveSeed } from '../random.js';
import { SecureUniform, type NoiseMode } from './noise.js';

/**
 * Poisson client sampling: each round, every client takes part independently with probability q. It is the
 * sampling the accountant's amplification assumes; a fixed-size sample (or a stratified one, which also depends on
 * the clients' data) is a different mechanism with a different, and here unaccounted, privacy cost.
 */

export interface PoissonSampleArgs {
  /** every client of the experiment, in a fixed order */
  readonly clientIds: readonly string[];
  /** q in (0, 1] */
  readonly sampleRate: number;
  readonly round: number;
  /**
   * `seeded`: a pure function of (seed, round), so a retried round asks the same clients; for experiments. Who was
   * sampled is then known to anyone with the config, and amplification by sampling assumes they cannot know it.
   * `secure`: Node's CSPRNG; the caller must draw it once per round and persist the result, never redraw on retry.
   */
  readonly randomness: { readonly mode: 'seeded'; readonly seed: number } | { readonly mode: 'secure' };
}

/** The clients sampled for `round`, in their `clientIds` order; possibly none. */
export function poissonSample(args: PoissonSampleArgs): string[] {
  const { clientIds, sampleRate, round, randomness } = args;
  if (!(sampleRate > 0 && sampleRate <= 1)) throw new RangeError(`poissonSample: sampling rate must be greater than 0 and at most 1 (got ${sampleRate})`);
  if (!Number.isSafeInteger(round) || round < 1) throw new RangeError(`poissonSample: round must be a positive integer (got ${round})`);
  if (new Set(clientIds).size !== clientIds.length) throw new RangeError('poissonSample: clientIds has duplicates');
  const uniform = uniformSource(randomness, round);
  // One draw per client even when q = 1, so the stream does not depend on q's value.
  return clientIds.filter(() => uniform() < sampleRate);
}

function uniformSource(randomness: PoissonSampleArgs['randomness'], round: number): () => number {
  if (randomness.mode === 'secure') {
    const secure = new SecureUniform();
    return () => secure.next();
  }
  const random = createRandom(deriveSeed(randomness.seed, 'poisson-sampling', round));
  return () => random.nextFloat();
}

/**
 * What a DP round does with its sample:
 * - `train`: the sampled clients train; the server folds their clipped deltas and releases the noised mean.
 * - `noise-only`: nobody was sampled. Nobody trains, but the server still releases noise / m (the global model
 *   moves by pure noise, and adaptive clipping still updates C from a count of 0 plus noise), and the accountant
 *   still counts the round. Skipping the release instead would publish "this round was empty", an output the
 *   subsampled-Gaussian analysis does not cover.
 */
export type PrivateRoundPlan =
  | { readonly kind: 'train'; readonly clients: readonly string[] }
  | { readonly kind: 'noise-only'; readonly clients: readonly []; readonly reason: string };

export function planPrivateRound(args: PoissonSampleArgs): PrivateRoundPlan {
  const clients = poissonSample(args);
  if (clients.length > 0) return { kind: 'train', clients };
  return {
    kind: 'noise-only',
    clients: [],
    reason: `Poisson sampling at rate ${args.sampleRate} chose none of the ${args.clientIds.length} clients in round ${args.round}; the round releases noise only and is still accounted`,
  };
}

/** The mode names double as the sampling randomness a `privacy.noise` setting implies. */
export function samplingRandomness(mode: NoiseMode, seed: number): PoissonSampleArgs['randomness'] {
  return mode === 'secure' ? { mode: 'secure' } : { mode: 'seeded', seed };
}
