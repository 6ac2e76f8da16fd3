import { createRandom } from '../../shared/random.js';
import { prepareSimulation, Simulation, type Fault, type Schedule, type SimOutcome, type SimSettings, type SimSnapshot } from './simulation.js';

/**
 * Fault-injection campaigns over the simulated cloud: a scenario (strategy × variant) runs fault-free once for its
 * reference outcome, then under schedules — a crash before and after every mutating operation the reference run
 * performed, an S3 error on reads, duplicated deliveries, clocks running ahead, and random mixes of these under other
 * delivery orders — and each run is judged against the reference.
 */

export const STRATEGY_CASES = ['fedavg', 'fedadam', 'scaffold', 'fedper', 'feddyn'] as const;
export type StrategyCase = (typeof STRATEGY_CASES)[number];
export type Variant = 'plain' | 'straggler' | 'batches' | 'train-batches' | 'replaced' | 'groups';

/**
 * The queues as the simulation deploys them: visibility timeouts equal to each function's timeout (the least Lambda
 * accepts; the handlers lease and retry on their own) and 5 receives before the dead-letter queue. docs/reliability.md
 * says why, and what the current 6× timeouts change.
 */
export const SIM_QUEUES: SimSettings['queues'] = {
  train: { visibilityTimeoutSeconds: 900, maxReceiveCount: 5 },
  aggregate: { visibilityTimeoutSeconds: 300, maxReceiveCount: 5 },
  timer: { visibilityTimeoutSeconds: 30, maxReceiveCount: 5 },
};
/** Longer than the train queue's visibility timeout: a trainer that dies before its first line is retried within it. */
export const SIM_DEADLINE_SECONDS = 1800;

const STRATEGY_CONFIG: Readonly<Record<StrategyCase, Record<string, unknown>>> = {
  fedavg: {},
  fedadam: { strategy: { name: 'fedadam' } },
  scaffold: { strategy: { name: 'scaffold' }, local: { optimizer: 'sgd', batchSize: 8 } },
  fedper: { personalization: { localLayers: ['logits'] } },
  // adopted client state through the generic path, from a strategy written after the lifecycle
  feddyn: { strategy: { name: 'feddyn' } },
};

export interface Scenario {
  readonly name: string;
  readonly settings: SimSettings;
  /** faults every schedule of the scenario has (the straggler) */
  readonly baseFaults: readonly Fault[];
}

export function scenario(strategy: StrategyCase, variant: Variant = 'plain', size: { clients?: number; rounds?: number } = {}): Scenario {
  const clients = size.clients ?? 3;
  const rounds = size.rounds ?? 3;
  const config = {
    name: `chaos-${strategy}`,
    clients,
    rounds,
    seed: 11,
    model: 'mlp',
    samplesPerClient: 20,
    testSamples: 50,
    local: { batchSize: 8 },
    ...STRATEGY_CONFIG[strategy],
    round: {
      deadlineSeconds: SIM_DEADLINE_SECONDS,
      ...(variant === 'straggler' || variant === 'groups' ? { minClients: clients - 1 } : {}),
      // A tree of sums: client-001 alone in group 1, so the straggler's group closes empty at the deadline passed on to it.
      ...(variant === 'groups' ? { groups: 2 } : {}),
    },
  };
  return {
    name: `${strategy}${variant === 'plain' ? '' : `+${variant}`} (${clients} clients × ${rounds} rounds)`,
    settings: {
      experimentId: `chaos-${strategy}-${variant}`,
      config,
      queues: SIM_QUEUES,
      startRetryDelaysSeconds: [60, 120],
      maxVirtualSeconds: 48 * 3600,
      maxInvocations: 2000,
      // The stack's event source hands the aggregator up to 10 messages of a group: its reads ahead and its one state
      // write per batch crash like everything else.
      ...(variant === 'batches' || variant === 'groups' ? { aggregateBatchSize: 10 } : {}),
      // Several clients a trainer invocation: their reads and writes in flight together, one crash killing all of them.
      ...(variant === 'train-batches' ? { trainBatchSize: clients } : {}),
      // A crash costs the aggregator what it remembered: the close after it folds some updates from memory and reads
      // the others back, or reads everything, and must write the same bytes either way.
      ...(variant === 'replaced' ? { replaceContainerOnCrash: true } : {}),
    },
    // The last round's client-001 trains only after that round's deadline: the round closes without it, the late
    // update is recorded and never counted.
    baseFaults: variant === 'straggler' || variant === 'groups' ? [{ kind: 'delay-train', round: rounds, clientId: 'client-001', seconds: SIM_DEADLINE_SECONDS + 120 }] : [],
  };
}

export type Judgement = 'survived' | 'stuck' | 'wrong-outcome' | 'double-counted' | 'diverged' | 'dead-lettered';

export interface Judged {
  readonly judgement: Judgement;
  readonly detail: string;
}

/** How a run compares with the fault-free reference of its scenario. */
export function judge(reference: SimOutcome, run: SimOutcome): Judged {
  if (run.limit) return { judgement: 'stuck', detail: run.limit };
  if (!run.status || run.status.state === 'running') return { judgement: 'stuck', detail: `status ${run.status?.state ?? 'missing'} with nothing in flight` };
  if (run.status.state !== reference.status?.state || JSON.stringify(run.status.errors ?? []) !== JSON.stringify(reference.status.errors ?? [])) {
    return { judgement: 'wrong-outcome', detail: `${run.status.state}: ${(run.status.errors ?? []).join(' | ')}` };
  }
  for (const [index, clients] of run.accepted.entries()) {
    if (new Set(clients).size !== clients.length) return { judgement: 'double-counted', detail: `round ${index + 1}: ${clients.join(', ')}` };
  }
  if (JSON.stringify(run.accepted) !== JSON.stringify(reference.accepted)) {
    return { judgement: 'diverged', detail: `accepted ${JSON.stringify(run.accepted)}, reference ${JSON.stringify(reference.accepted)}` };
  }
  const round = run.globals.findIndex((hash, index) => hash !== reference.globals[index]);
  if (round >= 0 || run.finalModel !== reference.finalModel) {
    return { judgement: 'diverged', detail: round >= 0 ? `global model of round ${round + 1} differs` : 'final model differs' };
  }
  if (run.deadLetters > 0) return { judgement: 'dead-lettered', detail: `${run.deadLetters} message(s) in a dead-letter queue` };
  return { judgement: 'survived', detail: '' };
}

export interface PlannedRun {
  readonly family: 'crash' | 'read-error' | 'write-error' | 'duplicate' | 'skew' | 'random';
  readonly label: string;
  readonly schedule: Schedule;
}

export interface RunResult extends PlannedRun, Judged {
  readonly ms: number;
}

/** The runs that did not end like the reference, a line each: what a sweep's test expects to be empty. */
export const notSurvived = (results: readonly RunResult[]) =>
  results.filter((result) => result.judgement !== 'survived').map((result) => `${result.label}: ${result.judgement} — ${result.detail}`);

export const REFERENCE_SEED = 1;

/** A scenario's fault-free run: the outcome every faulted run is judged against, and its state before each delivery. */
export interface Reference {
  readonly outcome: SimOutcome;
  readonly snapshots: readonly SimSnapshot[];
}

export async function runReference(target: Scenario): Promise<Reference> {
  await prepareSimulation();
  const snapshots: SimSnapshot[] = [];
  const outcome = await new Simulation(target.settings, { seed: REFERENCE_SEED, faults: target.baseFaults }).run({ onSnapshot: (snapshot) => snapshots.push(snapshot) });
  return { outcome, snapshots };
}

/** The latest snapshot of the reference run that comes before every fault of `schedule` (none for another seed). */
function resumePoint(reference: Reference | undefined, schedule: Schedule): SimSnapshot | undefined {
  if (!reference || schedule.seed !== REFERENCE_SEED || schedule.faults.length === 0) return undefined;
  const before = (snapshot: SimSnapshot) =>
    schedule.faults.every((fault) => {
      switch (fault.kind) {
        case 'crash':
        case 'write-error':
          return fault.at >= snapshot.operations.length;
        case 'read-error':
          return fault.at >= snapshot.reads;
        case 'duplicate':
        case 'skew':
          return fault.at >= snapshot.deliveries;
        case 'delay-train':
          return false;
      }
    });
  let point: SimSnapshot | undefined;
  for (const snapshot of reference.snapshots) if (before(snapshot)) point = snapshot;
  return point;
}

/** Runs `schedule` (plus the scenario's own faults), resumed from the reference run where it can be. */
export async function runSchedule(target: Scenario, schedule: Schedule, reference?: Reference): Promise<SimOutcome> {
  await prepareSimulation();
  const from = resumePoint(reference, schedule);
  return new Simulation(target.settings, { seed: schedule.seed, faults: [...target.baseFaults, ...schedule.faults] }).run(from ? { from } : {});
}

/** A crash just before and just after each mutating operation (after an event-source delete nothing is left to crash). */
export function crashSchedules(reference: SimOutcome): PlannedRun[] {
  return reference.operations.flatMap((operation) =>
    (operation.kind === 'sqs.delete' ? (['before'] as const) : (['before', 'after'] as const)).map((when) => ({
      family: 'crash' as const,
      label: `crash ${when} #${operation.index} ${operation.fn} ${operation.kind} ${operation.target}`,
      schedule: { seed: REFERENCE_SEED, faults: [{ kind: 'crash', at: operation.index, when }] },
    })),
  );
}

/** Every read failing once, or `sample` of them picked by `seed`. */
export function readErrorSchedules(reference: SimOutcome, sample?: { count: number; seed: number }): PlannedRun[] {
  let indices = Array.from({ length: reference.reads }, (_, index) => index);
  if (sample && sample.count < indices.length) indices = createRandom(sample.seed).shuffleInPlace(indices).slice(0, sample.count).sort((a, b) => a - b);
  return indices.map((at) => ({ family: 'read-error' as const, label: `S3 error on read #${at}`, schedule: { seed: REFERENCE_SEED, faults: [{ kind: 'read-error', at }] } }));
}

/** Every crash point, every S3 write failing, every delivery duplicated or early, and 30 reads failing (picked by `readErrorSeed`). */
export function everyFaultSchedule(reference: SimOutcome, readErrorSeed: number): PlannedRun[] {
  return [
    ...crashSchedules(reference),
    ...writeErrorSchedules(reference),
    ...deliverySchedules(reference),
    ...readErrorSchedules(reference, { count: 30, seed: readErrorSeed }),
  ];
}

/** Every S3 PUT of the reference run failing once, each in a run of its own. */
export function writeErrorSchedules(reference: SimOutcome): PlannedRun[] {
  return reference.operations
    .filter((operation) => operation.kind === 's3.put')
    .map((operation) => ({
      family: 'write-error' as const,
      label: `S3 error on write #${operation.index} ${operation.fn} ${operation.target}`,
      schedule: { seed: REFERENCE_SEED, faults: [{ kind: 'write-error', at: operation.index }] },
    }));
}

/** Each delivery handed out a second time; and each timer invocation with its clock a deadline ahead (early deadlines). */
export function deliverySchedules(reference: SimOutcome): PlannedRun[] {
  return Array.from({ length: reference.deliveries }, (_, at): PlannedRun[] => [
    { family: 'duplicate', label: `delivery #${at} twice`, schedule: { seed: REFERENCE_SEED, faults: [{ kind: 'duplicate', at }] } },
    ...(reference.invocationStats[at]?.fn === 'timer'
      ? [{ family: 'skew' as const, label: `timer delivery #${at} ${SIM_DEADLINE_SECONDS} s early`, schedule: { seed: REFERENCE_SEED, faults: [{ kind: 'skew' as const, at, seconds: SIM_DEADLINE_SECONDS }] } }]
      : []),
  ]).flat();
}

/** Other delivery orders (seeds), each with two to four faults of any family at random points. */
export function randomSchedules(reference: SimOutcome, count: number, seed: number): PlannedRun[] {
  const random = createRandom(seed);
  return Array.from({ length: count }, (_, index) => {
    const faults: Fault[] = Array.from({ length: 2 + random.nextInt(3) }, (): Fault => {
      switch (random.nextInt(5)) {
        case 0:
          return { kind: 'crash', at: random.nextInt(reference.operations.length), when: random.nextInt(2) === 0 ? 'before' : 'after' };
        case 1:
          return { kind: 'read-error', at: random.nextInt(reference.reads) };
        case 4:
          // Fires only if that operation is an S3 PUT in this run's order.
          return { kind: 'write-error', at: random.nextInt(reference.operations.length) };
        case 2:
          return { kind: 'duplicate', at: random.nextInt(reference.deliveries) };
        default:
          return { kind: 'skew', at: random.nextInt(reference.deliveries), seconds: 60 + random.nextInt(SIM_DEADLINE_SECONDS) };
      }
    });
    const runSeed = 1000 + seed * 1000 + index;
    return { family: 'random' as const, label: `seed ${runSeed}: ${faults.map(describeFault).join(', ')}`, schedule: { seed: runSeed, faults } };
  });
}

export function describeFault(fault: Fault): string {
  switch (fault.kind) {
    case 'crash':
      return `crash ${fault.when} op #${fault.at}`;
    case 'read-error':
      return `read #${fault.at} fails`;
    case 'write-error':
      return `write #${fault.at} fails`;
    case 'duplicate':
      return `delivery #${fault.at} twice`;
    case 'skew':
      return `timer of delivery #${fault.at} ${fault.seconds} s ahead`;
    case 'delay-train':
      return `${fault.clientId} round ${fault.round} ${fault.seconds} s late`;
  }
}

/** Runs `planned` against `target`'s reference, one at a time, reporting each result. */
export async function runCampaign(
  target: Scenario,
  reference: Reference,
  planned: readonly PlannedRun[],
  onResult: (result: RunResult) => void = () => {},
): Promise<RunResult[]> {
  const results: RunResult[] = [];
  for (const run of planned) {
    const started = performance.now();
    const outcome = await runSchedule(target, run.schedule, reference);
    const result: RunResult = { ...run, ...judge(reference.outcome, outcome), ms: performance.now() - started };
    results.push(result);
    onResult(result);
  }
  return results;
}
