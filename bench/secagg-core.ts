/**
 * `npm run bench:secagg-core`: the secure-aggregation protocol core alone, in memory, at 10, 100 and 1,000 simulated
 * clients: bytes per client per stage and time per stage (per client and for the server), SecAgg's complete graph
 * against SecAgg+'s O(log n) neighbours, with cnn-small's parameter count as the vector. Every round's unmasked sum is
 * checked against the plain quantized sum before its numbers are printed. Writes the table into the "core benchmark"
 * section of docs/secure-aggregation.md (`--no-write` to only print; `--quick` for a 10,000-parameter vector).
 * The pipeline benchmark (`npm run bench:secagg`, accuracy and round time split per stage) is the integration's.
 */
import { parseArgs } from 'node:util';
import { parameterCount } from '../shared/models/index.js';
import { clientIdFor } from '../shared/protocol/keys.js';
import { bytesPerClient, computeCost, logarithmicNeighbours } from '../shared/secagg/cost.js';
import { CLIENT_STAGES, simulateRound } from '../shared/secagg/simulate.js';
import { replaceDocSection } from './doc-section.js';
import { describeMachine, finishMachineInfo, startCpuMeter, type MachineInfo } from './machine.js';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, 'no-write': { type: 'boolean', default: false } } });
const DOC = 'docs/secure-aggregation.md';

interface Scenario {
  readonly clients: number;
  /** null: complete graph */
  readonly neighbours: number | null;
  readonly droppedAtMaskedInput: number;
}

const majority = (k: number) => Math.floor(k / 2) + 1;
const scenarios: Scenario[] = [
  { clients: 10, neighbours: null, droppedAtMaskedInput: 0 },
  { clients: 100, neighbours: null, droppedAtMaskedInput: 0 },
  { clients: 100, neighbours: logarithmicNeighbours(100), droppedAtMaskedInput: 0 },
  { clients: 100, neighbours: logarithmicNeighbours(100), droppedAtMaskedInput: 5 },
  { clients: 1000, neighbours: logarithmicNeighbours(1000), droppedAtMaskedInput: 0 },
  { clients: 1000, neighbours: logarithmicNeighbours(1000), droppedAtMaskedInput: 10 },
];

const kib = (bytes: number) => (bytes / 1024).toFixed(1);
const ms = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(0));
const mean = (values: readonly number[]) => (values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length);

/** `count` clients evenly spaced over the id range (the graph permutes ids, so this is no one neighbourhood). */
const spread = (count: number, clients: number) => Array.from({ length: count }, (_, i) => clientIdFor((7 + Math.floor((i * clients) / count)) % clients));

interface Row {
  readonly scenario: Scenario;
  readonly k: number;
  readonly t: number;
  readonly upKiB: number;
  readonly downKiB: number;
  readonly ratio: number;
  readonly clientMs: Record<string, number>;
  readonly serverMs: Record<string, number>;
  readonly wallMs: number;
}

function run(scenario: Scenario, vectorLength: number): Row {
  const k = scenario.neighbours ?? scenario.clients - 1;
  const t = majority(k);
  const started = performance.now();
  const report = simulateRound({
    clients: scenario.clients,
    vectorLength,
    threshold: t,
    neighbours: scenario.neighbours,
    quantizationBits: 16,
    dropouts: { 'masked-input': spread(scenario.droppedAtMaskedInput, scenario.clients) },
  });
  const wallMs = performance.now() - started;
  if (!report.outcome.ok) throw new Error(`${scenario.clients} clients: ${report.outcome.failure.stage}: ${report.outcome.failure.reason}`);
  if (!Buffer.from(report.outcome.aggregate.sum.buffer).equals(Buffer.from(report.plainSum!.buffer))) throw new Error(`${scenario.clients} clients: the unmasked sum is wrong`);
  const clientMs: Record<string, number> = {};
  const serverMs: Record<string, number> = {};
  let up = 0;
  let down = mean(report.measures.setup!.downBytes);
  for (const stage of CLIENT_STAGES) {
    const measure = report.measures[stage]!;
    const participants = Math.max(measure.upBytes.length, measure.downBytes.length, 1);
    clientMs[stage] = measure.clientMs / participants;
    serverMs[stage] = measure.serverMs;
    up += mean(measure.upBytes);
    down += mean(measure.downBytes);
  }
  return { scenario, k, t, upKiB: up / 1024, downKiB: down / 1024, ratio: (up + down) / (4 * vectorLength), clientMs, serverMs, wallMs };
}

function measuredTable(rows: readonly Row[], vectorLength: number): string {
  const float32KiB = kib(4 * vectorLength);
  const lines = [
    `| clients | graph | k | t | dropped at masked input | up KiB/client | down KiB/client | (up + down) / float32 update (${float32KiB} KiB) | client ms: advertise · share · mask · unmask | server ms: advertise · share · mask (fold) · unmask | wall s |`,
    '|---:|---|---:|---:|---:|---:|---:|---:|---|---|---:|',
  ];
  for (const row of rows) {
    const s = row.scenario;
    const stages = (times: Record<string, number>) => CLIENT_STAGES.map((stage) => ms(times[stage]!)).join(' · ');
    lines.push(
      `| ${s.clients} | ${s.neighbours === null ? 'complete' : 'SecAgg+'} | ${row.k} | ${row.t} | ${s.droppedAtMaskedInput} | ${row.upKiB.toFixed(1)} | ${row.downKiB.toFixed(1)} | ${row.ratio.toFixed(3)}× | ${stages(row.clientMs)} | ${stages(row.serverMs)} | ${(row.wallMs / 1000).toFixed(1)} |`,
    );
  }
  return lines.join('\n');
}

function modelTable(vectorLength: number): string {
  const lines = [
    '| clients | graph | k | client bytes beyond the masked vector (up + down) | client PRG words | client X25519 agreements | server PRG words (1 % dropped) |',
    '|---:|---|---:|---:|---:|---:|---:|',
  ];
  for (const clients of [10, 100, 1000]) {
    for (const [graph, k] of [
      ['complete', clients - 1],
      ['SecAgg+', logarithmicNeighbours(clients)],
    ] as const) {
      if (graph === 'SecAgg+' && k === clients - 1) continue;
      const params = { clients, neighbours: k, threshold: majority(k), vectorLength, droppedClients: Math.floor(clients / 100), droppedNeighbours: 0 };
      const { total } = bytesPerClient(params);
      const cost = computeCost(params);
      const beyond = total.up + total.down - 4 * (vectorLength + 1);
      lines.push(
        `| ${clients} | ${graph} | ${k} | ${kib(beyond)} KiB | ${cost.client.prgWords.toLocaleString('en')} | ${cost.client.keyAgreements} | ${cost.server.prgWords.toLocaleString('en')} |`,
      );
    }
  }
  return lines.join('\n');
}

function section(machine: MachineInfo, vectorLength: number, measured: string, model: string): string {
  const date = new Date().toISOString().slice(0, 10);
  return [
    `Measured by \`npx tsx bench/secagg-core.ts${args.quick ? ' --quick' : ''}\` on ${date}: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion};`,
    `load average ${machine.loadAverage.start} at the start and ${machine.loadAverage.end ?? '?'} at the end` +
      (machine.otherCpuShare === undefined ? '.' : `, other work took ${(machine.otherCpuShare * 100).toFixed(0)} % of the machine's CPU meanwhile.`),
    `One process plays every client in turn and the server (no I/O, no Lambda), so times are CPU time of the protocol itself;`,
    `vector: ${vectorLength.toLocaleString('en')} parameters${args.quick ? '' : " (cnn-small's)"} + 1 weight word, 16-bit quantization, t = ⌊k/2⌋ + 1, SecAgg+ k = 2⌈log₂ n⌉.`,
    `Bytes count every record a client receives (setup, requests) and sends (messages, the masked vector); the global model download is not included.`,
    '',
    measured,
    '',
    'The same formats through the cost model (`shared/secagg/cost.ts`), including the complete graph at 1,000 clients, which the simulation does not run:',
    '',
    model,
  ].join('\n');
}

async function main(): Promise<void> {
  const vectorLength = args.quick ? 10_000 : parameterCount('cnn-small');
  const machine = await describeMachine();
  const meter = startCpuMeter();
  const rows: Row[] = [];
  for (const scenario of scenarios) {
    process.stdout.write(`${scenario.clients} clients, ${scenario.neighbours === null ? 'complete graph' : `k = ${scenario.neighbours}`}, ${scenario.droppedAtMaskedInput} dropped … `);
    const row = run(scenario, vectorLength);
    rows.push(row);
    process.stdout.write(`${(row.wallMs / 1000).toFixed(1)} s, sum exact\n`);
  }
  const finished = finishMachineInfo(machine, meter.stop());
  const text = section(finished, vectorLength, measuredTable(rows, vectorLength), modelTable(vectorLength));
  console.log(`\n${text}\n`);
  if (args['no-write']) return;
  await replaceDocSection(DOC, 'secagg-core', text);
  console.log(`wrote ${DOC}`);
}

await main();
