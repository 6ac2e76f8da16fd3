import { escapeHtml } from '../../shared/report/escape.js';
import { seriesColour } from '../../shared/report/palette.js';

/**
 * The seed-spread chart of docs/noniid.md: one row per configuration, a dot per seed's final accuracy, a bar from
 * the worst to the best seed and a tick at the mean; vertical lines at the IID mean and at the goal (IID − 2 points).
 * A stand-alone SVG file, so Markdown can show it.
 */

export interface SpreadRow {
  readonly label: string;
  /** final accuracy per seed, 0..1 */
  readonly finals: readonly number[];
  readonly seeds: readonly number[];
  readonly baseline?: boolean;
}

const WIDTH = 760;
const LABEL_WIDTH = 250;
const RIGHT = 24;
const ROW = 28;
const TOP = 66;
const BOTTOM = 48;
const AXIS = '#5b6475';
const GRID = '#e3e6ec';
const TEXT = '#1f2430';

function px(value: number): string {
  return String(Math.round(value * 10) / 10);
}

export function spreadChartSvg(options: { readonly title: string; readonly rows: readonly SpreadRow[]; readonly goalPoints: number }): string {
  const rows = options.rows.filter((row) => row.finals.length > 0);
  const values = rows.flatMap((row) => row.finals);
  const baseline = rows.find((row) => row.baseline);
  const baselineMean = baseline ? average(baseline.finals) : undefined;
  const goal = baselineMean === undefined ? undefined : baselineMean - options.goalPoints / 100;
  // Whole points, from a point below the lowest seed to the top of the highest: the spread is what matters.
  const low = Math.floor(Math.min(...values, goal ?? 1) * 100 - 1) / 100;
  const high = Math.min(1, Math.ceil(Math.max(...values) * 100 + 0.5) / 100);
  const height = TOP + rows.length * ROW + BOTTOM;
  const plotLeft = LABEL_WIDTH;
  const plotRight = WIDTH - RIGHT;
  const x = (value: number) => plotLeft + ((value - low) / (high - low || 1)) * (plotRight - plotLeft);
  const step = tickStep((high - low) * 100);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="#fff"/>',
    `<text x="16" y="22" font-size="15" font-weight="600" fill="${TEXT}">${escapeHtml(options.title)}</text>`,
  ];
  for (let tick = Math.ceil((low * 100) / step) * step; tick <= high * 100 + 1e-9; tick += step) {
    const at = x(tick / 100);
    parts.push(
      `<line x1="${px(at)}" x2="${px(at)}" y1="${TOP - 8}" y2="${TOP + rows.length * ROW}" stroke="${GRID}"/>`,
      `<text x="${px(at)}" y="${TOP + rows.length * ROW + 18}" text-anchor="middle" fill="${AXIS}">${tick.toFixed(step < 1 ? 1 : 0)} %</text>`,
    );
  }
  parts.push(
    `<text x="${px((plotLeft + plotRight) / 2)}" y="${height - 10}" text-anchor="middle" font-size="13" fill="${AXIS}">Final test accuracy (dots: seeds; bar: worst to best; tick: mean)</text>`,
  );
  if (baselineMean !== undefined && goal !== undefined) {
    // One line of text each, centred on its line but kept inside the picture.
    for (const [value, label, dash, textY] of [
      [baselineMean, 'IID FedAvg mean', '', TOP - 16],
      [goal, `goal: IID − ${options.goalPoints} points`, ' stroke-dasharray="5 4"', TOP - 30],
    ] as const) {
      if (value < low || value > high) continue;
      const halfText = (label.length * 6) / 2;
      const textX = Math.min(WIDTH - 4 - halfText, Math.max(plotLeft + halfText, x(value)));
      parts.push(
        `<line x1="${px(x(value))}" x2="${px(x(value))}" y1="${TOP - 10}" y2="${TOP + rows.length * ROW}" stroke="${AXIS}" stroke-width="1.2"${dash}/>`,
        `<text x="${px(textX)}" y="${textY}" text-anchor="middle" fill="${AXIS}" font-size="11">${escapeHtml(label)}</text>`,
      );
    }
  }
  rows.forEach((row, index) => {
    const y = TOP + index * ROW + ROW / 2;
    const colour = row.baseline ? '#000000' : seriesColour(index - (baseline && rows.indexOf(baseline) < index ? 1 : 0));
    const lowest = Math.min(...row.finals);
    const highest = Math.max(...row.finals);
    const m = average(row.finals);
    parts.push(
      `<g data-series="${escapeHtml(row.label)}">`,
      `<text x="${LABEL_WIDTH - 10}" y="${px(y + 4)}" text-anchor="end" fill="${TEXT}">${escapeHtml(row.label)}</text>`,
      `<line x1="${px(x(lowest))}" x2="${px(x(highest))}" y1="${px(y)}" y2="${px(y)}" stroke="${colour}" stroke-width="3" stroke-opacity="0.35"/>`,
      `<line x1="${px(x(m))}" x2="${px(x(m))}" y1="${px(y - 8)}" y2="${px(y + 8)}" stroke="${colour}" stroke-width="2.4"><title>${escapeHtml(`${row.label}: mean ${(m * 100).toFixed(2)} %`)}</title></line>`,
      ...row.finals.map(
        (value, i) =>
          `<circle data-point="" cx="${px(x(value))}" cy="${px(y)}" r="4" fill="${colour}" stroke="#fff" stroke-width="1"><title>${escapeHtml(`${row.label}, seed ${row.seeds[i]}: ${(value * 100).toFixed(2)} %`)}</title></circle>`,
      ),
      '</g>',
    );
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}

function average(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function tickStep(spanPoints: number): number {
  for (const step of [0.5, 1, 2, 5, 10]) if (spanPoints / step <= 10) return step;
  return 20;
}
