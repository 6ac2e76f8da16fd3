import type { ExperimentMetrics } from '../shared/metrics/types.js';
import { classNames, classNoun } from '../shared/report/digest.js';

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
  const table = formatTable(['round', 'accuracy', 'loss', 'clients', 'train', 'wait', 'aggregate', 'MB down', 'MB up'], rows);
  const perClass = formatPerClass(metrics);
  return perClass ? `${table}\n\n${perClass}` : table;
}

/** The last round's accuracy per class, by name: every class when there are few, else the weakest. */
export function formatPerClass(metrics: ExperimentMetrics, shown = 12): string | undefined {
  const last = metrics.rounds.at(-1);
  if (!last || last.perClassAccuracy.length === 0) return undefined;
  const names = classNames(metrics);
  const entries = last.perClassAccuracy.map((accuracy, label) => ({ name: names[label] ?? String(label), accuracy }));
  const noun = classNoun(names);
  if (entries.length <= shown) {
    return `accuracy by ${noun} (round ${last.round}): ${entries.map(({ name, accuracy }) => `${name} ${pct(accuracy)}`).join(', ')}`;
  }
  const weakest = [...entries].sort((a, b) => a.accuracy - b.accuracy).slice(0, shown);
  return `weakest of ${entries.length} classes (round ${last.round}): ${weakest.map(({ name, accuracy }) => `${name} ${pct(accuracy)}`).join(', ')}`;
}
