import type { ExperimentMetrics } from '../shared/metrics/types.js';

const pct = (value: number) => `${(value * 100).toFixed(2)} %`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)}`;

export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

/** The per-round table printed at the end of `flambda run` and by `flambda status`. */
export function formatRoundTable(metrics: ExperimentMetrics): string {
  const rows = metrics.rounds.map((round) => [
    String(round.round),
    pct(round.accuracy),
    round.loss.toFixed(4),
    `${round.clients.length}${round.missingClients.length || round.rejectedClients.length ? `/${round.clients.length + round.missingClients.length + round.rejectedClients.length}` : ''}`,
    seconds(round.timing.trainMs),
    seconds(round.timing.waitMs),
    seconds(round.timing.aggregateMs),
    megabytes(round.bytes.down),
    megabytes(round.bytes.up),
  ]);
  return formatTable(['round', 'accuracy', 'loss', 'clients', 'train', 'wait', 'aggregate', 'MB down', 'MB up'], rows);
}
