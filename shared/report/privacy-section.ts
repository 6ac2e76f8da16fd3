import type { ExperimentMetrics } from '../metrics/types.js';
import { lineChart } from './charts.js';
import { escapeHtml } from './escape.js';
import { formatPercent, formatPercentTick } from './format.js';
import { section, table } from './page.js';

/**
 * The report's section for a DP run (docs/privacy.md): accuracy against the ε spent so far, and how the updates
 * were clipped and noised round by round. Empty for a run without privacy.
 */
export function privacySection(metrics: ExperimentMetrics): string {
  const rounds = metrics.rounds.filter((round) => round.privacy !== undefined);
  if (rounds.length === 0) return '';
  const last = rounds.at(-1)!.privacy!;
  const accuracyAgainstEpsilon = lineChart({
    id: 'privacy-utility',
    title: 'Accuracy against ε',
    subtitle: `Test accuracy after each round, against the ε (at δ = ${last.delta}) spent by then`,
    xLabel: 'ε',
    yLabel: 'Accuracy',
    series: [{ name: 'Test accuracy', points: rounds.map((round) => ({ x: round.privacy!.epsilon, y: round.accuracy })) }],
    formatY: (value) => formatPercent(value),
    formatTick: formatPercentTick,
    yBounds: { min: 0, max: 1 },
  });
  const signalAgainstNoise = lineChart({
    id: 'privacy-noise',
    title: 'Signal and noise in the mean update',
    subtitle: '‖Σ clip(Δᵢ)‖/m and ‖noise‖/m per round: noise far above the signal is what limits accuracy',
    xLabel: 'Round',
    yLabel: 'L2 norm',
    series: [
      { name: 'Signal', points: rounds.map((round) => ({ x: round.round, y: round.privacy!.signalNorm })) },
      { name: 'Noise', points: rounds.map((round) => ({ x: round.round, y: round.privacy!.noiseNorm })) },
    ],
    formatY: (value) => value.toPrecision(3),
    includeZero: true,
  });
  const rows = rounds.map((round) => {
    const privacy = round.privacy!;
    return [
      String(round.round),
      formatPercent(round.accuracy),
      privacy.epsilon.toFixed(3),
      String(privacy.reported),
      privacy.clipNorm.toPrecision(3),
      privacy.clippedFraction === null ? '—' : formatPercent(privacy.clippedFraction),
      privacy.medianUpdateNorm === null ? '—' : privacy.medianUpdateNorm.toPrecision(3),
      privacy.signalNorm.toPrecision(3),
      privacy.noiseNorm.toPrecision(3),
    ].map(escapeHtml);
  });
  const perRound = table(['Round', 'Accuracy', 'ε', 'Updates', 'Clip norm C', 'Clipped', 'Median ‖Δ‖', 'Signal', 'Noise'], rows);
  return section(
    'Differential privacy',
    `Client-level DP-FedAvg: σ = ${escapeHtml(last.noiseMultiplier.toPrecision(4))}, ε = ${escapeHtml(last.epsilon.toFixed(3))} at δ = ${escapeHtml(String(last.delta))} after round ${rounds.at(-1)!.round}. ` +
      'The clipped share and the update norms are diagnostics for the operator, not covered by ε (docs/privacy.md).',
    `<div class="grid-2">${accuracyAgainstEpsilon}${signalAgainstNoise}</div>${perRound}`,
    'privacy',
  );
}
