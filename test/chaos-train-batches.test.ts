import { describe, expect, it } from 'vitest';
import { everyFaultSchedule, runCampaign, runReference, scenario, notSurvived, type Reference } from './chaos/campaign.js';

/**
 * The crash sweep with a trainer invocation taking every client of the round at once (`flambda run --train-batch`,
 * the stack's `-c trainBatchSize`): the clients' reads and writes in flight together, a crash killing all of them at
 * one operation, a write error failing one client while the others complete, and the event source deleting only
 * what the handler did not report failed. FedAvg, 3 clients × 2 rounds, real handlers and training on the simulated
 * cloud; every run must end like the fault-free one.
 */

const batched = scenario('fedavg', 'train-batches', { clients: 3, rounds: 2 });
const single = scenario('fedavg', 'plain', { clients: 3, rounds: 2 });

const trainerInvocations = (outcome: Reference['outcome']) => outcome.invocationStats.filter((stats) => stats.fn === 'train').length;

describe('fault-injection sweep with every client of a round in one trainer invocation (FedAvg, 3 clients × 2 rounds)', () => {
  let reference: Reference;

  it('completes fault-free in fewer trainer invocations than one client at a time, accepting the same clients', async () => {
    reference = await runReference(batched);
    const alone = await runReference(single);
    expect(reference.outcome.status?.state).toBe('completed');
    expect(trainerInvocations(reference.outcome)).toBeLessThan(trainerInvocations(alone.outcome));
    expect(reference.outcome.accepted).toEqual(alone.outcome.accepted);
  }, 300_000);

  it('survives a crash before and after every mutating operation, every S3 write failing, duplicated deliveries, early clocks and read errors', async () => {
    const planned = everyFaultSchedule(reference.outcome, 13);
    expect(planned.length).toBeGreaterThan(100);
    expect(notSurvived(await runCampaign(batched, reference, planned))).toEqual([]);
  }, 1_200_000);
});
