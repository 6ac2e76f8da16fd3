import { scenario, runReference, runCampaign, crashSchedules } from './test/chaos/campaign.js';
const s = scenario('fedavg', 'plain', { clients: 2, rounds: 2 });
let t = performance.now();
const ref = await runReference(s);
console.log('ref ms', performance.now() - t, 'snapshots', ref.snapshots.length);
const planned = crashSchedules(ref.outcome);
t = performance.now();
const results = await runCampaign(s, ref, planned);
console.log('crash', planned.length, 'bad', results.filter(r => r.judgement !== 'survived').map(r => r.label + ' ' + r.detail), 'per run ms', (performance.now() - t) / planned.length);
