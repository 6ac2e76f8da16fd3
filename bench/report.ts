import type { EndToEndRun, EndToEndSuite, ProfileSuite, ThroughputRow, ThroughputSuite, VariantId } from './results.js';

export const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function rate(value: number): string {
  return Number.isFinite(value) ? integer.format(value) : '–';
}

export function ratio(value: number, reference: number | undefined): string {
  if (reference === undefined || !Number.isFinite(value) || !(reference > 0)) return '–';
  const times = value / reference;
  return `${times >= 10 ? times.toFixed(0) : times >= 1 ? times.toFixed(1) : times.toFixed(2)}×`;
}

/**
 * The fastest of a row's interleaved runs: other work on a shared machine only ever slows a run down, so the best run
 * is the closest to the engine's own speed. Every engine gets the same number of chances, interleaved.
 */
export function best(row: ThroughputRow): number {
  return row.runs.length > 0 ? Math.max(...row.runs) : Number.NaN;
}

export function referenceBest(suite: ThroughputSuite, model: string, variant: VariantId): number | undefined {
  const row = suite.rows.find((candidate) => candidate.model === model && candidate.variant === variant);
  return row ? best(row) : undefined;
}

interface Column {
  readonly title: string;
  readonly align: 'left' | 'right';
  cell(row: ThroughputRow): string;
}

function throughputColumns(suite: ThroughputSuite): Column[] {
  return [
    { title: 'model', align: 'left', cell: (row) => row.model },
    { title: 'engine', align: 'left', cell: (row) => row.label },
    { title: 'threads', align: 'right', cell: (row) => row.threads },
    { title: 'samples/s (best)', align: 'right', cell: (row) => rate(best(row)) },
    { title: 'median', align: 'right', cell: (row) => rate(row.median) },
    { title: 'runs', align: 'left', cell: (row) => row.runs.map(rate).join(' / ') },
    { title: 'vs PyTorch 2 threads', align: 'right', cell: (row) => ratio(best(row), referenceBest(suite, row.model, 'torch-2')) },
    { title: 'vs PyTorch 1 thread', align: 'right', cell: (row) => ratio(best(row), referenceBest(suite, row.model, 'torch-1')) },
  ];
}

/** The throughput table as aligned plain text, for the terminal. */
export function formatThroughputTable(suite: ThroughputSuite): string {
  const columns = throughputColumns(suite);
  const cells = [columns.map((column) => column.title), ...suite.rows.map((row) => columns.map((column) => column.cell(row)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  return cells
    .map((line, lineIndex) => {
      const text = line
        .map((cell, i) => (columns[i]!.align === 'right' && lineIndex > 0 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd();
      return lineIndex === 0 ? `${text}\n${widths.map((width) => '─'.repeat(width)).join('  ')}` : text;
    })
    .join('\n');
}

function markdownTable(header: readonly string[], align: readonly ('left' | 'right')[], rows: readonly (readonly string[])[]): string {
  const escape = (cell: string) => cell.replaceAll('|', '\\|');
  return [
    `| ${header.map(escape).join(' | ')} |`,
    `| ${align.map((a) => (a === 'right' ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
}

export function throughputMarkdown(suite: ThroughputSuite): string {
  const columns = throughputColumns(suite);
  return markdownTable(
    columns.map((column) => column.title),
    columns.map((column) => column.align),
    suite.rows.map((row) => columns.map((column) => column.cell(row))),
  );
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export function percent(value: number): string {
  return `${(value * 100).toFixed(2)} %`;
}

function endToEndCells(run: EndToEndRun, reference: EndToEndRun | undefined): string[] {
  if (run.status !== 'ok') return ['–', run.status === 'unavailable' ? run.reason : `failed: ${run.reason}`, '', '', '', ''];
  const slower = reference?.status === 'ok' ? `${(run.roundsMs / reference.roundsMs).toFixed(1)}×` : '–';
  return [run.engine, seconds(run.roundsMs), seconds(run.processMs), slower, percent(run.finalAccuracy), run.accuracyPerRound.map(percent).join(', ')];
}

/** The end-to-end results as plain text: one line per partition and system. */
export function formatEndToEndTable(suite: EndToEndSuite): string {
  const width = Math.max(...suite.rows.map((row) => row.label.length));
  return suite.rows.map((row) => `${row.partition.padEnd(11)} ${row.label.padEnd(width)}  ${describeForTerminal(row.run)}`).join('\n');
}

function describeForTerminal(run: EndToEndRun): string {
  if (run.status !== 'ok') return `${run.status}: ${run.reason}`;
  return `rounds ${seconds(run.roundsMs)}, process ${seconds(run.processMs)}, final accuracy ${percent(run.finalAccuracy)}  [${run.engine}]`;
}

type EndToEndRow = EndToEndSuite['rows'][number];

/** The run "vs PyTorch" divides by: the partition's first PyTorch run (the first --torch-threads entry). */
export function pytorchReference(suite: EndToEndSuite, partition: string): EndToEndRun | undefined {
  return suite.rows.find((row) => row.partition === partition && row.system === 'pytorch')?.run;
}

export function endToEndMarkdown(suite: EndToEndSuite): string {
  const reference = (row: EndToEndRow) => pytorchReference(suite, row.partition);
  const referenceLabel = suite.rows.find((row) => row.system === 'pytorch')?.label ?? 'PyTorch';
  const table = markdownTable(
    ['partition', 'system', 'engine', `rounds 1–${suite.settings.rounds} wall`, 'process wall', `time vs ${referenceLabel}`, 'final accuracy', 'accuracy per round'],
    ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'left'],
    suite.rows.map((row) => [row.partition, row.label, ...endToEndCells(row.run, reference(row))]),
  );
  const partitions = [...new Set(suite.rows.map((row) => row.partition))];
  const histograms = partitions
    .map((partition) => {
      const run = suite.rows.find((row) => row.partition === partition && row.run.status === 'ok')?.run;
      if (run?.status !== 'ok') return `- ${partition}: no run completed`;
      const clients = run.labelHistograms.map((histogram, client) => {
        const digits = histogram.flatMap((count, digit) => (count > 0 ? [`${digit}:${count}`] : []));
        return `client ${client} (${histogram.filter((count) => count > 0).length} digits) ${digits.join(' ')}`;
      });
      return `- ${partition}:\n${clients.map((line) => `  - ${line}`).join('\n')}`;
    })
    .join('\n');
  return `${table}\n\nPer-client label histograms (digit:samples), the same for every system since PyTorch trains on flambda's shards:\n\n${histograms}`;
}

/** Above this share of the CPU going elsewhere, a run's numbers are flagged as unreliable. */
const BUSY_SHARE = 0.1;

export function machineLines(suite: ThroughputSuite | EndToEndSuite | ProfileSuite): string[] {
  // a profile has no PyTorch rows
  const worst = 'clock' in suite.settings ? '' : ", PyTorch's 2-thread rows most of all";
  const { machine } = suite;
  const other = machine.otherCpuShare;
  const busy = other !== undefined ? other > BUSY_SHARE : machine.loadAverage.start > machine.cores / 2;
  const warning = busy
    ? [
        `- **Warning: the machine was busy** (${other !== undefined ? `other work took ${percentOf(other)} of its CPU time` : `load average ${machine.loadAverage.start} at start`}): the numbers are low and noisy${worst}.`,
      ]
    : [];
  return [
    ...warning,
    `- CPU: ${machine.cpuModel}${machine.cpuFlags ? ` (${machine.cpuFlags.join(', ') || 'no AVX2'})` : ''}, ${machine.cores} cores; memory ${machine.memoryGiB} GiB; ${machine.os}`,
    `- Node ${machine.nodeVersion}`,
    `- Other work on the machine while this ran: ${other === undefined ? 'unknown (no /proc)' : `${percentOf(other)} of its CPU time`} (1-minute load average ${machine.loadAverage.start} at start)`,
    `- Date: ${suite.date} (took ${Math.round(suite.durationSeconds)} s)`,
  ];
}

function percentOf(share: number): string {
  return `${(share * 100).toFixed(1)} %`;
}


/** The profile as one Markdown table per model: each phase's ms per step (and share) for each kind of kernels. */
export function formatProfileTables(suite: ProfileSuite): string {
  const unit = suite.settings.clock === 'cpu' ? 'ms of CPU' : 'ms';
  return suite.models
    .map(({ model, variants }) => {
      const phases = [...new Set(variants.flatMap((variant) => variant.phases.map((entry) => entry.phase)))];
      const cell = (variant: (typeof variants)[number], ms: number | undefined) =>
        ms === undefined ? '—' : `${ms.toFixed(2)} (${((100 * ms) / variant.msPerStep).toFixed(0)} %)`;
      const rows = phases.map((phase) => [phase, ...variants.map((variant) => cell(variant, variant.phases.find((entry) => entry.phase === phase)?.ms))]);
      const rest = variants.map((variant) => cell(variant, variant.msPerStep - variant.phases.reduce((total, entry) => total + entry.ms, 0)));
      const table = markdownTable(
        ['phase', ...variants.map((variant) => KERNEL_NAMES[variant.kernels] ?? variant.kernels)],
        ['left', ...variants.map(() => 'right' as const)],
        [
          ...rows,
          ['everything else (allocation, copies)', ...rest],
          ['**whole step**', ...variants.map((variant) => `**${variant.msPerStep.toFixed(2)}**`)],
          [
            suite.settings.clock === 'cpu' ? 'samples per CPU-second' : 'samples/s',
            ...variants.map((variant) => rate((1000 * suite.settings.batchSize) / variant.msPerStep)),
          ],
        ],
      );
      return `${model}, batch ${suite.settings.batchSize}, ${unit} per step (best of ${suite.settings.rounds} interleaved rounds of ${suite.settings.steps} steps):\n\n${table}`;
    })
    .join('\n\n');
}

const KERNEL_NAMES: Record<string, string> = {
  xnnpack: 'XNNPACK (tfjs)',
  'mul-add': 'ours, multiply + add',
  fma: 'ours, relaxed-SIMD FMA',
};

