/**
 * Seed statistics for bench:noniid: pure functions over per-seed accuracies, so the page's numbers and verdicts are
 * computed, never typed.
 */

export interface SeedResult {
  readonly seed: number;
  /** test accuracy of the global model after each round, round 1 first */
  readonly accuracy: readonly number[];
  readonly wallMs: number;
}

export interface SeedSummary {
  readonly seeds: readonly SeedResult[];
  /** final accuracies, in the order of `seeds` */
  readonly finals: readonly number[];
  readonly mean: number;
  /** sample standard deviation (n − 1); NaN for a single seed */
  readonly sd: number;
  readonly worst: SeedResult;
  /** mean, lowest and highest accuracy per round over the seeds */
  readonly perRound: readonly { readonly mean: number; readonly min: number; readonly max: number }[];
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;
}

export function sampleSd(values: readonly number[]): number {
  if (values.length < 2) return Number.NaN;
  const m = mean(values);
  return Math.sqrt(values.reduce((sum, value) => sum + (value - m) ** 2, 0) / (values.length - 1));
}

export function finalOf(result: SeedResult): number {
  return result.accuracy.at(-1) ?? Number.NaN;
}

export function summarise(seeds: readonly SeedResult[]): SeedSummary | undefined {
  if (seeds.length === 0) return undefined;
  const finals = seeds.map(finalOf);
  const worst = seeds.reduce((a, b) => (finalOf(b) < finalOf(a) ? b : a));
  const rounds = Math.max(...seeds.map((seed) => seed.accuracy.length));
  const perRound = Array.from({ length: rounds }, (_, r) => {
    const values = seeds.flatMap((seed) => (r < seed.accuracy.length ? [seed.accuracy[r]!] : []));
    return { mean: mean(values), min: Math.min(...values), max: Math.max(...values) };
  });
  return { seeds, finals, mean: mean(finals), sd: sampleSd(finals), worst, perRound };
}

/** The first round (1-based) whose accuracy reaches `target`, or undefined. */
export function firstRoundReaching(accuracy: readonly number[], target: number): number | undefined {
  const index = accuracy.findIndex((value) => value >= target);
  return index < 0 ? undefined : index + 1;
}

export interface GoalCheck {
  /** candidate mean − baseline mean, in points (negative: below) */
  readonly meanGap: number;
  /** candidate's worst seed − baseline mean, in points */
  readonly worstGap: number;
  readonly meanMet: boolean;
  readonly worstMet: boolean;
  readonly met: boolean;
}

/** The goal: mean within `meanPoints` of the baseline's mean, and no seed more than `worstPoints` below it. */
export function checkGoal(candidate: SeedSummary, baseline: SeedSummary, meanPoints: number, worstPoints: number): GoalCheck {
  const meanGap = (candidate.mean - baseline.mean) * 100;
  const worstGap = (finalOf(candidate.worst) - baseline.mean) * 100;
  const meanMet = meanGap >= -meanPoints;
  const worstMet = worstGap >= -worstPoints;
  return { meanGap, worstGap, meanMet, worstMet, met: meanMet && worstMet };
}
