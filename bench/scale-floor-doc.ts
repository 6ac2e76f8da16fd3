/**
 * docs/scale.md's section on the floor under the local overhead: the measured price of each kind of request
 * (bench/scale-floor.ts) times the requests a client-update makes, as counted on the runs of bench/scale-results.json.
 */
import { floorCpuPerUpdate, requestsPerUpdate, type RequestCosts } from './scale-floor.js';
import type { ScaleRunResult } from './scale-run.js';

const fine = (value: number) => `${value.toFixed(1)} ms`;

export interface Floor {
  readonly trainerRequests: number;
  readonly aggregatorRequests: number;
  readonly trainerCpuMs: number;
  readonly aggregatorCpuMs: number;
  /** requests' CPU per client-update, trainer + aggregator + timer */
  readonly cpuMs: number;
  /** cpuMs spread over every core: the least wall time per client-update the requests alone allow */
  readonly wallMs: number;
}

/** The trainer's requests as a warm worker makes them (`warm`), the aggregator's and timer's as the largest run made them. */
export function floorOf(costs: RequestCosts, warm: ScaleRunResult, largest: ScaleRunResult, cores: number): Floor {
  const trainerCpuMs = floorCpuPerUpdate(warm.counts.train, warm.updates, costs);
  const aggregatorCpuMs = floorCpuPerUpdate(largest.counts.aggregate, largest.updates, costs);
  const cpuMs = trainerCpuMs + aggregatorCpuMs + floorCpuPerUpdate(largest.counts.timer, largest.updates, costs);
  return {
    trainerRequests: requestsPerUpdate(warm.counts.train, warm.updates),
    aggregatorRequests: requestsPerUpdate(largest.counts.aggregate, largest.updates) + requestsPerUpdate(largest.counts.timer, largest.updates),
    trainerCpuMs,
    aggregatorCpuMs,
    cpuMs,
    wallMs: cpuMs / Math.max(1, cores),
  };
}

export function floorSection(costs: RequestCosts, floor: Floor, warm: ScaleRunResult, largest: ScaleRunResult, cores: number): string {
  const row = (name: string, cost: { cpuMs: number; wallMs: number }) => `| ${name} | ${cost.cpuMs.toFixed(2)} | ${cost.wallMs.toFixed(2)} |`;
  const trainingPerUpdate = largest.rounds.reduce((total, round) => total + round.trainMsSum, 0) / Math.max(1, largest.updates);
  const cpuPerUpdate = largest.cpu ? largest.cpu.processMs / Math.max(1, largest.updates) : undefined;
  const rest = cpuPerUpdate === undefined ? '' : ` The run itself used ${fine(cpuPerUpdate)} of CPU per client-update, ${fine(trainingPerUpdate)} of it training: the other ${fine(Math.max(0, cpuPerUpdate - trainingPerUpdate - floor.cpuMs))} is what the requests' prices leave out (building the model and decoding, checking and folding each update, collecting its ~${(costs.bodyBytes / 1024).toFixed(0)} KiB bodies, the handlers' logic, the event sources' polling, garbage collection in a process that holds every object written, threads contending for ${cores} cores, the benchmark's own sampling).`;
  return `### The floor under the overhead

What one request costs from the AWS SDK to the embedded emulator, one at a time, both ends in one process
(bench/scale-floor.ts, ${costs.repeats} of each in a process of its own after this run's configurations; the large body is an
update's size, ${(costs.bodyBytes / 1024).toFixed(0)} KiB):

| request | CPU ms (process, both ends) | wall ms |
|---|---:|---:|
${[
  row('GET, small record', costs.getSmall),
  row('GET, large body', costs.getLarge),
  row('PUT, small record', costs.putSmall),
  row('PUT, large body', costs.putLarge),
  row('HEAD', costs.head),
  row('SQS message trip (send, receive, delete)', costs.messageTrip),
].join('\n')}

A client-update makes ${floor.trainerRequests.toFixed(2)} S3 and SQS requests in the trainer (counted on a run of ${warm.options.perRound} clients
trained in one warm container, as a worker of the local runtime trains them) and ${floor.aggregatorRequests.toFixed(2)} in the aggregator and
timer (the ${largest.options.perRound}-client run, event sources' receives and deletes included). At the prices above (every SQS call a
third of a message's trip; bodies by their bytes) they take ${fine(floor.trainerCpuMs)} + ${fine(floor.aggregatorCpuMs)} = **${fine(floor.cpuMs)} of CPU per
client-update**: ${fine(floor.wallMs)} of wall time if the requests were all the process did, spread evenly over its ${cores} cores.${rest}
`;
}

/** For the goals: how far the requests alone are from the goal. */
export function floorLine(floor: Floor, goalMs: number): string {
  return ` The requests alone cost ${fine(floor.cpuMs)} of CPU per client-update (*The floor under the overhead*): ${fine(floor.wallMs)} of wall time at best, spread over every core, ${floor.wallMs <= goalMs ? `${(floor.wallMs / goalMs * 100).toFixed(0)} % of the goal, before anything else the process does` : 'over the goal before anything else the process does'}.`;
}
