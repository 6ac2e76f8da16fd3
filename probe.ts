import { scenario, runSchedule, readErrorSchedules, deliverySchedules, randomSchedules, runCampaign, crashSchedules, REFERENCE_SEED, STRATEGY_CASES } from './test/chaos/campaign.js';
const which = process.argv[2] ?? 'fedavg';
const variant = (process.argv[3] ?? 'plain') as 'plain' | 'straggler';
const s = scenario(which as never, variant);
const ref = await runSchedule(s, { seed: REFERENCE_SEED, faults: [] });
console.log(s.name, 'ref', ref.status?.state, ref.status?.errors, ref.accepted, 'ops', ref.operations.length, 'reads', ref.reads, 'deliveries', ref.deliveries, ref.limit ?? '');
const families = (process.argv[4] ?? 'read,delivery,random').split(',');
const planned = [
  ...(families.includes('crash') ? crashSchedules(ref) : []),
  ...(families.includes('read') ? readErrorSchedules(ref) : []),
  ...(families.includes('delivery') ? deliverySchedules(ref) : []),
  ...(families.includes('random') ? randomSchedules(ref, 30, 5) : []),
];
const t = performance.now();
const results = await runCampaign(s, ref, planned, (r) => { if (r.judgement !== 'survived') console.log('BAD', r.label, r.judgement, r.detail); });
console.log('ran', results.length, 'bad', results.filter((r) => r.judgement !== 'survived').length, 'ms', Math.round(performance.now() - t));
