import { describe, expect, it } from 'vitest';
import { everyFaultSchedule, runCampaign, runReference, scenario, notSurvived, type Reference } from './chaos/campaign.js';

/**
 * The crash sweep with the aggregator taking up to 10 messages of the experiment's FIFO group per invocation, as the
 * stack's event source hands them out: the batch's reads made ahead (shared/pipeline/batch-reads.ts), its verdicts
 * written together and its one round-state write after them, and the partial batch failures all meet every crash point
 * and every S3 write failing on its own (a verdict of the batch lost while the ones after it are written). FedAvg, 3 clients × 2 rounds, real
 * handlers and training on the simulated cloud; every run must end like the fault-free one.
 */

const batched = scenario('fedavg', 'batches', { clients: 3, rounds: 2 });
const single = scenario('fedavg', 'plain', { clients: 3, rounds: 2 });

describe('fault-injection sweep with batches of 10 (FedAvg, 3 clients × 2 rounds)', () => {
  let reference: Reference;

  it('completes fault-free in fewer aggregator invocations than one message at a time, with the same models', async () => {
    reference = await runReference(batched);
    const alone = await runReference(single);
    expect(reference.outcome.status?.state).toBe('completed');
    const aggregatorInvocations = (outcome: Reference['outcome']) => outcome.invocationStats.filter((stats) => stats.fn === 'aggregate').length;
    expect(aggregatorInvocations(reference.outcome)).toBeLessThan(aggregatorInvocations(alone.outcome));
    expect(reference.outcome.globals).toEqual(alone.outcome.globals);
    expect(reference.outcome.accepted).toEqual(alone.outcome.accepted);
  }, 300_000);

  it('survives a crash before and after every mutating operation, every S3 write failing, duplicated deliveries, early clocks and read errors', async () => {
    const planned = everyFaultSchedule(reference.outcome, 9);
    expect(planned.length).toBeGreaterThan(100);
    expect(notSurvived(await runCampaign(batched, reference, planned))).toEqual([]);
  }, 1_200_000);
});
