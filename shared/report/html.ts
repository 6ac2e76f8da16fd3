/**
 * The one-experiment HTML report: what a person opens after a run to see whether it learned, which classes lag,
 * how the data was split and where the time went.
 */

import type { ClientRoundMetrics, ExperimentMetrics } from '../metrics/types.js';
import { ATTACKER_MARK, attackerIds, classCount, classNames, clientIds, digestExperiment, type ExperimentDigest, type ReportContext } from './digest.js';
import { escapeHtml } from './escape.js';
import {
  accuracyChart,
  clientLossHeatmap,
  confusionHeatmap,
  labelDistributionChart,
  lossChart,
  perClassHeatmap,
  timingChart,
} from './experiment-charts.js';
import { formatBytes, formatCount, formatDuration, formatLoss, formatPercent, formatTimestamp, pluralise } from './format.js';
import { renderPage, section, table, tile } from './page.js';
import { privacySection } from './privacy-section.js';
import { SHARED_DATA_MARK, sharedDataNoticeHtml } from './shared-data-notice.js';

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
