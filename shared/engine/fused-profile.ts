export interface StepProfile {
  /** milliseconds by phase */
  readonly phases: Map<string, number>;
  /** milliseconds, e.g. performance.now() or this process's CPU time */
  readonly clock: () => number;
}

/** Runs `run`, adding its milliseconds to the profile's `phase` when profiling. */
export function timePhase<T>(profile: StepProfile | undefined, phase: string, run: () => T): T {
  if (!profile) return run();
  const started = profile.clock();
  try {
    return run();
  } finally {
    profile.phases.set(phase, (profile.phases.get(phase) ?? 0) + profile.clock() - started);
  }
}

/** When profiling: adds the time since `since` to `phase` and returns the clock now (for phases timed in a row). */
export function lapPhase(profile: StepProfile | undefined, phase: string, since: number | undefined): number | undefined {
  if (!profile || since === undefined) return undefined;
  const now = profile.clock();
  profile.phases.set(phase, (profile.phases.get(phase) ?? 0) + now - since);
  return now;
}
