import { escapeHtml } from './escape.js';
import { AXIS_COLOUR, CHAR_WIDTH, type ChartFrame, emptyChart, figure, FONT_AXIS, GRID_COLOUR, openSvg, px } from './chart-frame.js';
import { isLabelled, labelStep, niceTicks } from './chart-ticks.js';
import { textColourOn } from './palette.js';

export interface BarSegment {
  readonly name: string;
  readonly colour: string;
}

export interface Bar {
  /** Axis label, kept short (e.g. "3" for round 3). */
  readonly label: string;
  /** What tooltips call the bar (e.g. "Round 3"); defaults to the label. */
  readonly title?: string;
  /** One value per segment, in segment order; zero segments are not drawn. */
  readonly values: readonly number[];
}

export interface StackedBarsOptions extends ChartFrame {
  /** horizontal: one row per bar (e.g. clients); vertical: one column per bar (e.g. rounds). */
  readonly orientation: 'horizontal' | 'vertical';
  readonly bars: readonly Bar[];
  readonly segments: readonly BarSegment[];
  readonly categoryAxisLabel: string;
  readonly valueAxisLabel: string;
  readonly formatValue: (value: number) => string;
  /** Printed inside a segment when it is wide enough; omitted → no text in segments. */
  readonly formatSegmentText?: (value: number) => string;
  readonly emptyMessage?: string;
}

export function stackedBars(options: StackedBarsOptions): string {
  const totals = options.bars.map((bar) => bar.values.reduce((sum, value) => sum + Math.max(0, value), 0));
  if (options.bars.length === 0 || !totals.some((total) => total > 0)) {
    return emptyChart(options, options.emptyMessage ?? 'No data yet.');
  }
  const ticks = niceTicks(0, Math.max(...totals), 5);
  const valueMax = ticks.max || 1;
  const legend = `<ul class="legend">${options.segments
    .map(
      (segment) =>
        `<li data-legend><svg width="14" height="14" aria-hidden="true"><rect width="14" height="14" rx="2" fill="${segment.colour}"/></svg>${escapeHtml(segment.name)}</li>`,
    )
    .join('')}</ul>`;
  const svg =
    options.orientation === 'horizontal'
      ? horizontalBars(options, totals, ticks.ticks, valueMax)
      : verticalBars(options, totals, ticks.ticks, valueMax);
  return figure(options, svg, legend);
}

function segmentTitle(options: StackedBarsOptions, bar: Bar, segmentIndex: number, value: number, total: number): string {
  const share = total > 0 ? ` (${((value / total) * 100).toFixed(1)}%)` : '';
  return `${bar.title ?? bar.label} · ${options.segments[segmentIndex]?.name ?? ''}: ${options.formatValue(value)}${share}`;
}

function horizontalBars(options: StackedBarsOptions, totals: readonly number[], ticks: readonly number[], valueMax: number): string {
  const count = options.bars.length;
  const barHeight = count <= 30 ? 22 : Math.max(3, Math.floor(660 / count));
  const gap = barHeight >= 10 ? Math.round(barHeight * 0.3) : 1;
  const longestLabel = Math.max(...options.bars.map((bar) => bar.label.length));
  const left = Math.max(60, longestLabel * CHAR_WIDTH + 34);
  const right = 64;
  const top = 6;
  const width = 900;
  const plotWidth = width - left - right;
  const plotHeight = count * (barHeight + gap);
  const height = top + plotHeight + 46;
  const labelEvery = labelStep(barHeight + gap, 14);
  const scale = (value: number) => (value / valueMax) * plotWidth;

  const parts: string[] = [openSvg(options, width, height)];
  for (const tick of ticks) {
    const x = left + scale(tick);
    parts.push(
      `<line x1="${px(x)}" x2="${px(x)}" y1="${px(top)}" y2="${px(top + plotHeight)}" stroke="${GRID_COLOUR}"/>`,
      `<text x="${px(x)}" y="${px(top + plotHeight + 16)}" text-anchor="middle" fill="${AXIS_COLOUR}">${escapeHtml(options.formatValue(tick))}</text>`,
    );
  }
  options.bars.forEach((bar, barIndex) => {
    const y = top + barIndex * (barHeight + gap);
    const total = totals[barIndex] ?? 0;
    if (isLabelled(barIndex, labelEvery)) {
      parts.push(
        `<text x="${px(left - 8)}" y="${px(y + barHeight / 2 + 4)}" text-anchor="end" fill="${AXIS_COLOUR}">${escapeHtml(bar.label)}</text>`,
      );
    }
    let offset = 0;
    bar.values.forEach((value, segmentIndex) => {
      if (!(value > 0)) return;
      const segmentWidth = scale(value);
      const colour = options.segments[segmentIndex]?.colour ?? '#999999';
      parts.push(
        `<rect data-bar="${barIndex}" data-segment="${escapeHtml(options.segments[segmentIndex]?.name ?? String(segmentIndex))}" x="${px(left + offset)}" y="${px(y)}" width="${px(segmentWidth)}" height="${px(barHeight)}" fill="${colour}"><title>${escapeHtml(segmentTitle(options, bar, segmentIndex, value, total))}</title></rect>`,
      );
      const text = options.formatSegmentText?.(value);
      if (text && barHeight >= 16 && segmentWidth >= text.length * CHAR_WIDTH + 6) {
        parts.push(
          `<text x="${px(left + offset + segmentWidth / 2)}" y="${px(y + barHeight / 2 + 4)}" text-anchor="middle" font-size="11" fill="${textColourOn(colour)}" pointer-events="none">${escapeHtml(text)}</text>`,
        );
      }
      offset += segmentWidth;
    });
    if (barHeight >= 12) {
      parts.push(
        `<text x="${px(left + offset + 6)}" y="${px(y + barHeight / 2 + 4)}" fill="${AXIS_COLOUR}">${escapeHtml(options.formatValue(total))}</text>`,
      );
    }
  });
  parts.push(
    `<line x1="${px(left)}" x2="${px(left)}" y1="${px(top)}" y2="${px(top + plotHeight)}" stroke="${AXIS_COLOUR}"/>`,
    `<text x="${px(left + plotWidth / 2)}" y="${px(height - 8)}" text-anchor="middle" font-size="${FONT_AXIS}" fill="${AXIS_COLOUR}">${escapeHtml(options.valueAxisLabel)}</text>`,
    `<text transform="translate(14 ${px(top + plotHeight / 2)}) rotate(-90)" text-anchor="middle" font-size="${FONT_AXIS}" fill="${AXIS_COLOUR}">${escapeHtml(options.categoryAxisLabel)}</text>`,
    '</svg>',
  );
  return parts.join('');
}

function verticalBars(options: StackedBarsOptions, totals: readonly number[], ticks: readonly number[], valueMax: number): string {
  const count = options.bars.length;
  const width = 560;
  const height = 320;
  const margin = { top: 14, right: 18, bottom: 50, left: 66 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const slot = plotWidth / count;
  const barWidth = Math.max(1, Math.min(56, slot * 0.7));
  const labelEvery = labelStep(slot, 26);
  const scale = (value: number) => (value / valueMax) * plotHeight;
  const baseline = margin.top + plotHeight;

  const parts: string[] = [openSvg(options, width, height)];
  for (const tick of ticks) {
    const y = baseline - scale(tick);
    parts.push(
      `<line x1="${px(margin.left)}" x2="${px(width - margin.right)}" y1="${px(y)}" y2="${px(y)}" stroke="${GRID_COLOUR}"/>`,
      `<text x="${px(margin.left - 8)}" y="${px(y + 4)}" text-anchor="end" fill="${AXIS_COLOUR}">${escapeHtml(options.formatValue(tick))}</text>`,
    );
  }
  options.bars.forEach((bar, barIndex) => {
    const x = margin.left + barIndex * slot + (slot - barWidth) / 2;
    const total = totals[barIndex] ?? 0;
    let offset = 0;
    bar.values.forEach((value, segmentIndex) => {
      if (!(value > 0)) return;
      const segmentHeight = scale(value);
      const colour = options.segments[segmentIndex]?.colour ?? '#999999';
      parts.push(
        `<rect data-bar="${barIndex}" data-segment="${escapeHtml(options.segments[segmentIndex]?.name ?? String(segmentIndex))}" x="${px(x)}" y="${px(baseline - offset - segmentHeight)}" width="${px(barWidth)}" height="${px(segmentHeight)}" fill="${colour}"><title>${escapeHtml(segmentTitle(options, bar, segmentIndex, value, total))}</title></rect>`,
      );
      offset += segmentHeight;
    });
    if (isLabelled(barIndex, labelEvery)) {
      parts.push(
        `<text x="${px(x + barWidth / 2)}" y="${px(baseline + 17)}" text-anchor="middle" fill="${AXIS_COLOUR}">${escapeHtml(bar.label)}</text>`,
      );
    }
  });
  parts.push(
    `<line x1="${px(margin.left)}" x2="${px(width - margin.right)}" y1="${px(baseline)}" y2="${px(baseline)}" stroke="${AXIS_COLOUR}"/>`,
    `<text x="${px(margin.left + plotWidth / 2)}" y="${px(height - 8)}" text-anchor="middle" font-size="${FONT_AXIS}" fill="${AXIS_COLOUR}">${escapeHtml(options.categoryAxisLabel)}</text>`,
    `<text transform="translate(16 ${px(margin.top + plotHeight / 2)}) rotate(-90)" text-anchor="middle" font-size="${FONT_AXIS}" fill="${AXIS_COLOUR}">${escapeHtml(options.valueAxisLabel)}</text>`,
    '</svg>',
  );
  return parts.join('');
}
