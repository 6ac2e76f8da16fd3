/**
 * The short Markdown summary: what goes into a pull request, an issue or a chat message about a run.
 */

import type { ExperimentMetrics } from '../metrics/types.js';
import { ATTACKER_MARK, attackerIds, classCount, classNames, classNoun, digestExperiment, type ReportContext } from './digest.js';
import { escapeMarkdown } from './escape.js';
import { formatBytes, formatCount, formatDuration, formatLoss, formatPercent, pluralise } from './format.js';
import { sharedDataSentence } from './shared-data-notice.js';

export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[], leftColumns = 1): string {
  const alignment = headers.map((_, index) => (index < leftColumns ? ':---' : '---:'));
  return [headers, alignment, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

export function renderSummaryMarkdown(metrics: ExperimentMetrics, context: ReportContext = {}): string {
  const digest = digestExperiment(metrics, context);
  const last = digest.lastRound;
  const best = digest.bestRound;
  const lines: string[] = [`# ${escapeMarkdown(digest.name)}`, ''];

  const setup = [
    pluralise(digest.clients, 'client'),
    `partition ${escapeMarkdown(digest.partition)}`,
    digest.model ? `model ${escapeMarkdown(digest.model)}` : undefined,
    digest.strategy ? `strategy ${escapeMarkdown(digest.strategy)}` : undefined,
    digest.localTraining ? `local ${escapeMarkdown(digest.localTraining)}` : undefined,
    digest.seed !== undefined ? `seed ${digest.seed}` : undefined,
  ].filter((part): part is string => part !== undefined);
  const roundsDone = metrics.rounds.length;
  const roundsText =
    digest.plannedRounds !== undefined && digest.plannedRounds !== roundsDone
      ? `${roundsDone} of ${digest.plannedRounds} rounds`
      : pluralise(roundsDone, 'round');

  lines.push(
    `- **Experiment:** \`${digest.experimentId.replace(/`/g, '')}\` — ${digest.state}, ${roundsText}`,
    `- **Setup:** ${setup.join(' · ')}`,
    `- **Backend:** ${escapeMarkdown(digest.backend)}`,
  );
  const shared = sharedDataSentence(metrics);
  if (shared) lines.push(`- **Shared data:** ${escapeMarkdown(shared)}`);
  if (last) {
    lines.push(`- **Final accuracy:** ${formatPercent(last.accuracy)} (test loss ${formatLoss(last.loss)}) after round ${last.round}`);
  } else {
    lines.push('- **Final accuracy:** no round has closed yet');
  }
  if (best) lines.push(`- **Best accuracy:** ${formatPercent(best.accuracy)} in round ${best.round}`);
  const time = digest.wallMs !== undefined ? `${formatDuration(digest.wallMs)} wall time` : undefined;
  const traffic = `${formatBytes(digest.bytesDown)} down, ${formatBytes(digest.bytesUp)} up`;
  lines.push(`- **Cost:** ${time ? `${time}; ` : ''}${traffic}`);
  for (const error of digest.errors) lines.push(`- **Error:** ${escapeMarkdown(error)}`);
  const missing = metrics.rounds.reduce((sum, round) => sum + round.missingClients.length, 0);
  const rejected = metrics.rounds.reduce((sum, round) => sum + round.rejectedClients.length, 0);
  if (missing + rejected > 0) {
    lines.push(`- **Incomplete rounds:** ${pluralise(missing, 'missing update')}, ${pluralise(rejected, 'rejected update')}`);
  }

  if (metrics.rounds.length > 0) {
    lines.push(
      '',
      '## Rounds',
      '',
      markdownTable(
        ['Round', 'Accuracy', 'Loss', 'Updates', 'Train', 'Wait', 'Aggregate', 'Down', 'Up'],
        metrics.rounds.map((round) => [
          String(round.round),
          formatPercent(round.accuracy),
          formatLoss(round.loss),
          `${round.clients.length}/${round.clients.length + round.missingClients.length + round.rejectedClients.length}`,
          formatDuration(round.timing.trainMs),
          formatDuration(round.timing.waitMs),
          formatDuration(round.timing.aggregateMs),
          formatBytes(round.bytes.down),
          formatBytes(round.bytes.up),
        ]),
      ),
    );
  }

  const classes = classCount(metrics);
  const names = classNames(metrics);
  const noun = classNoun(names);
  const Noun = noun === 'digit' ? 'Digit' : 'Class';
  if (last && last.perClassAccuracy.length > 0) {
    const shown = Array.from({ length: classes }, (_, label) => escapeMarkdown(names[label] ?? String(label)));
    lines.push(
      '',
      `## Accuracy by ${noun} after round ${last.round}`,
      '',
      markdownTable([Noun, ...shown], [['Accuracy', ...shown.map((_, label) => formatPercent(last.perClassAccuracy[label] ?? Number.NaN))]]),
    );
  }

  if (metrics.partition.clients.length > 0) {
    const attackers = attackerIds(metrics);
    lines.push(
      '',
      `## Data split (${escapeMarkdown(metrics.partition.kind)}, seed ${metrics.partition.seed})`,
      '',
      markdownTable(
        ['Client', 'Samples', ...(metrics.partition.sharedData ? ['Shared samples'] : []), `${Noun === 'Digit' ? 'Digits' : 'Classes'} held`, `Largest ${noun}`],
        metrics.partition.clients.map((client) => {
          const largest = client.labelHistogram.reduce(
            (top, count, digit) => (count > top.count ? { digit, count } : top),
            { digit: -1, count: 0 },
          );
          const share = client.samples > 0 ? largest.count / client.samples : Number.NaN;
          return [
            escapeMarkdown(attackers.has(client.clientId) ? `${client.clientId} ${ATTACKER_MARK}` : client.clientId),
            formatCount(client.samples),
            ...(metrics.partition.sharedData ? [formatCount(client.sharedSamples ?? 0)] : []),
            String(client.labelHistogram.filter((count) => count > 0).length),
            largest.digit >= 0 ? `${escapeMarkdown(names[largest.digit] ?? String(largest.digit))} (${formatPercent(share, 0)})` : '—',
          ];
        }),
      ),
    );
  }

  lines.push('', 'Full report with charts: `report.html` in the same folder.', '');
  return lines.join('\n');
}
