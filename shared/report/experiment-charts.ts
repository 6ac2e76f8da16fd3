/** The one-experiment report's figures, each drawn from ExperimentMetrics alone; html.ts places them on the page. */

import type { ExperimentMetrics, RoundMetrics } from '../metrics/types.js';
import { heatmap, lineChart, stackedBars } from './charts.js';
import { classNames, classNoun, clientIds } from './digest.js';
import { formatCount, formatDuration, formatLoss, formatPercent, formatPercentTick } from './format.js';
import { classColour, TIMING_COLOURS } from './palette.js';

/** Axis ticks in seconds read better than a mix of "ms" and "s" on one axis. */
export function formatSecondsTick(seconds: number): string {
  return `${Number(seconds.toPrecision(3))} s`;
}

export function accuracyChart(metrics: ExperimentMetrics): string {
  return lineChart({
    id: 'accuracy',
    title: 'Test accuracy',
    subtitle: 'Global model on the held-out test set, after each round',
    xLabel: 'Round',
    yLabel: 'Accuracy',
    series: [
      { name: 'Test accuracy', points: metrics.rounds.map((round) => ({ x: round.round, y: round.accuracy })) },
      // FedPer runs: the clients' own models on their held-out samples, beside the global model's test accuracy.
      ...(metrics.rounds.some((round) => round.personalizedAccuracy !== undefined)
        ? [{
            name: 'Personalized (clients’ held-out data)',
            points: metrics.rounds.flatMap((round) => (round.personalizedAccuracy === undefined ? [] : [{ x: round.round, y: round.personalizedAccuracy }])),
          }]
        : []),
    ],
    formatY: (value) => formatPercent(value),
    formatTick: formatPercentTick,
    yBounds: { min: 0, max: 1 },
    emptyMessage: 'No round has closed yet.',
  });
}

export function lossChart(metrics: ExperimentMetrics): string {
  return lineChart({
    id: 'loss',
    title: 'Test loss',
    subtitle: 'Cross-entropy of the global model on the test set',
    xLabel: 'Round',
    yLabel: 'Loss',
    series: [{ name: 'Test loss', points: metrics.rounds.map((round) => ({ x: round.round, y: round.loss })) }],
    formatY: (value) => String(Number(value.toPrecision(3))),
    includeZero: true,
    emptyMessage: 'No round has closed yet.',
  });
}

export function perClassHeatmap(metrics: ExperimentMetrics, classes: number): string {
  const rounds = metrics.rounds;
  const names = classNames(metrics);
  const noun = classNoun(names);
  return heatmap({
    id: 'per-class-accuracy',
    title: 'Per-class test accuracy',
    subtitle: `Each cell: share of test images of that ${noun} the global model classified correctly`,
    rowLabels: Array.from({ length: classes }, (_, label) => names[label] ?? String(label)),
    columnLabels: rounds.map((round) => String(round.round)),
    rowAxisLabel: noun === 'digit' ? 'Digit' : 'Class',
    columnAxisLabel: 'Round',
    values: Array.from({ length: classes }, (_, digit) => rounds.map((round) => round.perClassAccuracy[digit])),
    domain: [0, 1],
    formatValue: (value) => formatPercent(value, 0),
    describeCell: (label, column, value) =>
      `${noun === 'digit' ? `Digit ${label}` : names[label] ?? `Class ${label}`} · round ${rounds[column]?.round ?? column + 1}: ${value === undefined ? 'not measured' : formatPercent(value)}`,
    legendLabel: 'accuracy',
    emptyMessage: 'No round has closed yet.',
  });
}

export function labelDistributionChart(metrics: ExperimentMetrics, classes: number): string {
  const names = classNames(metrics);
  const noun = classNoun(names);
  return stackedBars({
    id: 'label-distribution',
    title: `Training samples per client, by ${noun}`,
    subtitle: `${metrics.partition.kind} partition, seed ${metrics.partition.seed}`,
    orientation: 'horizontal',
    bars: metrics.partition.clients.map((client) => ({ label: client.clientId, values: client.labelHistogram })),
    segments: Array.from({ length: classes }, (_, label) => ({ name: noun === 'digit' ? `digit ${label}` : names[label] ?? `class ${label}`, colour: classColour(label) })),
    categoryAxisLabel: 'Client',
    valueAxisLabel: 'Training samples',
    formatValue: formatCount,
    formatSegmentText: formatCount,
    emptyMessage: 'No partition statistics were recorded.',
  });
}

export function timingChart(metrics: ExperimentMetrics): string {
  return stackedBars({
    id: 'timing',
    title: 'Where each round’s time went',
    subtitle: 'Slowest client’s training, waiting (queues, cold starts, stragglers), aggregation + evaluation',
    orientation: 'vertical',
    bars: metrics.rounds.map((round) => ({
      label: String(round.round),
      title: `Round ${round.round}`,
      values: [round.timing.trainMs / 1000, round.timing.waitMs / 1000, round.timing.aggregateMs / 1000],
    })),
    segments: [
      { name: 'train', colour: TIMING_COLOURS.train },
      { name: 'wait', colour: TIMING_COLOURS.wait },
      { name: 'aggregate', colour: TIMING_COLOURS.aggregate },
    ],
    categoryAxisLabel: 'Round',
    valueAxisLabel: 'Seconds',
    formatValue: formatSecondsTick,
    emptyMessage: 'No round has closed yet.',
  });
}

export function clientLossHeatmap(metrics: ExperimentMetrics): string {
  const ids = clientIds(metrics);
  const rounds = metrics.rounds;
  const lookup = rounds.map((round) => new Map(round.clients.map((client) => [client.clientId, client])));
  const values = ids.map((id) => lookup.map((clients) => clients.get(id)?.trainLoss));
  // A loop rather than Math.max(...): 1,000 clients × 1,000 rounds is more arguments than a call may take.
  let highest = 0;
  for (const row of values) for (const value of row) if (value !== undefined && value > highest) highest = value;
  return heatmap({
    id: 'client-train-loss',
    title: 'Client training loss',
    subtitle: 'Mean loss of each client’s last local epoch; hatched = no update that round',
    rowLabels: ids,
    columnLabels: rounds.map((round) => String(round.round)),
    rowAxisLabel: 'Client',
    columnAxisLabel: 'Round',
    values,
    domain: [0, highest > 0 && Number.isFinite(highest) ? highest : 1],
    reverse: true,
    maxCellWidth: 44,
    formatValue: (value) => value.toFixed(2),
    describeCell: (row, column) => {
      const client = lookup[column]?.get(ids[row] ?? '');
      const where = `${ids[row] ?? ''} · round ${rounds[column]?.round ?? column + 1}`;
      if (client === undefined) return `${where}: no update`;
      return `${where}: train loss ${formatLoss(client.trainLoss)}, ${formatCount(client.samples)} samples, ${formatDuration(client.trainMs)} on ${client.backend}`;
    },
    legendLabel: 'train loss',
    emptyMessage: 'No round has closed yet.',
  });
}

export function confusionHeatmap(round: RoundMetrics | undefined, classes: number, names: readonly string[]): string {
  const noun = classNoun(names);
  const frame = {
    id: 'confusion',
    title: round ? `Confusion matrix after round ${round.round}` : 'Confusion matrix',
    subtitle: `Row-normalised: where the test images of each ${noun} ended up`,
  };
  if (round === undefined || round.confusion.length === 0) {
    return heatmap({ ...frame, rowLabels: [], columnLabels: [], rowAxisLabel: '', columnAxisLabel: '', values: [], domain: [0, 1], formatValue: String, legendLabel: '', emptyMessage: 'No round has closed yet.' });
  }
  const size = Math.max(classes, round.confusion.length);
  const rowTotals = round.confusion.map((row) => row.reduce((sum, value) => sum + value, 0));
  const labels = Array.from({ length: size }, (_, label) => names[label] ?? String(label));
  return heatmap({
    ...frame,
    rowLabels: labels,
    columnLabels: labels,
    rowAxisLabel: `True ${noun}`,
    columnAxisLabel: `Predicted ${noun}`,
    values: labels.map((_, actual) =>
      labels.map((__, predicted) => {
        const total = rowTotals[actual] ?? 0;
        return total > 0 ? (round.confusion[actual]?.[predicted] ?? 0) / total : undefined;
      }),
    ),
    domain: [0, 1],
    maxCellWidth: 40,
    // Zeros are most of the matrix: leaving them blank lets the real confusions stand out.
    formatValue: (value) => (value === 0 ? '' : value < 0.005 ? '<1%' : formatPercent(value, 0)),
    formatScale: (value) => formatPercent(value, 0),
    describeCell: (actual, predicted, share) => {
      const countOf = round.confusion[actual]?.[predicted] ?? 0;
      const total = rowTotals[actual] ?? 0;
      if (share === undefined) return `True ${labels[actual]}: no test images`;
      return `True ${labels[actual]} → predicted ${labels[predicted]}: ${formatCount(countOf)} of ${formatCount(total)} (${formatPercent(share)})`;
    },
    legendLabel: 'share of row',
  });
}
