import { escapeHtml } from './escape.js';
import { AXIS_COLOUR, CHAR_WIDTH, type ChartFrame, emptyChart, figure, FONT_AXIS, GRID_COLOUR, openSvg, px } from './chart-frame.js';
import { isLabelled, labelStep } from './chart-ticks.js';
import { textColourOn, viridis, viridisStops } from './palette.js';

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
