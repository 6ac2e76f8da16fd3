/**
 * Inline SVG charts: strings in, strings out, no DOM and no script, so a report is one file that opens anywhere.
 *
 * Every chart is a <figure data-chart="id"> whose marks carry data attributes (data-series, data-point, data-cell,
 * data-bar, data-segment) so tests and people with devtools can count what is drawn. Each mark has a <title>
 * that browsers show as a tooltip, so exact values are one hover away.
 */

export type { ChartFrame } from './chart-frame.js';
export { niceTicks, type Ticks } from './chart-ticks.js';
export { heatmap, type HeatmapOptions } from './heatmap.js';
export { lineChart, lineChartSvgFile, type LineChartOptions, type LinePoint, type LineSeries } from './line-chart.js';
export { stackedBars, type Bar, type BarSegment, type StackedBarsOptions } from './stacked-bars.js';
