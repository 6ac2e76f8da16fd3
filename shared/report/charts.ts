/**
 * Inline SVG charts: strings in, strings out, no DOM and no script, so a report is one file that opens anywhere.
 *
 * Every chart is a <figure data-chart="id"> whose marks carry data attributes (data-series, data-point, data-cell,
 * data-bar, data-segment) so tests and people with devtools can count what is drawn. Each mark has a <title>
 * that browsers show as a tooltip, so exact values are one hover away.
 */

import { escapeHtml } from './escape.js';
import { seriesColour, seriesDash, textColourOn, viridis, viridisStops } from './palette.js';

export interface ChartFrame {
  /** Internal identifier (not user input): becomes data-chart and the prefix of SVG ids. */
  readonly id: string;
  readonly title: string;
  readonly subtitle?: string;
}

const AXIS_COLOUR = '#5b6475';
const GRID_COLOUR = '#e3e6ec';
const FONT_TICK = 12;
const FONT_AXIS = 13;
/** Rough width of one character of the 12 px sans-serif tick font: enough to keep labels from colliding. */
const CHAR_WIDTH = 7;

/** Math.min/max(...values) fail beyond about 100,000 arguments; charts of long runs can have more values. */
function extent(values: readonly number[]): [number, number] {
  let low = Infinity;
  let high = -Infinity;
  for (const value of values) {
    if (value < low) low = value;
    if (value > high) high = value;
  }
  return [low, high];
}

/** One decimal is finer than a pixel and keeps the file small. */
function px(value: number): string {
  return String(Math.round(value * 10) / 10);
}

function figure(frame: ChartFrame, svg: string, legend = ''): string {
  const subtitle = frame.subtitle ? `<p class="chart-subtitle">${escapeHtml(frame.subtitle)}</p>` : '';
  return (
    `<figure class="chart" data-chart="${escapeHtml(frame.id)}">` +
    `<figcaption><h3>${escapeHtml(frame.title)}</h3>${subtitle}</figcaption>` +
    `${svg}${legend}</figure>`
  );
}

function openSvg(frame: ChartFrame, width: number, height: number): string {
  return (
    `<svg viewBox="0 0 ${px(width)} ${px(height)}" style="max-width:${px(width)}px" role="img" ` +
    `aria-label="${escapeHtml(frame.title)}" font-size="${FONT_TICK}">`
  );
}

function emptyChart(frame: ChartFrame, message: string): string {
  return figure(frame, `<p class="chart-empty">${escapeHtml(message)}</p>`);
}

export interface Ticks {
  readonly min: number;
  readonly max: number;
  readonly ticks: readonly number[];
}

function niceStep(rawStep: number): number {
  const exponent = Math.floor(Math.log10(rawStep));
  const fraction = rawStep / 10 ** exponent;
  const nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  return nice * 10 ** exponent;
}

/** Round tick values (1, 2 or 5 × 10^k apart) that cover [min, max] with about `target` intervals. */
export function niceTicks(min: number, max: number, target = 5): Ticks {
  let low = min;
  let high = max;
  if (!(high > low)) {
    const pad = low === 0 ? 1 : Math.abs(low) * 0.1;
    low -= pad;
    high += pad;
  }
  const step = niceStep((high - low) / target);
  const first = Math.floor(low / step + 1e-9) * step;
  const last = Math.ceil(high / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let index = 0; first + index * step <= last + step / 2; index += 1) {
    // toPrecision removes the 0.30000000000000004 that repeated addition leaves behind.
    ticks.push(Number((first + index * step).toPrecision(12)));
  }
  return { min: ticks[0] ?? low, max: ticks.at(-1) ?? high, ticks };
}

/** Label every k-th category, k a round 1, 2, 5, 10, … so labels are 10, 20, 30 rather than 1, 12, 23. */
function labelStep(slotSize: number, minimumSpacing: number): number {
  const needed = Math.ceil(minimumSpacing / slotSize);
  for (let magnitude = 1; ; magnitude *= 10) {
    for (const multiple of [1, 2, 5]) if (multiple * magnitude >= needed) return multiple * magnitude;
  }
}

/** With step k, label categories k, 2k, 3k, … (1-based) and the first one when it stands clear of the next label. */
function isLabelled(index: number, step: number): boolean {
  return step === 1 || (index + 1) % step === 0 || (index === 0 && step >= 4);
}

/** Integer ticks for round numbers: every round when there are few, otherwise round multiples. */
function integerTicks(min: number, max: number): Ticks {
  if (max - min <= 12) {
    const ticks = Array.from({ length: max - min + 1 }, (_, index) => min + index);
    return { min, max, ticks };
  }
  const step = Math.max(1, niceStep((max - min) / 8));
  const ticks: number[] = [];
  for (let value = Math.ceil(min / step) * step; value <= max; value += step) ticks.push(value);
  return { min, max, ticks };
}

// ───────────────────────────── line chart ─────────────────────────────

export interface LinePoint {
  readonly x: number;
  /** NaN or ±Infinity leaves a gap in the line (e.g. a diverged loss). */
  readonly y: number;
}

export interface LineSeries {
  readonly name: string;
  readonly points: readonly LinePoint[];
  /** Palette slot; defaults to the series' position. Lets a derived chart keep each experiment's colour. */
  readonly colourIndex?: number;
}

export interface LineChartOptions extends ChartFrame {
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly LineSeries[];
  /** For tooltips: full precision. */
  readonly formatY: (value: number) => string;
  /** For axis ticks, which are round numbers and read better short; defaults to formatY. */
  readonly formatTick?: (value: number) => string;
  /** Limits the automatic y range, e.g. accuracy never beyond [0, 1]. */
  readonly yBounds?: { readonly min?: number; readonly max?: number };
  readonly includeZero?: boolean;
  /** A value drawn as an emphasised horizontal line, e.g. 0 on a gap chart. */
  readonly referenceY?: number;
  /** A legend is drawn when there are several series; this forces one for a single series too. */
  readonly alwaysShowLegend?: boolean;
  readonly emptyMessage?: string;
}

export function lineChart(options: LineChartOptions): string {
  const finite = options.series.flatMap((series) =>
    series.points.filter((point) => Number.isFinite(point.x) && Number.isFinite(point.y)),
  );
  if (finite.length === 0) return emptyChart(options, options.emptyMessage ?? 'No data yet.');

  const width = 560;
  const height = 320;
  const margin = { top: 14, right: 18, bottom: 50, left: 66 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;

  const xs = finite.map((point) => point.x);
  const [xMin, xMax] = extent(xs);
  const xTicks = integerTicks(Math.floor(xMin), Math.ceil(xMax));
  const xSpan = xMax - xMin;
  // A single round sits in the middle instead of on the axis.
  const xScale = (x: number) =>
    margin.left + (xSpan === 0 ? plotWidth / 2 : ((x - xMin) / xSpan) * plotWidth);

  const ys = finite.map((point) => point.y);
  if (options.referenceY !== undefined) ys.push(options.referenceY);
  let [yLow, yHigh] = extent(ys);
  if (options.includeZero) {
    yLow = Math.min(0, yLow);
    yHigh = Math.max(0, yHigh);
  }
  const rawTicks = niceTicks(yLow, yHigh, 5);
  const boundMin = options.yBounds?.min ?? -Infinity;
  const boundMax = options.yBounds?.max ?? Infinity;
  const yTickValues = rawTicks.ticks.filter((tick) => tick >= boundMin - 1e-9 && tick <= boundMax + 1e-9);
  const yMin = Math.max(rawTicks.min, boundMin);
  const yMax = Math.min(rawTicks.max, boundMax);
  const ySpan = yMax - yMin || 1;
  const yScale = (y: number) => margin.top + plotHeight - ((y - yMin) / ySpan) * plotHeight;

  const parts: string[] = [openSvg(options, width, height)];

  parts.push('<g class="grid">');
  for (const tick of yTickValues) {
    const y = yScale(tick);
    parts.push(
      `<line x1="${px(margin.left)}" x2="${px(width - margin.right)}" y1="${px(y)}" y2="${px(y)}" stroke="${GRID_COLOUR}"/>`,
      `<text x="${px(margin.left - 8)}" y="${px(y + 4)}" text-anchor="end" fill="${AXIS_COLOUR}">${escapeHtml((options.formatTick ?? options.formatY)(tick))}</text>`,
    );
  }
  for (const tick of xTicks.ticks) {
    const x = xScale(tick);
    parts.push(
      `<line x1="${px(x)}" x2="${px(x)}" y1="${px(margin.top + plotHeight)}" y2="${px(margin.top + plotHeight + 5)}" stroke="${AXIS_COLOUR}"/>`,
      `<text x="${px(x)}" y="${px(margin.top + plotHeight + 19)}" text-anchor="middle" fill="${AXIS_COLOUR}">${tick}</text>`,
    );
  }
  parts.push('</g>');

  if (options.referenceY !== undefined) {
    const y = yScale(options.referenceY);
    parts.push(
      `<line class="reference" x1="${px(margin.left)}" x2="${px(width - margin.right)}" y1="${px(y)}" y2="${px(y)}" stroke="${AXIS_COLOUR}" stroke-width="1.5"/>`,
    );
  }
  parts.push(
    `<line x1="${px(margin.left)}" x2="${px(width - margin.right)}" y1="${px(margin.top + plotHeight)}" y2="${px(margin.top + plotHeight)}" stroke="${AXIS_COLOUR}"/>`,
    `<text x="${px(margin.left + plotWidth / 2)}" y="${px(height - 8)}" text-anchor="middle" font-size="${FONT_AXIS}" fill="${AXIS_COLOUR}">${escapeHtml(options.xLabel)}</text>`,
    `<text transform="translate(16 ${px(margin.top + plotHeight / 2)}) rotate(-90)" text-anchor="middle" font-size="${FONT_AXIS}" fill="${AXIS_COLOUR}">${escapeHtml(options.yLabel)}</text>`,
  );

  const pointCount = Math.max(...options.series.map((series) => series.points.length));
  const radius = pointCount > 60 ? 1.8 : pointCount > 25 ? 2.6 : 3.6;
  options.series.forEach((series, position) => {
    const index = series.colourIndex ?? position;
    const colour = seriesColour(index);
    const dash = seriesDash(index);
    let path = '';
    let penDown = false;
    const circles: string[] = [];
    for (const point of series.points) {
      if (!Number.isFinite(point.y) || !Number.isFinite(point.x)) {
        penDown = false;
        continue;
      }
      const x = xScale(point.x);
      const y = yScale(point.y);
      path += `${penDown ? 'L' : 'M'}${px(x)} ${px(y)}`;
      penDown = true;
      const label = `${series.name} · ${options.xLabel.toLowerCase()} ${point.x}: ${options.formatY(point.y)}`;
      circles.push(
        `<circle data-point cx="${px(x)}" cy="${px(y)}" r="${radius}" fill="${colour}" stroke="#fff" stroke-width="1"><title>${escapeHtml(label)}</title></circle>`,
      );
    }
    parts.push(
      `<g class="series" data-series="${escapeHtml(series.name)}">`,
      path
        ? `<path d="${path}" fill="none" stroke="${colour}" stroke-width="2.4" stroke-linejoin="round" stroke-linecap="round"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`
        : '',
      ...circles,
      '</g>',
    );
  });
  parts.push('</svg>');

  const legend =
    options.series.length > 1 || options.alwaysShowLegend
      ? `<ul class="legend">${options.series
          .map((series, position) => {
            const index = series.colourIndex ?? position;
            const dash = seriesDash(index);
            return (
              `<li data-legend><svg width="26" height="10" aria-hidden="true"><line x1="1" x2="25" y1="5" y2="5" stroke="${seriesColour(index)}" stroke-width="3"${dash ? ` stroke-dasharray="${dash}"` : ''}/></svg>` +
              `${escapeHtml(series.name)}</li>`
            );
          })
          .join('')}</ul>`
      : '';
  return figure(options, parts.join(''), legend);
}


/**
 * The same line chart as a stand-alone .svg file (for Markdown docs): lineChart's title and legend are HTML around
 * its <svg>, so here they are drawn inside, with the SVG namespace, a white background, and the XML rule that every
 * attribute has a value.
 */
export function lineChartSvgFile(options: LineChartOptions): string {
  const figureHtml = lineChart(options);
  const start = figureHtml.indexOf('<svg');
  if (start < 0) throw new RangeError(`lineChartSvgFile: nothing to draw for "${options.title}"`);
  // The chart's own <svg> nests none; the legend's swatches after it are <svg>s too, hence the first close after start.
  const chart = figureHtml.slice(start, figureHtml.indexOf('</svg>', start) + '</svg>'.length);
  const [, chartWidth = 0, chartHeight = 0] = (/viewBox="0 0 ([\d.]+) ([\d.]+)"/.exec(chart) ?? []).map(Number);
  const titleHeight = 30;
  const rowHeight = 22;
  const swatch = 26;
  const longestLabel = Math.max(0, ...options.series.map((series) => series.name.length));
  const legendWidth = 16 + swatch + 8 + longestLabel * CHAR_WIDTH + 12;
  const width = Math.ceil(chartWidth + legendWidth);
  const height = Math.ceil(Math.max(titleHeight + chartHeight, titleHeight + 20 + options.series.length * rowHeight));
  const legend = options.series.map((series, position) => {
    const index = series.colourIndex ?? position;
    const dash = seriesDash(index);
    return (
      `<g data-legend="" transform="translate(${px(chartWidth + 16)} ${titleHeight + 24 + position * rowHeight})">` +
      `<line x1="0" x2="${swatch}" y1="0" y2="0" stroke="${seriesColour(index)}" stroke-width="3"${dash ? ` stroke-dasharray="${dash}"` : ''}/>` +
      `<text x="${swatch + 8}" y="4" fill="#1f2430">${escapeHtml(series.name)}</text></g>`
    );
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="${FONT_TICK}">`,
    '<rect width="100%" height="100%" fill="#fff"/>',
    `<text x="16" y="20" font-size="15" font-weight="600" fill="#1f2430">${escapeHtml(options.title)}</text>`,
    chart
      .replace('<svg ', `<svg x="0" y="${titleHeight}" width="${chartWidth}" height="${chartHeight}" `)
      .replace(/ (data-[a-z-]+)(?=[\s/>])/g, ' $1=""'),
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}
// ───────────────────────────── heatmap ─────────────────────────────

export interface HeatmapOptions extends ChartFrame {
  readonly rowLabels: readonly string[];
  readonly columnLabels: readonly string[];
  readonly rowAxisLabel: string;
  readonly columnAxisLabel: string;
  /** values[row][column]; undefined draws a hatched "no data" cell. */
  readonly values: readonly (readonly (number | undefined)[])[];
  /** Values mapped onto the colour scale; outside it they clamp. */
  readonly domain: readonly [number, number];
  /** Bright for low values, for measures where low is good (loss). */
  readonly reverse?: boolean;
  /** Cell text; an empty string leaves a cell without text (e.g. zeros in a confusion matrix). */
  readonly formatValue: (value: number) => string;
  /** Labels of the colour scale's ends; defaults to formatValue. */
  readonly formatScale?: (value: number) => string;
  /** Tooltip text for a cell; defaults to "row label · column label: value". */
  readonly describeCell?: (row: number, column: number, value: number | undefined) => string;
  readonly legendLabel: string;
  /** Caps the cell width so a heatmap meant for half a page keeps readable text; default 64. */
  readonly maxCellWidth?: number;
  readonly emptyMessage?: string;
}

export function heatmap(options: HeatmapOptions): string {
  const rows = options.rowLabels.length;
  const columns = options.columnLabels.length;
  if (rows === 0 || columns === 0) return emptyChart(options, options.emptyMessage ?? 'No data yet.');

  const longestRowLabel = Math.max(...options.rowLabels.map((label) => label.length));
  const labelWidth = Math.max(28, longestRowLabel * CHAR_WIDTH + 10);
  const left = labelWidth + 24;
  const top = 8;
  const cellWidth = Math.min(options.maxCellWidth ?? 64, Math.max(5, 760 / columns));
  const cellHeight = rows <= 12 ? 30 : Math.min(30, Math.max(4, 420 / rows));
  const plotWidth = cellWidth * columns;
  const plotHeight = cellHeight * rows;
  const legendWidth = Math.max(76, options.legendLabel.length * CHAR_WIDTH + 8);
  const width = left + plotWidth + 16 + legendWidth;
  const height = top + plotHeight + 48;
  const showValues = cellWidth >= 36 && cellHeight >= 18;
  const columnLabelEvery = labelStep(cellWidth, 30);
  const rowLabelEvery = labelStep(cellHeight, 14);
  const [domainLow, domainHigh] = options.domain;
  const domainSpan = domainHigh - domainLow || 1;
  const colourOf = (value: number) => {
    const t = (value - domainLow) / domainSpan;
    return viridis(options.reverse ? 1 - t : t);
  };
  const describe =
    options.describeCell ??
    ((row: number, column: number, value: number | undefined) =>
      `${options.rowAxisLabel} ${options.rowLabels[row] ?? ''} · ${options.columnAxisLabel.toLowerCase()} ${options.columnLabels[column] ?? ''}: ${value === undefined ? 'no data' : options.formatValue(value)}`);

  const hatchId = `${options.id}-nodata`;
  const gradientId = `${options.id}-scale`;
  const parts: string[] = [openSvg(options, width, height)];
  // SVG ignores stops whose offsets go backwards, so a reversed scale reverses the list as well as the offsets.
  const scaleStops = options.reverse
    ? viridisStops().map((stop) => ({ offset: 1 - stop.offset, colour: stop.colour })).reverse()
    : viridisStops();
  const stops = scaleStops.map((stop) => `<stop offset="${px(stop.offset * 100)}%" stop-color="${stop.colour}"/>`).join('');
  parts.push(
    `<defs><pattern id="${hatchId}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
      `<rect width="6" height="6" fill="#f1f2f5"/><line x1="0" y1="0" x2="0" y2="6" stroke="#c5cad3" stroke-width="2"/></pattern>` +
      `<linearGradient id="${gradientId}" x1="0" y1="1" x2="0" y2="0">${stops}</linearGradient></defs>`,
  );

  parts.push('<g class="cells">');
  for (let row = 0; row < rows; row += 1) {
    for (let column = 0; column < columns; column += 1) {
      const value = options.values[row]?.[column];
      const known = value !== undefined && Number.isFinite(value);
      const x = left + column * cellWidth;
      const y = top + row * cellHeight;
      const fill = known ? colourOf(value) : `url(#${hatchId})`;
      const title = escapeHtml(describe(row, column, known ? value : undefined));
      parts.push(
        `<rect data-cell data-row="${row}" data-column="${column}"${known ? '' : ' data-missing'} x="${px(x)}" y="${px(y)}" width="${px(cellWidth)}" height="${px(cellHeight)}" fill="${fill}" stroke="#fff" stroke-width="${cellWidth >= 8 ? 1 : 0}"><title>${title}</title></rect>`,
      );
      const text = showValues && known ? options.formatValue(value) : '';
      if (text) {
        parts.push(
          `<text x="${px(x + cellWidth / 2)}" y="${px(y + cellHeight / 2 + 4)}" text-anchor="middle" font-size="11" fill="${textColourOn(fill)}" pointer-events="none">${escapeHtml(text)}</text>`,
        );
      }
    }
  }
  parts.push('</g>');

  for (let row = 0; row < rows; row += 1) {
    if (!isLabelled(row, rowLabelEvery)) continue;
    parts.push(
      `<text x="${px(left - 6)}" y="${px(top + row * cellHeight + cellHeight / 2 + 4)}" text-anchor="end" fill="${AXIS_COLOUR}">${escapeHtml(options.rowLabels[row] ?? '')}</text>`,
    );
  }
  for (let column = 0; column < columns; column += 1) {
    if (!isLabelled(column, columnLabelEvery)) continue;
    parts.push(
      `<text x="${px(left + column * cellWidth + cellWidth / 2)}" y="${px(top + plotHeight + 16)}" text-anchor="middle" fill="${AXIS_COLOUR}">${escapeHtml(options.columnLabels[column] ?? '')}</text>`,
    );
  }
  parts.push(
    `<text x="${px(left + plotWidth / 2)}" y="${px(height - 8)}" text-anchor="middle" font-size="${FONT_AXIS}" fill="${AXIS_COLOUR}">${escapeHtml(options.columnAxisLabel)}</text>`,
    `<text transform="translate(14 ${px(top + plotHeight / 2)}) rotate(-90)" text-anchor="middle" font-size="${FONT_AXIS}" fill="${AXIS_COLOUR}">${escapeHtml(options.rowAxisLabel)}</text>`,
  );

  const legendX = left + plotWidth + 22;
  const legendHeight = Math.min(plotHeight, 180);
  parts.push(
    `<g class="colour-scale"><rect x="${px(legendX)}" y="${px(top)}" width="14" height="${px(legendHeight)}" fill="url(#${gradientId})" stroke="${GRID_COLOUR}"/>`,
    `<text x="${px(legendX + 20)}" y="${px(top + 10)}" fill="${AXIS_COLOUR}">${escapeHtml((options.formatScale ?? options.formatValue)(domainHigh))}</text>`,
    `<text x="${px(legendX + 20)}" y="${px(top + legendHeight)}" fill="${AXIS_COLOUR}">${escapeHtml((options.formatScale ?? options.formatValue)(domainLow))}</text>`,
    `<text x="${px(legendX)}" y="${px(top + legendHeight + 18)}" fill="${AXIS_COLOUR}">${escapeHtml(options.legendLabel)}</text></g>`,
  );
  parts.push('</svg>');
  return figure(options, parts.join(''));
}

// ───────────────────────────── stacked bars ─────────────────────────────

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
