/**
 * The floor under the local runtime's orchestration overhead: what one request from the AWS SDK to the embedded
 * emulator costs in CPU (both ends run in this process), times the requests a client-update makes, trainer and
 * aggregator together, as counted on a real run of the pipeline (bench/scale-run.ts, trainer in-process).
 *   npx tsx bench/scale-floor.ts [--clients 100] [--repeats 300]
 * Prints the cost of each request kind and the floor per client-update; writes nothing.
 */
import { startLocalCloud } from '../local/cloud.js';
import { describeMachine } from './machine.js';
import { measureScale } from './scale-run.js';
import type { OperationCounts } from './scale-counting.js';

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} takes a positive integer (got ${process.argv[index + 1]})`);
  return value;
}

const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

/** CPU (process, both ends) and wall time per call of `call`, after a few calls to warm up. */
async function perCall(repeats: number, call: (index: number) => Promise<unknown>): Promise<{ cpuMs: number; wallMs: number }> {
  for (let index = 0; index < 20; index++) await call(index);
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let index = 0; index < repeats; index++) await call(index);
  return { cpuMs: cpuMs(process.cpuUsage(cpu)) / repeats, wallMs: (performance.now() - started) / repeats };
}

async function requestCosts(repeats: number, bodyBytes: number) {
  const noop = async () => {};
  const cloud = await startLocalCloud({ handlers: { start: noop, train: noop, aggregate: noop, timer: noop }, uploadMnist: false, log: () => {} });
  try {
    const { store, queues } = cloud.context;
    const small = JSON.stringify({ record: 'x'.repeat(400) });
    const large = new Uint8Array(bodyBytes).fill(7);
    await store.put('floor/small.json', small);
    await store.put('floor/large.bin', large);
    const costs = {
      getSmall: await perCall(repeats, () => store.get('floor/small.json')),
      getLarge: await perCall(repeats, () => store.get('floor/large.bin')),
      putSmall: await perCall(repeats, (index) => store.put(`floor/put-${index % 10}.json`, small)),
      putLarge: await perCall(repeats, (index) => store.put(`floor/put-${index % 10}.bin`, large)),
      head: await perCall(repeats, () => store.head('floor/small.json')),
    };
    // A message's trip: the send, and the event source's receive and delete (a no-op handler), waited for together.
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let index = 0; index < repeats; index++) await queues.timer.send({ index });
    await cloud.idle();
    const trip = { cpuMs: cpuMs(process.cpuUsage(cpu)) / repeats, wallMs: (performance.now() - started) / repeats };
    return { ...costs, messageTrip: trip };
  } finally {
    await cloud.stop();
  }
}

type Costs = Awaited<ReturnType<typeof requestCosts>>;

/** CPU per client-update that `counts` (over `updates` updates) cost at these prices. */
function floorOf(counts: OperationCounts, updates: number, costs: Costs, bodyBytes: number): number {
  const { s3, sqs } = counts;
  const perByteGet = (costs.getLarge.cpuMs - costs.getSmall.cpuMs) / bodyBytes;
  const perBytePut = (costs.putLarge.cpuMs - costs.putSmall.cpuMs) / bodyBytes;
  // SQS calls priced at a third of a message's trip (send, receive, delete) each: the lease and batch sends alike.
  const sqsCall = costs.messageTrip.cpuMs / 3;
  const sqsCalls = sqs.send + sqs.sendBatch + sqs.changeVisibility + sqs.receive + sqs.delete;
  const total =
    s3.get * costs.getSmall.cpuMs + s3.getBytes * perByteGet + s3.put * costs.putSmall.cpuMs + s3.putBytes * perBytePut +
    (s3.head + s3.list + s3.delete) * costs.head.cpuMs + sqsCalls * sqsCall;
  return total / updates;
}

const clients = flag('--clients', 100);
const repeats = flag('--repeats', 300);
const machine = await describeMachine();
console.log(`scale floor: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion}, load ${machine.loadAverage.start}`);
// The large bodies are an update's size (mlp, the model bench:scale runs), as the counted run wrote them.
const run = await measureScale({ clients, perRound: clients, rounds: 1, trainer: 'in-process' });
if (!run.completed || run.updates === 0) throw new Error(`the counted run did not complete (${run.state})`);
// what a trainer writes per update: the update, and its report of a few hundred bytes
const bodyBytes = Math.round(run.counts.train.s3.putBytes / run.updates);
const costs = await requestCosts(repeats, bodyBytes);
const row = (name: string, cost: { cpuMs: number; wallMs: number }) => `| ${name} | ${cost.cpuMs.toFixed(2)} | ${cost.wallMs.toFixed(2)} |`;
console.log(`\nOne request, SDK → embedded emulator, one at a time (${repeats} each; large body ${(bodyBytes / 1024).toFixed(0)} KiB):\n`);
console.log('| request | CPU ms (process) | wall ms |\n|---|---:|---:|');
console.log(
  [
    row('GET, small record', costs.getSmall),
    row('GET, large body', costs.getLarge),
    row('PUT, small record', costs.putSmall),
    row('PUT, large body', costs.putLarge),
    row('HEAD', costs.head),
    row('SQS message trip (send, receive, delete)', costs.messageTrip),
  ].join('\n'),
);
const perUpdate = (counts: OperationCounts) => {
  const { s3, sqs } = counts;
  return (s3.get + s3.put + s3.head + s3.list + s3.delete + sqs.send + sqs.sendBatch + sqs.changeVisibility + sqs.receive + sqs.delete) / run.updates;
};
const trainer = floorOf(run.counts.train, run.updates, costs, bodyBytes);
const aggregator = floorOf(run.counts.aggregate, run.updates, costs, bodyBytes);
const timer = floorOf(run.counts.timer, run.updates, costs, bodyBytes);
console.log(`\nRequests per client-update (${run.updates} updates counted): trainer ${perUpdate(run.counts.train).toFixed(2)}, aggregator ${perUpdate(run.counts.aggregate).toFixed(2)}, timer ${perUpdate(run.counts.timer).toFixed(2)}.`);
console.log(`Their CPU at these prices: trainer ${trainer.toFixed(1)} ms, aggregator ${aggregator.toFixed(1)} ms, timer ${timer.toFixed(1)} ms: ${(trainer + aggregator + timer).toFixed(1)} ms of CPU per client-update,`);
console.log(`${((trainer + aggregator + timer) / machine.cores).toFixed(1)} ms of wall time per client-update if all ${machine.cores} cores did nothing else: the floor of the overhead with this design.`);
console.log(`The run itself: ${run.cpu ? (run.cpu.processMs / run.updates).toFixed(1) : '?'} ms of process CPU per client-update, training included.`);
