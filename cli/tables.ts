import type { ExperimentMetrics } from '../shared/metrics/types.js';
import { classNames, classNoun } from '../shared/report/digest.js';
import { sharedDataSentence } from '../shared/report/shared-data-notice.js';

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
  const privacy = metrics.rounds.some((round) => round.privacy !== undefined);
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
    ...(privacy ? privacyCells(round.privacy) : []),
  ]);
  const header = ['round', 'accuracy', 'loss', 'clients', 'train', 'wait', 'aggregate', 'MB down', 'MB up', ...(privacy ? PRIVACY_HEADER : [])];
  const table = formatTable(header, rows);
  const shared = sharedDataSentence(metrics);
  const notes = [formatPrivacyLine(metrics), formatPerClass(metrics), shared && `shared data: ${shared}`].filter((line) => line !== undefined);
  return notes.length ? `${table}\n\n${notes.join('\n')}` : table;
}

/** DP runs: ε spent so far (at δ), the round's clip norm C and the share of updates it clipped. */
const PRIVACY_HEADER = ['ε', 'clip C', 'clipped'];

function privacyCells(privacy: ExperimentMetrics['rounds'][number]['privacy']): string[] {
  if (!privacy) return ['', '', ''];
  const clipped = privacy.clippedFraction === null ? '—' : pct(privacy.clippedFraction);
  return [privacy.epsilon.toFixed(3), privacy.clipNorm.toPrecision(3), clipped];
}

/** The line under the table of a DP run: what ε means there. */
export function formatPrivacyLine(metrics: ExperimentMetrics): string | undefined {
  const last = metrics.rounds.at(-1)?.privacy;
  if (!last) return undefined;
  const budget = metrics.summary?.privacy?.targetEpsilon;
  return `differential privacy: ε = ${last.epsilon.toFixed(3)} at δ = ${last.delta} after round ${metrics.rounds.at(-1)!.round}${budget !== undefined ? ` (budget ${budget})` : ''}, σ = ${last.noiseMultiplier.toPrecision(4)}`;
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
