/** Shared by every chart, so that the charts of one report look alike and stay one self-contained file. */

import { escapeHtml } from './escape.js';

export interface ChartFrame {
  /** Internal identifier (not user input): becomes data-chart and the prefix of SVG ids. */
  readonly id: string;
  readonly title: string;
  readonly subtitle?: string;
}

export const AXIS_COLOUR = '#5b6475';
export const GRID_COLOUR = '#e3e6ec';
export const FONT_TICK = 12;
export const FONT_AXIS = 13;
/** Rough width of one character of the 12 px sans-serif tick font: enough to keep labels from colliding. */
export const CHAR_WIDTH = 7;

/** One decimal is finer than a pixel and keeps the file small. */
export function px(value: number): string {
  return String(Math.round(value * 10) / 10);
}

export function figure(frame: ChartFrame, svg: string, legend = ''): string {
  const subtitle = frame.subtitle ? `<p class="chart-subtitle">${escapeHtml(frame.subtitle)}</p>` : '';
  return (
    `<figure class="chart" data-chart="${escapeHtml(frame.id)}">` +
    `<figcaption><h3>${escapeHtml(frame.title)}</h3>${subtitle}</figcaption>` +
    `${svg}${legend}</figure>`
  );
}

export function openSvg(frame: ChartFrame, width: number, height: number): string {
  return (
    `<svg viewBox="0 0 ${px(width)} ${px(height)}" style="max-width:${px(width)}px" role="img" ` +
    `aria-label="${escapeHtml(frame.title)}" font-size="${FONT_TICK}">`
  );
}

export function emptyChart(frame: ChartFrame, message: string): string {
  return figure(frame, `<p class="chart-empty">${escapeHtml(message)}</p>`);
}
