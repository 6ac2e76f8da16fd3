/**
 * Reports people look at: one experiment as a self-contained HTML page and a Markdown summary, several experiments
 * overlaid for comparison. Renderers are pure (metrics in, text out); only load.ts reads files.
 */

export {
  loadExperimentMetrics,
  loadExperimentStatus,
  resolveExperimentFolder,
  ReportInputError,
  METRICS_FILE,
  STATUS_FILE,
  SUMMARY_FILE,
} from './load.js';
export { renderReportHtml } from './html.js';
export { renderSummaryMarkdown } from './markdown.js';
export {
  compareAccuracy,
  renderComparisonHtml,
  renderComparisonMarkdown,
  type AccuracyComparison,
  type ComparisonRow,
} from './compare.js';
export {
  heatmap,
  lineChart,
  lineChartSvgFile,
  niceTicks,
  stackedBars,
  type Bar,
  type BarSegment,
  type HeatmapOptions,
  type LineChartOptions,
  type LinePoint,
  type LineSeries,
  type StackedBarsOptions,
} from './charts.js';
export { digestExperiment, experimentLabels, type ExperimentDigest, type ReportContext } from './digest.js';
export { escapeHtml, escapeMarkdown } from './escape.js';
export { formatBytes, formatDuration, formatLoss, formatPercent, formatPoints } from './format.js';
