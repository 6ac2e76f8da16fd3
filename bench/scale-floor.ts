/**
 * The floor under the local runtime's orchestration overhead: what one request from the AWS SDK to the embedded
 * emulator costs in CPU (both ends run in this process), times the requests a client-update makes, trainer and
 * aggregator together, as counted on real runs of the pipeline (bench/scale-run.ts). bench/scale.ts measures the
 * costs in a process of their own (bench/scale-child.ts) and docs/scale.md prices the counted requests with them.
 */
import { startLocalCloud } from '../local/cloud.js';
import type { OperationCounts } from './scale-counting.js';

export interface RequestCost {
  /** process CPU (both ends: SDK and emulator) per request */
  readonly cpuMs: number;
  readonly wallMs: number;
}

export interface RequestCosts {
  readonly repeats: number;
  /** the large bodies' size: an update's, as the counted trainer wrote them */
  readonly bodyBytes: number;
  readonly getSmall: RequestCost;
  readonly getLarge: RequestCost;
  readonly putSmall: RequestCost;
  readonly putLarge: RequestCost;
  readonly head: RequestCost;
  /** a message's send, and the event source's receive and delete (a no-op handler) */
  readonly messageTrip: RequestCost;
}

const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

/** CPU (process, both ends) and wall time per call of `call`. */
async function perCall(repeats: number, call: (index: number) => Promise<unknown>): Promise<RequestCost> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let index = 0; index < repeats; index++) await call(index);
  return { cpuMs: cpuMs(process.cpuUsage(cpu)) / repeats, wallMs: (performance.now() - started) / repeats };
}

/** Each kind of request, one at a time, `repeats` times, through the pipeline's own ports on a fresh local cloud. */
export async function measureRequestCosts(repeats: number, bodyBytes: number): Promise<RequestCosts> {
  const noop = async () => {};
  const cloud = await startLocalCloud({ handlers: { start: noop, train: noop, aggregate: noop, timer: noop }, uploadMnist: false, log: () => {} });
  try {
    const { store, queues } = cloud.context;
    const small = JSON.stringify({ record: 'x'.repeat(400) });
    const large = new Uint8Array(bodyBytes).fill(7);
    await store.put('floor/small.json', small);
    await store.put('floor/large.bin', large);
    const pass = async (): Promise<RequestCosts> => {
      const getSmall = await perCall(repeats, () => store.get('floor/small.json'));
      const getLarge = await perCall(repeats, () => store.get('floor/large.bin'));
      const putSmall = await perCall(repeats, (index) => store.put(`floor/put-${index % 10}.json`, small));
      const putLarge = await perCall(repeats, (index) => store.put(`floor/put-${index % 10}.bin`, large));
      const head = await perCall(repeats, () => store.head('floor/small.json'));
      const cpu = process.cpuUsage();
      const started = performance.now();
      for (let index = 0; index < repeats; index++) await queues.timer.send({ index });
      await cloud.idle();
      const messageTrip = { cpuMs: cpuMs(process.cpuUsage(cpu)) / repeats, wallMs: (performance.now() - started) / repeats };
      return { repeats, bodyBytes, getSmall, getLarge, putSmall, putLarge, head, messageTrip };
    };
    // A fresh process runs the SDK's and the emulator's code unoptimised for its first thousands of calls, which a
    // pipeline run is long past: the first pass only warms up.
    await pass();
    return await pass();
  } finally {
    await cloud.stop();
  }
}

/** S3 and SQS requests per client-update in `counts` (over `updates` updates). */
export function requestsPerUpdate(counts: OperationCounts, updates: number): number {
  const { s3, sqs } = counts;
  return (s3.get + s3.put + s3.head + s3.list + s3.delete + sqs.send + sqs.sendBatch + sqs.changeVisibility + sqs.receive + sqs.delete) / updates;
}

/** CPU per client-update that `counts` (over `updates` updates) cost at these prices: small requests plus their bytes. */
export function floorCpuPerUpdate(counts: OperationCounts, updates: number, costs: RequestCosts): number {
  const { s3, sqs } = counts;
  const perByteGet = Math.max(0, costs.getLarge.cpuMs - costs.getSmall.cpuMs) / costs.bodyBytes;
  const perBytePut = Math.max(0, costs.putLarge.cpuMs - costs.putSmall.cpuMs) / costs.bodyBytes;
  // Every SQS call is priced at a third of a message's trip (send, receive, delete): the lease and batch sends alike.
  const sqsCall = costs.messageTrip.cpuMs / 3;
  const sqsCalls = sqs.send + sqs.sendBatch + sqs.changeVisibility + sqs.receive + sqs.delete;
  const total =
    s3.get * costs.getSmall.cpuMs + s3.getBytes * perByteGet + s3.put * costs.putSmall.cpuMs + s3.putBytes * perBytePut +
    (s3.head + s3.list + s3.delete) * costs.head.cpuMs + sqsCalls * sqsCall;
  return total / updates;
}
