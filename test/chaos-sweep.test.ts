import { describe, expect, it } from 'vitest';
import {
  crashSchedules,
  deliverySchedules,
  judge,
  readErrorSchedules,
  writeErrorSchedules,
  REFERENCE_SEED,
  runCampaign,
  runReference,
  runSchedule,
  scenario,
  type Reference,
  notSurvived,
} from './chaos/campaign.js';
import { Simulation, type SimOutcome } from './chaos/simulation.js';

/**
 * The exhaustive crash-point sweep, inside the test suite: FedAvg, 2 clients × 2 rounds, real handlers and training
 * on the simulated cloud. Every mutating operation of the fault-free run is crashed before and after, every delivery
 * is duplicated and run with a clock a deadline ahead, and a spread of reads fail; every run must end like the
 * fault-free one. `npm run chaos` runs the larger campaign (3 × 3, four strategies, random schedules).
 */

const target = scenario('fedavg', 'plain', { clients: 2, rounds: 2 });

describe('fault-injection sweep (FedAvg, 2 clients × 2 rounds)', () => {
  let reference: Reference;

  it('completes fault-free, deterministically, also when resumed from any point of the run', async () => {
    reference = await runReference(target);
    expect(reference.outcome.status?.state).toBe('completed');
    expect(reference.outcome.accepted).toEqual([['client-000', 'client-001'], ['client-000', 'client-001']]);
    const again = await runSchedule(target, { seed: REFERENCE_SEED, faults: [] });
    expect(judge(reference.outcome, again).judgement).toBe('survived');
    const middle = reference.snapshots[Math.floor(reference.snapshots.length / 2)]!;
    const resumed = await new Simulation(target.settings, { seed: REFERENCE_SEED, faults: [] }).run({ from: middle });
    expect(judge(reference.outcome, resumed).judgement).toBe('survived');
    expect(resumed.operations).toEqual(reference.outcome.operations);
  });

  it('survives a crash before and after every S3 write, SQS send, visibility change and delete', async () => {
    const planned = crashSchedules(reference.outcome);
    console.log(`crash points enumerated: ${planned.length} (${reference.outcome.operations.length} mutating operations)`);
    expect(planned.length).toBeGreaterThan(100);
    expect(notSurvived(await runCampaign(target, reference, planned))).toEqual([]);
  }, 900_000);

  it('survives duplicated deliveries, early clocks and S3 errors on reads and on every write', async () => {
    const planned = [...deliverySchedules(reference.outcome), ...readErrorSchedules(reference.outcome, { count: 30, seed: 7 }), ...writeErrorSchedules(reference.outcome)];
    expect(notSurvived(await runCampaign(target, reference, planned))).toEqual([]);
  }, 900_000);
});

describe('the judge', () => {
  const base: SimOutcome = {
    status: { experimentId: 'x', state: 'completed', round: 2, rounds: 2, updatedAt: '2026-11-26T12:00:00.000Z' },
    finalModel: 'f',
    globals: ['a', 'b'],
    accepted: [['client-000', 'client-001'], ['client-000', 'client-001']],
    operations: [],
    reads: 0,
    deliveries: 0,
    invocations: 0,
    deadLetters: 0,
    faultsFired: 1,
    virtualSeconds: 0,
    invocationStats: [],
  };

  it('tells stuck, double-counted, diverged and dead-lettered runs apart from survived ones', () => {
    expect(judge(base, base).judgement).toBe('survived');
    expect(judge(base, { ...base, status: { ...base.status!, state: 'running' } }).judgement).toBe('stuck');
    expect(judge(base, { ...base, limit: 'more than 2000 invocations' }).judgement).toBe('stuck');
    expect(judge(base, { ...base, status: { ...base.status!, state: 'failed', errors: ['x'] } }).judgement).toBe('wrong-outcome');
    expect(judge(base, { ...base, accepted: [['client-000', 'client-000'], ['client-000', 'client-001']] }).judgement).toBe('double-counted');
    expect(judge(base, { ...base, accepted: [['client-000'], ['client-000', 'client-001']] }).judgement).toBe('diverged');
    expect(judge(base, { ...base, globals: ['a', 'c'] }).judgement).toBe('diverged');
    expect(judge(base, { ...base, finalModel: 'g' }).judgement).toBe('diverged');
    expect(judge(base, { ...base, deadLetters: 1 }).judgement).toBe('dead-lettered');
  });
});
