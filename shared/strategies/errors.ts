/**
 * A strategy cannot use what it was given (client state of the wrong layout, an update that breaks its rules). The
 * same inputs fail the same way on every attempt, so the pipeline reports it instead of retrying.
 */
export class StrategyError extends Error {
  override name = 'StrategyError';
}
