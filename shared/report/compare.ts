/**
 * Several experiments on one chart and one table, with the accuracy gap to the first (the baseline) in percentage
 * points per round — e.g. IID vs label skew, the comparison the original study was about.
 */

import type { ExperimentMetrics } from '../metrics/types.js';
import { lineChart } from './charts.js';
import { classCount, classNames, classNoun, digestExperiment, experimentLabels } from './digest.js';
import { escapeHtml, escapeMarkdown } from './escape.js';
import { formatCount, formatDuration, formatPercent, formatPercentTick, formatPoints } from './format.js';
import { markdownTable } from './markdown.js';
import { renderPage, section, table, tile } from './page.js';
import { SHARED_DATA_MARK } from './shared-data-notice.js';

export interface ComparisonRow {
  readonly round: number;
  /** Test accuracy (0–1) of each experiment in this round; NaN where that experiment has no such round. */
  readonly accuracy: readonly number[];
  /** (accuracy − baseline accuracy) × 100 for each experiment; index 0 is the baseline itself (0). */
  readonly gapPoints: readonly number[];
}

export interface AccuracyComparison {
  /** Display names, unique, in the order given; the first is the baseline. */
  readonly labels: readonly string[];
  /** One row per round that any experiment reached, ascending. */
  readonly rows: readonly ComparisonRow[];
  /** Each experiment's last recorded round, accuracy and gap to the baseline's last round. */
  readonly final: ComparisonRow & { readonly rounds: readonly number[] };
}

function gapsTo(accuracy: readonly number[]): number[] {
  const baseline = accuracy[0] ?? Number.NaN;
  return accuracy.map((value) => (value - baseline) * 100);
}

export function compareAccuracy(list: readonly ExperimentMetrics[]): AccuracyComparison {
  if (list.length === 0) throw new RangeError('compareAccuracy needs at least one experiment');
  const byRound = list.map((metrics) => new Map(metrics.rounds.map((round) => [round.round, round.accuracy])));
  const roundNumbers = [...new Set(list.flatMap((metrics) => metrics.rounds.map((round) => round.round)))].sort((a, b) => a - b);
  const rows = roundNumbers.map((round) => {
    const accuracy = byRound.map((rounds) => rounds.get(round) ?? Number.NaN);
    return { round, accuracy, gapPoints: gapsTo(accuracy) };
  });
  const finalAccuracy = list.map((metrics) => metrics.rounds.at(-1)?.accuracy ?? Number.NaN);
  return {
    labels: experimentLabels(list),
    rows,
    final: {
      round: Math.max(0, ...list.map((metrics) => metrics.rounds.at(-1)?.round ?? 0)),
      rounds: list.map((metrics) => metrics.rounds.at(-1)?.round ?? Number.NaN),
      accuracy: finalAccuracy,
      gapPoints: gapsTo(finalAccuracy),
    },
  };
}

/** `gapHeader` names a gap column from its experiment's label and the baseline's. */
function comparisonHeaders(labels: readonly string[], gapHeader: (label: string, baseline: string) => string): string[] {
  const baseline = labels[0] ?? '';
  return ['Round', ...labels.flatMap((label, index) => (index === 0 ? [label] : [label, gapHeader(label, baseline)]))];
}

function comparisonCells(
  row: ComparisonRow,
  accuracyCell: (accuracy: number) => string,
  gapCell: (points: number) => string,
): string[] {
  return row.accuracy.flatMap((accuracy, index) =>
    index === 0 ? [accuracyCell(accuracy)] : [accuracyCell(accuracy), gapCell(row.gapPoints[index] ?? Number.NaN)],
  );
}

/** Rounds × experiments, accuracy in % and the gap to the first experiment in points, plus a Final row. */
export function renderComparisonMarkdown(list: readonly ExperimentMetrics[]): string {
  const comparison = compareAccuracy(list);
  const percent = (accuracy: number) => formatPercent(accuracy);
  const points = (gap: number) => formatPoints(gap);
  const rows = comparison.rows.map((row) => [String(row.round), ...comparisonCells(row, percent, points)]);
  rows.push(['**Final**', ...comparisonCells(comparison.final, percent, points).map((cell) => `**${cell}**`)]);
  const lines = [
    `## Test accuracy: ${comparison.labels.map(escapeMarkdown).join(' vs ')}`,
    '',
    `Gaps are in percentage points relative to ${escapeMarkdown(comparison.labels[0] ?? '')}.`,
    '',
    markdownTable(
      comparisonHeaders(comparison.labels.map(escapeMarkdown), (label, baseline) => `${label} − ${baseline}`),
      rows,
    ),
    '',
  ];
  return lines.join('\n');
}

function gapHtml(points: number): string {
  const cssClass = points > 0.05 ? 'gain' : points < -0.05 ? 'loss' : '';
  return `<span${cssClass ? ` class="${cssClass}"` : ''}>${escapeHtml(formatPoints(points))}</span>`;
}

function notices(list: readonly ExperimentMetrics[]): string {
  const messages: string[] = [];
  const backends = [...new Set(list.map((metrics) => metrics.backend.backend))];
  if (backends.length > 1) {
    messages.push(
      `These experiments ran on different backends (${backends.map(escapeHtml).join(', ')}): small gaps may come from the engine rather than the setup.`,
    );
  }
  const roundCounts = [...new Set(list.map((metrics) => metrics.rounds.length))];
  if (roundCounts.length > 1) {
    messages.push('The experiments recorded different numbers of rounds; the Final row compares each one’s last round.');
  }
  const unfinished = list.map((metrics) => digestExperiment(metrics)).filter((digest) => digest.state !== 'completed');
  if (unfinished.length > 0) {
    messages.push(`Not completed: ${unfinished.map((digest) => `${escapeHtml(digest.name)} (${escapeHtml(digest.state)})`).join(', ')}.`);
  }
  return messages.map((message) => `<p class="notice">${message}</p>`).join('');
}

export function renderComparisonHtml(list: readonly ExperimentMetrics[]): string {
  const comparison = compareAccuracy(list);
  const labels = comparison.labels;
  const baseline = labels[0] ?? '';
  const digests = list.map((metrics) => digestExperiment(metrics));

  const accuracy = lineChart({
    id: 'accuracy',
    title: 'Test accuracy per round',
    subtitle: 'Global model on the held-out test set',
    xLabel: 'Round',
    yLabel: 'Accuracy',
    series: list.map((metrics, index) => ({
      name: labels[index] ?? metrics.experimentId,
      points: metrics.rounds.map((round) => ({ x: round.round, y: round.accuracy })),
    })),
    formatY: (value) => formatPercent(value),
    formatTick: formatPercentTick,
    yBounds: { min: 0, max: 1 },
    emptyMessage: 'None of these experiments has closed a round yet.',
  });
  const gap =
    list.length > 1
      ? lineChart({
          id: 'gap',
          title: `Gap to ${baseline}`,
          subtitle: 'Accuracy difference in percentage points, per round (above 0: better than the baseline)',
          xLabel: 'Round',
          yLabel: 'Percentage points',
          series: labels.slice(1).map((label, offset) => ({
            name: label,
            colourIndex: offset + 1,
            points: comparison.rows.map((row) => ({ x: row.round, y: row.gapPoints[offset + 1] ?? Number.NaN })),
          })),
          alwaysShowLegend: true,
          formatY: (value) => formatPoints(value),
          formatTick: (value) => formatPoints(value, Number.isInteger(value) ? 0 : 1),
          referenceY: 0,
          includeZero: true,
          emptyMessage: 'No round is shared with the baseline yet.',
        })
      : '';

  const tileRow = `<div class="tiles">${digests
    .map((digest, index) =>
      tile(
        labels[index] ?? digest.name,
        formatPercent(comparison.final.accuracy[index] ?? Number.NaN),
        index === 0 ? 'baseline, final accuracy' : `${formatPoints(comparison.final.gapPoints[index] ?? Number.NaN)} vs ${baseline}`,
      ),
    )
    .join('')}</div>`;

  const percentHtml = (value: number) => escapeHtml(formatPercent(value));
  const roundRows = comparison.rows.map((row) => [String(row.round), ...comparisonCells(row, percentHtml, gapHtml)]);
  roundRows.push(['Final', ...comparisonCells(comparison.final, percentHtml, gapHtml)]);
  // Each gap column sits right of its experiment's column, so a short header stays unambiguous and the table narrow.
  const roundsTable = table(comparisonHeaders(labels, () => 'Gap'), roundRows, { finalRow: true });

  const overview = table(
    ['Experiment', 'Partition', 'Model', 'Clients', 'Rounds', 'Backend', 'Final', 'Best', 'Wall time'],
    digests.map((digest, index) => [
      `${escapeHtml(labels[index] ?? digest.name)}<br><small class="id">${escapeHtml(digest.experimentId)}</small>`,
      ...[
        list[index]?.partition.sharedData ? `${digest.partition} + ${SHARED_DATA_MARK}` : digest.partition,
        digest.model ?? '—',
        formatCount(digest.clients),
        String(list[index]?.rounds.length ?? 0),
        digest.backend,
        formatPercent(digest.lastRound?.accuracy ?? Number.NaN),
        digest.bestRound ? `${formatPercent(digest.bestRound.accuracy)} (r${digest.bestRound.round})` : '—',
        formatDuration(digest.wallMs ?? Number.NaN),
      ].map(escapeHtml),
    ]),
    { leftColumns: [2], wrapColumns: [0, 1, 5] },
  );

  const classes = Math.max(0, ...list.map(classCount));
  const names = list[0] ? classNames(list[0]) : [];
  const noun = classNoun(names);
  const perClass =
    classes > 0
      ? table(
          [noun === 'digit' ? 'Digit' : 'Class', ...labels],
          Array.from({ length: classes }, (_, digit) => [
            escapeHtml(names[digit] ?? String(digit)),
            ...list.map((metrics) => escapeHtml(formatPercent(metrics.rounds.at(-1)?.perClassAccuracy[digit] ?? Number.NaN))),
          ]),
        )
      : '';

  const body = [
    notices(list),
    tileRow,
    section(
      'Accuracy',
      `Each line is one experiment; the gap chart subtracts ${escapeHtml(baseline)} round by round.`,
      `<div class="grid-2">${accuracy}${gap}</div>`,
      'accuracy-section',
    ),
    section('Round by round', `Test accuracy, and the gap to ${escapeHtml(baseline)} in percentage points.`, roundsTable, 'rounds'),
    section('Experiments', 'What differs between the runs.', overview, 'experiments'),
    perClass ? section(`Final accuracy by ${noun}`, `Where the accuracy is lost: label skew hurts some ${noun === 'digit' ? 'digits' : 'classes'} far more than others.`, perClass, 'per-class') : '',
  ].join('\n');

  const title = labels.join(' vs ');
  return renderPage({
    title: `${title} — flambda comparison`,
    header:
      `<p class="eyebrow">flambda comparison</p><h1>${escapeHtml(title)}</h1>` +
      `<ul class="facts"><li>Experiments <b>${list.length}</b></li><li>Baseline <b>${escapeHtml(baseline)}</b></li>` +
      `<li>Rounds <b>${comparison.rows.length}</b></li></ul>`,
    body,
    footer: 'Generated by <b>flambda compare</b>. One self-contained file: no scripts, no network. Hover a point to see its value.',
  });
}
