import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { startLocalCloud } from '../local/cloud.js';
import { defaultHandlers } from '../local/default-handlers.js';
import type { ExperimentConfigInput } from '../shared/config/schema.js';
import type { ExperimentMetrics, RoundMetrics } from '../shared/metrics/types.js';
import { readStatus } from '../shared/pipeline/experiment.js';
import { keys } from '../shared/protocol/keys.js';
import { ORIGINAL_EXPERIMENT } from './e2e.js';
import { replaceDocSection } from './doc-section.js';
import { describeMachine, finishMachineInfo, startCpuMeter, type MachineInfo } from './machine.js';

/**
 * `npm run bench:secagg`: the original study (examples/mnist-iid.json: 5 clients × 5 rounds, cnn-small, IID) on the
 * embedded local cloud, without and with secure aggregation (examples/mnist-iid-secagg.json's section), one after the
 * other in one process. Prints and writes to docs/secure-aggregation.md: final accuracy, bytes per client per round,
 * and round time split per stage. The protocol's own cost at 10–1,000 clients is bench/secagg-core.ts's.
 * `--quick`: 2 rounds on 600 samples per client, to check the script (not for the doc).
 */

const DOC = 'docs/secure-aggregation.md';
const args = parseArgs({ options: { quick: { type: 'boolean', default: false }, 'no-doc': { type: 'boolean', default: false } } }).values;

const base: ExperimentConfigInput = {
  ...ORIGINAL_EXPERIMENT,
  partition: { kind: 'iid' },
  ...(args.quick ? { rounds: 2, samplesPerClient: 600, testSamples: 2000 } : {}),
};
const secure: ExperimentConfigInput = {
  ...base,
  round: { minClients: 3 },
  secureAggregation: JSON.parse(await readFile('examples/mnist-iid-secagg.json', 'utf8')).secureAggregation,
};

interface Run {
  readonly label: string;
  readonly metrics: ExperimentMetrics;
  readonly wallMs: number;
}

const mean = (values: readonly number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0);
const kib = (bytes: number) => (bytes / 1024).toFixed(1);

/** Bytes one client sent and received in a round: its update (or its stage answers) and the model plus requests. */
function perClient(round: RoundMetrics): { up: number; down: number } {
  const clients = Math.max(1, round.clients.length);
  const down = round.bytes.down / Math.max(1, round.clients.length + round.missingClients.length + round.rejectedClients.length);
  if (!round.secureAggregation) return { up: round.bytes.up / clients, down };
  const stages = round.secureAggregation.stages;
  return {
    up: stages.reduce((total, stage) => total + mean(Object.values(stage.upBytes)), 0),
    down: down + stages.reduce((total, stage) => total + mean(Object.values(stage.downBytes)), 0),
  };
}

async function main(): Promise<void> {
  const machine = await describeMachine();
  const meter = startCpuMeter();
  const cloud = await startLocalCloud({ handlers: defaultHandlers(), log: () => {} });
  const runs: Run[] = [];
  try {
    for (const [label, config] of [['without', base], ['with secure aggregation', secure]] as const) {
      const experimentId = `bench-secagg-${runs.length}`;
      const started = Date.now();
      await cloud.context.store.put(keys.config(experimentId), JSON.stringify({ name: experimentId, ...config }), 'application/json');
      for (;;) {
        const status = await readStatus(cloud.context.store, experimentId);
        if (status && status.state !== 'running') {
          if (status.state !== 'completed') throw new Error(`${label}: ${status.state}: ${status.errors?.join('; ')}`);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const metrics = JSON.parse((await cloud.context.store.getText(keys.metrics(experimentId)))!) as ExperimentMetrics;
      runs.push({ label, metrics, wallMs: Date.now() - started });
      console.log(`${label}: final accuracy ${metrics.summary?.finalAccuracy} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  } finally {
    await cloud.stop();
  }
  const finished = finishMachineInfo(machine, meter.stop());
  const text = section(finished, runs);
  console.log(text);
  if (!args.quick && !args['no-doc']) {
    await replaceDocSection(DOC, 'secagg', text);
    console.log(`wrote ${DOC}`);
  }
}

function section(machine: MachineInfo, runs: readonly Run[]): string {
  const date = new Date().toISOString().slice(0, 10);
  const rows = runs.map(({ label, metrics, wallMs }) => {
    const rounds = metrics.rounds;
    const bytes = rounds.map(perClient);
    const stageMs = (stage: string) => mean(rounds.map((round) => round.secureAggregation?.stages.find((s) => s.stage === stage)?.ms ?? 0));
    const split = rounds[0]?.secureAggregation
      ? ['advertise-keys', 'share-keys', 'masked-input', 'unmask'].map((stage) => (stageMs(stage) / 1000).toFixed(1)).join(' · ')
      : '—';
    return (
      `| ${label} | ${((metrics.summary?.finalAccuracy ?? NaN) * 100).toFixed(2)} % | ${kib(mean(bytes.map((b) => b.up)))} | ${kib(mean(bytes.map((b) => b.down)))} | ` +
      `${(mean(rounds.map((round) => round.timing.roundMs)) / 1000).toFixed(1)} | ${split} | ${(mean(rounds.map((round) => round.timing.aggregateMs)) / 1000).toFixed(1)} | ${(wallMs / 1000).toFixed(0)} |`
    );
  });
  return [
    `Measured by \`npm run bench:secagg${args.quick ? ' -- --quick' : ''}\` on ${date}: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion};`,
    `load average ${machine.loadAverage.start} at the start and ${machine.loadAverage.end ?? '?'} at the end` +
      (machine.otherCpuShare === undefined ? '.' : `, other work took ${(machine.otherCpuShare * 100).toFixed(0)} % of the machine's CPU meanwhile.`),
    'The original study (5 clients × 5 rounds, cnn-small, IID, E = 1, B = 32, FedAvg) on the embedded local cloud, trainers in worker threads;',
    'with secure aggregation: `examples/mnist-iid-secagg.json` (complete graph, t = 3, c = 1, 16 bits). One run each, one after the other, same seed.',
    'Bytes per client per round: up = its update (or every stage answer, the masked vector included); down = the global model (plus the setup and requests).',
    '',
    '| run | final accuracy | up KiB/client/round | down KiB/client/round | round s (mean) | stage s: advertise · share · masked input (trains) · unmask | close s | wall s |',
    '|---|---:|---:|---:|---:|---|---:|---:|',
    ...rows,
  ].join('\n');
}

await main();
