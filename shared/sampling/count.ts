/** How many clients a round asks to train: the two ways `sampling` can say it. */
export interface SamplingSize {
  readonly fraction?: number | undefined;
  readonly perRound?: number | undefined;
}

/**
 * Clients sampled per round out of `clients`: `perRound` as given, or `fraction` × clients rounded to the nearest
 * whole client. Rounding (not flooring) keeps 0.3 × 10 at 3 although the float product is 3.0000000000000004, and
 * at least one client is always asked. Never more than `clients`.
 */
export function clientsPerRound(sampling: SamplingSize, clients: number): number {
  if (!Number.isSafeInteger(clients) || clients < 1) throw new RangeError(`clients must be a positive integer (got ${clients})`);
  const { fraction, perRound } = sampling;
  if ((fraction === undefined) === (perRound === undefined)) {
    throw new RangeError('sampling: give exactly one of fraction or perRound');
  }
  if (perRound !== undefined) {
    if (!Number.isSafeInteger(perRound) || perRound < 1 || perRound > clients) {
      throw new RangeError(`sampling.perRound must be an integer from 1 to the number of clients, ${clients} (got ${perRound})`);
    }
    return perRound;
  }
  if (!(fraction! > 0 && fraction! <= 1)) throw new RangeError(`sampling.fraction must be greater than 0 and at most 1 (got ${fraction})`);
  return Math.min(clients, Math.max(1, Math.round(fraction! * clients)));
}
