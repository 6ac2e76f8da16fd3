import { describe, expect, it } from 'vitest';
import { everyFaultSchedule, runCampaign, runReference, scenario, notSurvived, type Reference } from './chaos/campaign.js';

/**
 * The crash sweep of a round split into groups (config round.groups, a tree of sums): FedAvg, 3 clients × 2 rounds in
 * 2 groups ({client-000, client-002} and {client-001}), batches of up to 10 per invocation, and client-001 training
 * only after the last round's deadline, so that its group closes empty when the round passes its deadline on, and its
 * late update is recorded and never counted. Every crash point of the groups' closes, the "group closed" messages, the
 * forwarded deadlines and the round's close from partial sums, every S3 write failing on its own, duplicated
 * deliveries, early clocks and read errors: every run must end like the fault-free one.
 */

const grouped = scenario('fedavg', 'groups', { clients: 3, rounds: 2 });

describe('fault-injection sweep of a tree of sums (FedAvg, 3 clients × 2 rounds, 2 groups, a straggler)', () => {
  let reference: Reference;

  it('completes fault-free with the straggler left out of the last round only', async () => {
    reference = await runReference(grouped);
    expect(reference.outcome.status?.state).toBe('completed');
    expect(reference.outcome.accepted).toEqual([['client-000', 'client-001', 'client-002'], ['client-000', 'client-002']]);
  }, 300_000);

  it('survives a crash before and after every mutating operation, every S3 write failing, duplicated deliveries, early clocks and read errors', async () => {
    const planned = everyFaultSchedule(reference.outcome, 13);
    expect(planned.length).toBeGreaterThan(100);
    expect(notSurvived(await runCampaign(grouped, reference, planned))).toEqual([]);
  }, 1_200_000);
});
