/**
 * Reads that are independent of each other (each client's verdict, report, update) but whose results must be used in
 * a fixed order: a fold whose float result has to be the same on every retry, ordinals given in the expected
 * clients' order. On AWS a read waits ~100 ms and costs little CPU, so overlapping a few of them divides the waiting;
 * the bound keeps memory at `limit` results (e.g. `limit` decoded updates), not the round's.
 */
export const READ_CONCURRENCY = 10;

/**
 * Starts `read` for up to `limit` items ahead of the one being consumed, and hands the results to `consume` one after
 * the other in the items' order. The first failure (in that order) is thrown once the reads before it were consumed;
 * reads still in flight then are left to finish, unobserved.
 */
export async function forEachInOrder<T, R>(
  items: readonly T[],
  read: (item: T, index: number) => Promise<R>,
  consume: (result: R, item: T, index: number) => void | Promise<void>,
  limit: number = READ_CONCURRENCY,
): Promise<void> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`read concurrency must be a positive integer, got ${limit}`);
  const inFlight: Promise<R>[] = [];
  let started = 0;
  const startNext = () => {
    const index = started++;
    const pending = read(items[index]!, index);
    // Observed here so that a failure behind an earlier one is never an unhandled rejection.
    pending.catch(() => {});
    inFlight.push(pending);
  };
  while (started < Math.min(limit, items.length)) startNext();
  for (let index = 0; index < items.length; index++) {
    const result = await inFlight.shift()!;
    if (started < items.length) startNext();
    await consume(result, items[index]!, index);
  }
}

/** `read` of every item, at most `limit` at a time, the results in the items' order. */
export async function mapInOrder<T, R>(items: readonly T[], read: (item: T, index: number) => Promise<R>, limit: number = READ_CONCURRENCY): Promise<R[]> {
  const results: R[] = [];
  await forEachInOrder(items, read, (result) => void results.push(result), limit);
  return results;
}
