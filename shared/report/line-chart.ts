import { escapeHtml } from './escape.js';
import { AXIS_COLOUR, CHAR_WIDTH, type ChartFrame, emptyChart, figure, FONT_AXIS, FONT_TICK, GRID_COLOUR, openSvg, px } from './chart-frame.js';
import { integerTicks, niceTicks } from './chart-ticks.js';
import { seriesColour, seriesDash } from './palette.js';

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
