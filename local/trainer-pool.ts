import { MAX_TRAIN_BATCH } from '../shared/cloud/resources.js';

/**
 * How many training workers the local runtime starts. Clients of a round are equal-sized jobs pulled by the
 * workers as they free up, and workers beyond the core count time-share the cores. With `workers` ≥ `cores`,
 * a round of `clients` jobs of duration T (one core each) finishes after
 *   ⌊clients / workers⌋ waves of max(workers / cores, 1)·T, plus, for the r = clients mod workers left over, max(r / cores, 1)·T.
 * Two workers on two cores take 3T for 5 clients (the fifth trains alone on one core while the other idles);
 * three take 2.5T, the ideal 5T/2. The smallest pool that reaches the minimum wins: fewer workers, less memory.
 */
export function roundMakespan(clients: number, workers: number, cores: number): number {
  const wave = (jobs: number) => Math.max(jobs / cores, 1);
  const full = Math.floor(clients / workers);
  const rest = clients % workers;
  return full * wave(workers) + (rest > 0 ? wave(rest) : 0);
}

/** Workers for rounds of `clientsPerRound` on `cores` cores, at most `maxWorkers` (default 4 per core). */
export function trainerPoolSize(clientsPerRound: number, cores: number, maxWorkers = 4 * cores): number {
  for (const [name, value] of Object.entries({ clientsPerRound, cores, maxWorkers })) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer (got ${value})`);
  }
  const smallest = Math.min(cores, clientsPerRound, maxWorkers);
  const largest = Math.min(clientsPerRound, maxWorkers);
  let best = smallest;
  for (let workers = smallest + 1; workers <= largest; workers++) {
    // 1e-9: makespans are sums of small fractions; equal ones must not flip on rounding.
    if (roundMakespan(clientsPerRound, workers, cores) < roundMakespan(clientsPerRound, best, cores) - 1e-9) best = workers;
  }
  return best;
}

/** Invocations each training worker should get a round at least: the round's last batch is then a short tail. */
const INVOCATIONS_PER_WORKER = 10;

/**
 * Clients per trainer invocation for rounds of `clientsPerRound` on `workers` training workers. A batch shares one
 * receive, one lease and one delete among its clients (the handler trains them one after another, their reads and
 * writes overlapping), which at 1,000 clients a round is a third of the local runtime's orchestration per update
 * (docs/scale.md); but a worker holding a batch trains it alone, so small rounds keep one client per invocation and
 * every worker busy. The original 5-client experiments: 1.
 */
export function trainBatchSize(clientsPerRound: number, workers: number): number {
  for (const [name, value] of Object.entries({ clientsPerRound, workers })) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer (got ${value})`);
  }
  return Math.max(1, Math.min(MAX_TRAIN_BATCH, Math.floor(clientsPerRound / (workers * INVOCATIONS_PER_WORKER))));
}
