import { describe, expect, it } from 'vitest';
import { judge, REFERENCE_SEED, runReference, runSchedule, scenario, type Variant } from './chaos/campaign.js';
import type { SimOutcome } from './chaos/simulation.js';

/**
 * A crash that replaces the aggregator's container (as Lambda replaces one whose invocation died) costs it what it
 * remembered of the round: the close must read back the verdict and update it no longer holds and still write the
 * global models the fault-free run wrote. A warm container that outlives the same crash reads neither back.
 */

/** Reads of verdicts and updates by aggregator invocations, over the whole run. */
const aggregatorClientReads = (outcome: SimOutcome) =>
  outcome.invocationStats.filter((stats) => stats.fn === 'aggregate').reduce((total, stats) => total + stats.clientReads, 0);

/** The reads a crash adds, once round 1's first verdict and the state counting it are written; the run must survive. */
async function readsAddedByCrash(variant: Variant): Promise<number> {
  const target = scenario('fedavg', variant, { clients: 2, rounds: 2 });
  const reference = await runReference(target);
  const operations = reference.outcome.operations;
  const verdict = operations.find((operation) => operation.fn === 'aggregate' && /\/rounds\/0001\/verdicts\//.test(operation.target));
  const counted = verdict && operations.find((operation) => operation.index > verdict.index && /\/rounds\/0001\/state\.json$/.test(operation.target));
  expect(counted).toBeDefined();
  const crashed = await runSchedule(target, { seed: REFERENCE_SEED, faults: [{ kind: 'crash', at: counted!.index, when: 'after' }] }, reference);
  expect(judge(reference.outcome, crashed).judgement).toBe('survived');
  return aggregatorClientReads(crashed) - aggregatorClientReads(reference.outcome);
}

describe('chaos: a crash that replaces the container', () => {
  it('ends like the fault-free run, reading back the verdict and update the lost memory held', async () => {
    const warm = await readsAddedByCrash('plain');
    const replaced = await readsAddedByCrash('replaced');
    // Warm, only the redelivered message looks for its verdict again (and reads its report, read alongside the verdict
    // before it is known to exist); replaced, the close also reads back the first client's verdict and update.
    expect(warm).toBeLessThanOrEqual(2);
    expect(replaced).toBeGreaterThanOrEqual(warm + 2);
  });
});
