/**
 * Number and text formatting shared by the HTML and Markdown renderers, so a figure reads the same in both.
 * The locale is pinned: a report must not change with the machine that renders it.
 */

const LOCALE = 'en-US';
const integerFormat = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
const DASH = '—';

export function formatCount(value: number): string {
  return Number.isFinite(value) ? integerFormat.format(value) : DASH;
}

/** A 0–1 fraction as a percentage, e.g. 0.9123 → "91.2%". */
export function formatPercent(fraction: number, digits = 1): string {
  return Number.isFinite(fraction) ? `${(fraction * 100).toFixed(digits)}%` : DASH;
}

/** A percentage for an axis tick: no decimals unless the tick needs them (92.5%). */
export function formatPercentTick(fraction: number): string {
  const percent = Math.round(fraction * 1000) / 10;
  return `${Number.isInteger(percent) ? percent.toFixed(0) : percent.toFixed(1)}%`;
}

/** A difference in percentage points with an explicit sign, e.g. +4.1 pp; ASCII minus so it pastes into spreadsheets. */
export function formatPoints(points: number, digits = 1): string {
  if (!Number.isFinite(points)) return DASH;
  const rounded = points.toFixed(digits);
  // "-0.0" would claim a loss that rounding erased.
  if (Number(rounded) === 0) return `${(0).toFixed(digits)} pp`;
  return `${points > 0 ? '+' : ''}${rounded} pp`;
}

/** Cross-entropy loss spans 2.3 (chance on 10 classes) down to ~0.01: three decimals keep both ends readable. */
export function formatLoss(loss: number): string {
  if (!Number.isFinite(loss)) return DASH;
  return Math.abs(loss) >= 100 ? loss.toFixed(0) : loss.toFixed(3);
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return DASH;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const totalSeconds = Math.round(seconds);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const rest = totalSeconds % 60;
  if (hours > 0) return `${hours} h ${String(minutes).padStart(2, '0')} min`;
  return `${minutes} min ${String(rest).padStart(2, '0')} s`;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return DASH;
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** A timestamp as "2025-03-01 14:02:11 UTC", or the input unchanged if it is not a date. */
export function formatTimestamp(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function pluralise(count: number, singular: string, plural = `${singular}s`): string {
  return `${formatCount(count)} ${count === 1 ? singular : plural}`;
}
