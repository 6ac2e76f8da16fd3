/**
 * The one-experiment HTML report: what a person opens after a run to see whether it learned, which classes lag,
 * how the data was split and where the time went.
 */

import type { ClientRoundMetrics, ExperimentMetrics, RoundMetrics } from '../metrics/types.js';
import { heatmap, lineChart, stackedBars } from './charts.js';
import { ATTACKER_MARK, attackerIds, classCount, classNames, classNoun, digestExperiment, type ExperimentDigest, type ReportContext } from './digest.js';
import { escapeHtml } from './escape.js';
import {
  formatBytes,
  formatCount,
  formatDuration,
  formatLoss,
  formatPercent,
  formatPercentTick,
  formatTimestamp,
  pluralise,
} from './format.js';
import { classColour, TIMING_COLOURS } from './palette.js';
import { renderPage, section, table, tile } from './page.js';
import { privacySection } from './privacy-section.js';
import { SHARED_DATA_MARK, sharedDataNoticeHtml } from './shared-data-notice.js';

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

function lossChart(metrics: ExperimentMetrics): string {
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

function perClassHeatmap(metrics: ExperimentMetrics, classes: number): string {
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

function timingChart(metrics: ExperimentMetrics): string {
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

/** Every client that appears anywhere, in partition order first, so a late or unknown client is not dropped. */
function clientIds(metrics: ExperimentMetrics): string[] {
  const ids = metrics.partition.clients.map((client) => client.clientId);
  const seen = new Set(ids);
  for (const round of metrics.rounds) {
    for (const client of round.clients) {
      if (!seen.has(client.clientId)) {
        seen.add(client.clientId);
        ids.push(client.clientId);
      }
    }
  }
  return ids;
}

function clientLossHeatmap(metrics: ExperimentMetrics): string {
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

function confusionHeatmap(round: RoundMetrics | undefined, classes: number, names: readonly string[]): string {
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

function header(digest: ExperimentDigest, metrics: ExperimentMetrics): string {
  const roundsDone = metrics.rounds.length;
  const planned = digest.plannedRounds;
  const facts: [string, string][] = [
    ['Experiment', digest.experimentId],
    ['Partition', metrics.partition.sharedData ? `${digest.partition} + ${SHARED_DATA_MARK}` : digest.partition],
    ...(digest.model ? ([['Model', digest.model]] as [string, string][]) : []),
    ...(digest.strategy ? ([['Strategy', digest.strategy]] as [string, string][]) : []),
    ['Clients', formatCount(digest.clients)],
    ['Rounds', planned !== undefined && planned !== roundsDone ? `${roundsDone} of ${planned}` : String(roundsDone)],
    ['Backend', digest.backend],
    ...(digest.startedAt ? ([['Started', formatTimestamp(digest.startedAt)]] as [string, string][]) : []),
  ];
  return (
    `<p class="eyebrow">flambda experiment report</p>` +
    `<h1>${escapeHtml(digest.name)} <span class="badge ${digest.state}">${escapeHtml(digest.state)}</span></h1>` +
    `<ul class="facts">${facts.map(([label, value]) => `<li>${escapeHtml(label)} <b>${escapeHtml(value)}</b></li>`).join('')}</ul>`
  );
}

function tiles(digest: ExperimentDigest, metrics: ExperimentMetrics): string {
  const last = digest.lastRound;
  const best = digest.bestRound;
  const roundTimeMs = metrics.rounds.reduce((sum, round) => sum + round.timing.roundMs + round.timing.aggregateMs, 0);
  const items = [
    tile('Final accuracy', last ? formatPercent(last.accuracy) : '—', last ? `after round ${last.round}` : 'no round closed yet'),
    tile('Best accuracy', best ? formatPercent(best.accuracy) : '—', best ? `round ${best.round}` : ''),
    tile('Final test loss', last ? formatLoss(last.loss) : '—', ''),
    digest.wallMs !== undefined
      ? tile('Wall time', formatDuration(digest.wallMs), 'start to summary')
      : tile('Time in rounds', formatDuration(roundTimeMs), 'sum of round times'),
    tile('Data moved', formatBytes(digest.bytesDown + digest.bytesUp), `${formatBytes(digest.bytesDown)} down · ${formatBytes(digest.bytesUp)} up`),
  ];
  if (digest.parameters !== undefined) items.push(tile('Model parameters', formatCount(digest.parameters), ''));
  return `<div class="tiles">${items.join('')}</div>`;
}

/** The pipeline's own time between rounds (metrics.json's timing.orchestrationMs), per client-update too. */
function orchestrationNote(metrics: ExperimentMetrics): string {
  const measured = metrics.rounds.filter((round) => round.timing.orchestrationMs !== undefined);
  if (measured.length === 0) return '';
  const total = measured.reduce((sum, round) => sum + round.timing.orchestrationMs!, 0);
  const updates = measured.reduce((sum, round) => sum + round.clients.length, 0);
  const perUpdate = updates > 0 ? `, ${formatDuration(total / updates)} per client-update` : '';
  return (
    `<p class="chart-subtitle">Orchestration between rounds (latest update announced → next round opened, minus aggregation and evaluation): ` +
    `${escapeHtml(formatDuration(total / measured.length))} a round on average${escapeHtml(perUpdate)}; per round in the table below.</p>`
  );
}

function roundsTable(metrics: ExperimentMetrics): string {
  if (metrics.rounds.length === 0) return '<p class="chart-empty">No round has closed yet.</p>';
  const headers = ['Round', 'Accuracy', 'Loss', 'Updates', 'Samples', 'Train', 'Wait', 'Aggregate', 'Orchestration', 'Round time', 'Down', 'Up'];
  const rows = metrics.rounds.map((round) => {
    const expected = round.clients.length + round.missingClients.length + round.rejectedClients.length;
    const samples = round.clients.reduce((sum, client) => sum + client.samples, 0);
    return [
      String(round.round),
      formatPercent(round.accuracy),
      formatLoss(round.loss),
      `${round.clients.length}/${expected}`,
      formatCount(samples),
      formatDuration(round.timing.trainMs),
      formatDuration(round.timing.waitMs),
      formatDuration(round.timing.aggregateMs),
      round.timing.orchestrationMs === undefined ? '—' : formatDuration(round.timing.orchestrationMs),
      formatDuration(round.timing.roundMs),
      formatBytes(round.bytes.down),
      formatBytes(round.bytes.up),
    ].map(escapeHtml);
  });
  return table(headers, rows);
}

function clientsTable(metrics: ExperimentMetrics): string {
  const ids = clientIds(metrics);
  const partition = new Map(metrics.partition.clients.map((client) => [client.clientId, client]));
  const updatesByClient = new Map<string, ClientRoundMetrics[]>(ids.map((id) => [id, []]));
  for (const round of metrics.rounds) {
    for (const client of round.clients) updatesByClient.get(client.clientId)?.push(client);
  }
  const attackers = attackerIds(metrics);
  const rows = ids.map((id) => {
    const held = partition.get(id);
    const updates = updatesByClient.get(id) ?? [];
    const lastUpdate = updates.at(-1);
    const meanTrainMs = updates.length > 0 ? updates.reduce((sum, client) => sum + client.trainMs, 0) / updates.length : Number.NaN;
    const labelsHeld = held ? held.labelHistogram.filter((count) => count > 0).length : Number.NaN;
    return [
      attackers.has(id) ? `${id} ${ATTACKER_MARK}` : id,
      held ? formatCount(held.samples) : '—',
      Number.isFinite(labelsHeld) ? String(labelsHeld) : '—',
      `${updates.length}/${metrics.rounds.length}`,
      lastUpdate ? formatLoss(lastUpdate.trainLoss) : '—',
      formatDuration(meanTrainMs),
    ].map(escapeHtml);
  });
  return table(['Client', 'Samples', 'Digits', 'Updates', 'Last loss', 'Mean train'], rows);
}

function problems(metrics: ExperimentMetrics): string {
  const items: string[] = [];
  for (const round of metrics.rounds) {
    if (round.missingClients.length > 0) {
      items.push(
        `<li>Round ${round.round}: closed without ${escapeHtml(round.missingClients.join(', '))} (deadline reached with quorum)</li>`,
      );
    }
    for (const rejected of round.rejectedClients) {
      items.push(`<li>Round ${round.round}: update from ${escapeHtml(rejected.clientId)} rejected — ${escapeHtml(rejected.reason)}</li>`);
    }
  }
  if (items.length === 0) return '';
  return section('Missing and rejected updates', 'Rounds that closed without every client’s update.', `<ul>${items.join('')}</ul>`, 'problems');
}

function configuration(metrics: ExperimentMetrics, digest: ExperimentDigest): string {
  const backendFacts: [string, string][] = [
    ['Backend', metrics.backend.backend],
    ['TensorFlow.js', metrics.backend.tfjsVersion],
    ...Object.entries(metrics.backend.details).map(([key, value]): [string, string] => [key, String(value)]),
    ...(digest.localTraining ? ([['Local training', digest.localTraining]] as [string, string][]) : []),
    ...(digest.seed !== undefined ? ([['Seed', String(digest.seed)]] as [string, string][]) : []),
    ...(digest.finishedAt ? ([['Finished', formatTimestamp(digest.finishedAt)]] as [string, string][]) : []),
  ];
  const facts = `<dl class="kv">${backendFacts.map(([key, value]) => `<dt>${escapeHtml(key)}</dt><dd>${escapeHtml(value)}</dd>`).join('')}</dl>`;
  const config = `<pre class="config">${escapeHtml(JSON.stringify(metrics.config ?? null, null, 2) ?? 'null')}</pre>`;
  return section(
    'Configuration and engine',
    'Numbers from different backends are not directly comparable: the engine is recorded with every result.',
    `<div class="grid-2"><div><h3>Engine</h3>${facts}</div><div><h3>Config, defaults filled in</h3>${config}</div></div>`,
    'configuration',
  );
}

function stateNotice(digest: ExperimentDigest, roundsRecorded: number): string {
  if (digest.state === 'completed') return '';
  const recorded = `the report shows the ${pluralise(roundsRecorded, 'round')} recorded`;
  const errors =
    digest.errors.length > 0 ? `<ul>${digest.errors.map((error) => `<li>${escapeHtml(error)}</li>`).join('')}</ul>` : '';
  if (digest.state === 'failed') return `<div class="notice"><b>This experiment failed</b>; ${recorded} before it stopped.${errors}</div>`;
  if (digest.state === 'running') return `<p class="notice">This experiment is <b>still running</b>: ${recorded} so far.</p>`;
  return `<p class="notice">This experiment has <b>no summary</b> (still running, or stopped without one): ${recorded}.</p>`;
}

/** `context.status` (status.json) lets a failed experiment's report say what went wrong. */
export function renderReportHtml(metrics: ExperimentMetrics, context: ReportContext = {}): string {
  const digest = digestExperiment(metrics, context);
  const classes = classCount(metrics);
  const lastRound = digest.lastRound;
  const incomplete = stateNotice(digest, metrics.rounds.length);

  const body = [
    incomplete,
    sharedDataNoticeHtml(metrics),
    tiles(digest, metrics),
    section(
      'Learning curve',
      'How the global model improved round by round. Hover any point for its exact value.',
      `<div class="grid-2">${accuracyChart(metrics)}${lossChart(metrics)}</div>`,
      'learning',
    ),
    section(
      'Accuracy by digit',
      'Label skew shows up here first: digits that few clients hold are learned late, or forgotten between rounds.',
      perClassHeatmap(metrics, classes),
      'per-class',
    ),
    section(
      'How the data was split',
      `Each bar is one client’s training shard, coloured by digit (${escapeHtml(digest.partition)}). IID clients show ten similar bands; label skew shows a few wide ones.`,
      labelDistributionChart(metrics, classes),
      'partition',
    ),
    section(
      'Time and clients',
      'Round time split into training, waiting and aggregation, and how each client’s local training went.',
      `<div class="grid-2">${timingChart(metrics)}${clientLossHeatmap(metrics)}</div>${orchestrationNote(metrics)}`,
      'timing',
    ),
    section(
      'Errors and clients',
      'Which digits the final model confuses, and what each client contributed.',
      `<div class="grid-2">${confusionHeatmap(lastRound, classes, classNames(metrics))}<div><h3>Clients</h3>${clientsTable(metrics)}</div></div>`,
      'errors',
    ),
    privacySection(metrics),
    section('Rounds', 'Every round as recorded in metrics.json.', roundsTable(metrics), 'rounds'),
    problems(metrics),
    configuration(metrics, digest),
  ].join('\n');

  return renderPage({
    title: `${digest.name} — flambda report`,
    header: header(digest, metrics),
    body,
    footer:
      `Generated by <b>flambda report</b> from metrics.json of experiment ${escapeHtml(digest.experimentId)}. ` +
      'One self-contained file: no scripts, no network. Hover a point, bar or cell to see its value.',
  });
}
