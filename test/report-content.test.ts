import { describe, expect, it } from 'vitest';
import type { ExperimentMetrics } from '../shared/metrics/types.js';
import {
  compareAccuracy,
  escapeHtml,
  formatPoints,
  lineChartSvgFile,
  niceTicks,
  renderComparisonHtml,
  renderComparisonMarkdown,
  renderReportHtml,
  renderSummaryMarkdown,
} from '../shared/report/index.js';
import { fabricateMetrics } from './report-fixtures.js';

/** The markup of one chart: figures never nest, so the first </figure> after the opening tag closes it. */
function chart(html: string, id: string): string {
  const match = new RegExp(`<figure class="chart" data-chart="${id}">[\\s\\S]*?</figure>`).exec(html);
  if (!match) throw new Error(`chart ${id} not found`);
  return match[0];
}

function occurrences(text: string, pattern: RegExp): number {
  return [...text.matchAll(new RegExp(pattern.source, 'g'))].length;
}

const percent = (fraction: number) => `${(fraction * 100).toFixed(1)}%`;

describe('renderReportHtml', () => {
  const metrics = fabricateMetrics({
    partition: 'shards',
    rounds: 6,
    clients: 4,
    missing: [{ round: 2, clientId: 'client-001' }],
    rejected: [{ round: 4, clientId: 'client-003', reason: 'update has 3 tensors, expected 8' }],
  });
  const html = renderReportHtml(metrics);
  const classes = metrics.rounds[0]!.perClassAccuracy.length;

  it('draws one accuracy series and one loss series with a point per round', () => {
    for (const id of ['accuracy', 'loss']) {
      const figure = chart(html, id);
      expect(occurrences(figure, /data-series="/)).toBe(1);
      expect(occurrences(figure, /<circle data-point/)).toBe(metrics.rounds.length);
    }
  });

  it('adds the personalized accuracy as a second series when the run used personalization layers', () => {
    const personalized: ExperimentMetrics = {
      ...metrics,
      rounds: metrics.rounds.map((round, index) => ({ ...round, personalizedAccuracy: 0.5 + index / 100 })),
    };
    const figure = chart(renderReportHtml(personalized), 'accuracy');
    expect(occurrences(figure, /data-series="/)).toBe(2);
    expect(occurrences(figure, /<circle data-point/)).toBe(2 * metrics.rounds.length);
  });

  it('draws a per-class heatmap cell for every class in every round, and a confusion cell for every pair', () => {
    expect(occurrences(chart(html, 'per-class-accuracy'), /<rect data-cell/)).toBe(classes * metrics.rounds.length);
    expect(occurrences(chart(html, 'confusion'), /<rect data-cell/)).toBe(classes * classes);
  });

  it('shows every client’s label histogram as one segment per digit it holds', () => {
    const figure = chart(html, 'label-distribution');
    const heldDigits = metrics.partition.clients.flatMap((client) => client.labelHistogram.filter((count) => count > 0));
    expect(occurrences(figure, /<rect data-bar=/)).toBe(heldDigits.length);
    for (const [index, client] of metrics.partition.clients.entries()) {
      expect(occurrences(figure, new RegExp(`<rect data-bar="${index}"`))).toBe(client.labelHistogram.filter((count) => count > 0).length);
      expect(figure).toContain(`>${client.clientId}</text>`);
    }
  });

  it('splits each round’s time into train, wait and aggregate', () => {
    const figure = chart(html, 'timing');
    const nonZeroParts = metrics.rounds.flatMap((round) =>
      [round.timing.trainMs, round.timing.waitMs, round.timing.aggregateMs].filter((ms) => ms > 0),
    );
    expect(occurrences(figure, /<rect data-bar=/)).toBe(nonZeroParts.length);
    for (const segment of ['train', 'wait', 'aggregate']) {
      expect(occurrences(figure, new RegExp(`data-segment="${segment}"`))).toBe(metrics.rounds.length);
    }
  });

  it('shows the orchestration time between rounds when metrics.json records it, per round and per client-update', () => {
    expect(html).not.toContain('Orchestration between rounds');
    const orchestrated: ExperimentMetrics = {
      ...metrics,
      rounds: metrics.rounds.map((round, index) => ({ ...round, timing: { ...round.timing, orchestrationMs: 200 * (index + 1) } })),
    };
    const page = renderReportHtml(orchestrated);
    const mean = (200 * (1 + 6)) / 2;
    const updates = metrics.rounds.reduce((sum, round) => sum + round.clients.length, 0);
    expect(page).toContain(`Orchestration between rounds`);
    expect(page).toContain(`${mean} ms a round on average, ${Math.round((mean * 6) / updates)} ms per client-update`);
    const roundsTable = page.slice(page.indexOf('<th scope="col">Orchestration</th>'));
    expect(roundsTable.length).toBeGreaterThan(0);
    for (const ms of [200, 400, 600, 800]) expect(roundsTable).toContain(`<td>${ms} ms</td>`);
    expect(html).toContain('<th scope="col">Orchestration</th>');
  });

  it('marks the client-rounds without an update as missing', () => {
    const figure = chart(html, 'client-train-loss');
    const absent = metrics.rounds.reduce((sum, round) => sum + round.missingClients.length + round.rejectedClients.length, 0);
    expect(absent).toBeGreaterThan(0);
    expect(occurrences(figure, /<rect data-cell/)).toBe(metrics.partition.clients.length * metrics.rounds.length);
    expect(occurrences(figure, /data-missing/)).toBe(absent);
  });

  it('states the headline numbers formatted for people', () => {
    const last = metrics.rounds.at(-1)!;
    const best = metrics.rounds.reduce((top, round) => (round.accuracy > top.accuracy ? round : top));
    expect(html).toContain(`<div class="value">${percent(last.accuracy)}</div>`);
    expect(html).toContain(`<div class="value">${percent(best.accuracy)}</div><div class="note">round ${best.round}</div>`);
    expect(html).toContain(`<div class="value">${last.loss.toFixed(3)}</div>`);
    for (const round of metrics.rounds) expect(html).toContain(`<td>${percent(round.accuracy)}</td>`);
  });

  it('shows the backend, the config and the rounds that closed without every client', () => {
    expect(html).toContain(`${metrics.backend.backend} (tfjs ${metrics.backend.tfjsVersion}`);
    expect(html).toContain('&quot;shardsPerClient&quot;: 2');
    expect(html).toContain('Round 2: closed without client-001');
    expect(html).toContain('update from client-003 rejected — update has 3 tensors, expected 8');
  });

  it('is one self-contained file: no script, no external resource, no URL at all', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|<iframe|<img/i);
    expect(html).not.toMatch(/\b(?:src|href)\s*=/i);
    expect(html).not.toMatch(/https?:\/\//i);
  });
});

describe('user text is escaped', () => {
  const hostile = `<script>alert("x")</script> & 'quotes' | *bold* [link](x)`;
  const base = fabricateMetrics({ rounds: 2, clients: 2, rejected: [{ round: 2, clientId: 'client-001', reason: '<img src=x onerror=alert(1)>' }] });
  const metrics: ExperimentMetrics = {
    ...base,
    config: { ...(base.config as object), name: hostile },
    summary: { ...base.summary!, name: hostile },
    partition: { ...base.partition, clients: base.partition.clients.map((client, index) => (index === 0 ? { ...client, clientId: '<b>c0</b>' } : client)) },
  };

  it('in the HTML report', () => {
    const html = renderReportHtml(metrics);
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>c0</b>');
    expect(html).toContain(escapeHtml(hostile));
    expect(html).toContain(`data-bar="0"`);
    expect(html).toContain('&lt;b&gt;c0&lt;/b&gt;');
  });

  it('in the Markdown summary', () => {
    const markdown = renderSummaryMarkdown(metrics);
    expect(markdown).not.toContain('<script');
    expect(markdown.split('\n')[0]).toBe(
      '# &lt;script&gt;alert("x")&lt;/script&gt; &amp; \'quotes\' \\| \\*bold\\* \\[link\\](x)',
    );
    // A client id must not add table cells: every partition row keeps the header's column count.
    const partitionRows = markdown.split('## Data split')[1]!.split('\n').filter((line) => line.startsWith('|'));
    const columns = (line: string) => line.replace(/\\\|/g, '').split('|').length;
    for (const row of partitionRows) expect(columns(row)).toBe(columns(partitionRows[0]!));
  });

  it('in series names of the comparison', () => {
    const html = renderComparisonHtml([metrics, fabricateMetrics({ rounds: 2, clients: 2, partition: 'shards' })]);
    expect(html).not.toContain('<script');
    expect(html).toContain(`data-series="${escapeHtml(hostile)}"`);
  });
});

describe('reports of unfinished experiments', () => {
  it('say a running experiment is incomplete and chart the rounds so far', () => {
    const running = fabricateMetrics({ rounds: 3, running: true });
    const html = renderReportHtml(running);
    expect(html).toContain('no summary');
    expect(occurrences(chart(html, 'accuracy'), /<circle data-point/)).toBe(3);
  });

  it('show why a failed experiment failed', () => {
    const recorded = fabricateMetrics({ rounds: 2, running: true });
    const failed: ExperimentMetrics = { ...recorded, config: { ...(recorded.config as object), rounds: 5 } };
    const error = 'round 3: every client failed (shard client-002.bin is missing)';
    const status = { experimentId: failed.experimentId, state: 'failed' as const, round: 3, rounds: 5, updatedAt: '2025-03-01T14:05:00.000Z', errors: [error] };
    expect(renderReportHtml(failed, { status })).toContain(escapeHtml(error));
    expect(renderSummaryMarkdown(failed, { status })).toContain('failed, 2 of 5 rounds');
  });

  it('render without any round, with an empty state instead of charts', () => {
    const empty = { ...fabricateMetrics({ rounds: 0, running: true }) };
    const html = renderReportHtml(empty);
    expect(html).not.toContain('data-point');
    expect(chart(html, 'accuracy')).toContain('No round has closed yet.');
    expect(chart(html, 'label-distribution')).toContain('data-bar=');
    expect(renderSummaryMarkdown(empty)).toContain('no round has closed yet');
  });

  it('leave a gap where the loss diverged (NaN) instead of dropping the round', () => {
    const base = fabricateMetrics({ rounds: 5 });
    const diverged: ExperimentMetrics = { ...base, rounds: base.rounds.map((round) => (round.round === 3 ? { ...round, loss: Number.NaN } : round)) };
    const figure = chart(renderReportHtml(diverged), 'loss');
    expect(occurrences(figure, /<circle data-point/)).toBe(4);
    expect(occurrences(figure.match(/<path d="[^"]*"/)![0], /M/)).toBe(2);
  });
});

describe('renderSummaryMarkdown', () => {
  const metrics = fabricateMetrics({ rounds: 4, clients: 3 });
  const markdown = renderSummaryMarkdown(metrics);

  it('has a row per round with accuracy and loss', () => {
    for (const round of metrics.rounds) {
      expect(markdown).toContain(`| ${round.round} | ${percent(round.accuracy)} | ${round.loss.toFixed(3)} |`);
    }
  });

  it('states final and best accuracy, the backend and the per-class accuracy of the last round', () => {
    const last = metrics.rounds.at(-1)!;
    expect(markdown).toContain(`**Final accuracy:** ${percent(last.accuracy)}`);
    expect(markdown).toContain(`| Accuracy | ${last.perClassAccuracy.map(percent).join(' | ')} |`);
    expect(markdown).toContain(`**Backend:** ${metrics.backend.backend}`);
  });
});

describe('comparison', () => {
  const iid = fabricateMetrics({ partition: 'iid', rounds: 5, seed: 3 });
  const skew = fabricateMetrics({ partition: 'shards', rounds: 5, seed: 4 });
  const short = fabricateMetrics({ partition: 'shards', rounds: 3, seed: 5, name: 'Short run' });

  it('computes the gap in percentage points to the first experiment, round by round', () => {
    const comparison = compareAccuracy([iid, skew]);
    expect(comparison.rows.map((row) => row.round)).toEqual(iid.rounds.map((round) => round.round));
    comparison.rows.forEach((row, index) => {
      const expected = (skew.rounds[index]!.accuracy - iid.rounds[index]!.accuracy) * 100;
      expect(row.gapPoints[0]).toBe(0);
      expect(row.gapPoints[1]).toBeCloseTo(expected, 10);
    });
  });

  it('reports a 25-point gap between 50% and 75%', () => {
    const at = (metrics: ExperimentMetrics, accuracy: number): ExperimentMetrics => ({
      ...metrics,
      rounds: metrics.rounds.slice(0, 1).map((round) => ({ ...round, accuracy })),
    });
    const comparison = compareAccuracy([at(iid, 0.5), at(skew, 0.75)]);
    expect(comparison.rows[0]!.gapPoints[1]).toBeCloseTo(25, 10);
    expect(formatPoints(comparison.rows[0]!.gapPoints[1]!)).toBe('+25.0 pp');
    expect(renderComparisonMarkdown([at(iid, 0.5), at(skew, 0.75)])).toContain('| 1 | 50.0% | 75.0% | +25.0 pp |');
  });

  it('keeps rounds only some experiments reached, with a dash where a value is missing', () => {
    const comparison = compareAccuracy([short, iid]);
    expect(comparison.rows).toHaveLength(iid.rounds.length);
    expect(Number.isNaN(comparison.rows.at(-1)!.accuracy[0]!)).toBe(true);
    const markdown = renderComparisonMarkdown([short, iid]);
    const lastRound = iid.rounds.at(-1)!;
    expect(markdown).toContain(`| ${lastRound.round} | — | ${percent(lastRound.accuracy)} | — |`);
    expect(comparison.final.gapPoints[1]).toBeCloseTo((lastRound.accuracy - short.rounds.at(-1)!.accuracy) * 100, 10);
  });

  it('prints a Markdown table of rounds × experiments with a gap column per non-baseline experiment', () => {
    const list = [iid, skew, short];
    const markdown = renderComparisonMarkdown(list);
    const tableLines = markdown.split('\n').filter((line) => line.startsWith('|'));
    const roundCount = compareAccuracy(list).rows.length;
    expect(tableLines).toHaveLength(2 + roundCount + 1);
    const header = tableLines[0]!.split('|').slice(1, -1).map((cell) => cell.trim());
    expect(header).toEqual(['Round', 'MNIST IID', 'MNIST label skew', 'MNIST label skew − MNIST IID', 'Short run', 'Short run − MNIST IID']);
    expect(tableLines.at(-1)).toMatch(/^\| \*\*Final\*\* /);
  });

  it('overlays every experiment on one accuracy chart and draws the gaps of the others', () => {
    const list = [iid, skew, short];
    const html = renderComparisonHtml(list);
    const accuracy = chart(html, 'accuracy');
    expect(occurrences(accuracy, /data-series="/)).toBe(list.length);
    expect(occurrences(accuracy, /<circle data-point/)).toBe(list.reduce((sum, metrics) => sum + metrics.rounds.length, 0));
    expect(occurrences(chart(html, 'gap'), /data-series="/)).toBe(list.length - 1);
    expect(html).not.toMatch(/https?:\/\/|<script/i);
  });

  it('tells experiments with the same name apart by id', () => {
    const twin = fabricateMetrics({ partition: 'iid', rounds: 2, seed: 9, experimentId: 'mnist-iid-again' });
    const labels = compareAccuracy([iid, twin]).labels;
    expect(new Set(labels).size).toBe(2);
    expect(labels[1]).toContain('mnist-iid-again');
  });

  it('warns when the backends differ', () => {
    const onNode = fabricateMetrics({ partition: 'iid', rounds: 2, backend: 'tensorflow' });
    expect(renderComparisonHtml([iid, onNode])).toContain('different backends');
    expect(renderComparisonHtml([iid, skew])).not.toContain('different backends');
  });
});

describe('niceTicks', () => {
  it.each([
    [0.31, 0.97],
    [0, 2.31],
    [-34.4, 0],
    [1200, 1200],
  ])('covers [%d, %d] with evenly spaced round ticks', (low, high) => {
    const { ticks } = niceTicks(low, high);
    expect(ticks[0]!).toBeLessThanOrEqual(low);
    expect(ticks.at(-1)!).toBeGreaterThanOrEqual(high);
    const steps = ticks.slice(1).map((tick, index) => tick - ticks[index]!);
    for (const step of steps) expect(step).toBeCloseTo(steps[0]!, 9);
    const mantissa = steps[0]! / 10 ** Math.floor(Math.log10(steps[0]!));
    expect([1, 2, 5]).toContain(Math.round(mantissa));
  });
});

describe('lineChartSvgFile', () => {
  const series = [
    { name: 'IID', points: [1, 2, 3].map((x) => ({ x, y: 0.9 + x / 100 })) },
    { name: 'label <skew>', points: [1, 2, 3].map((x) => ({ x, y: 0.5 + x / 10 })) },
  ];
  const svg = lineChartSvgFile({
    id: 'file', title: 'Accuracy & more', xLabel: 'Round', yLabel: 'Accuracy', series, formatY: String,
  });

  it('is a stand-alone SVG document with its title and a legend entry per series inside', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(occurrences(svg, /data-legend=""/)).toBe(series.length);
    expect(occurrences(svg, /<circle data-point/)).toBe(6);
    expect(svg).toContain('Accuracy &amp; more');
    expect(svg).toContain('label &lt;skew&gt;');
  });

  it('is XML: no HTML wrapper and no attribute without a value', () => {
    expect(svg).not.toMatch(/<(figure|ul|li)[\s>]/);
    expect(svg).not.toMatch(/ data-[a-z-]+(?=[\s/>])/);
  });
});
