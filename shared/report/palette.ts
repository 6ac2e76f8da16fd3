/**
 * Colour-blind-safe colours. Series use Okabe & Ito (2008); the ten digit classes need ten distinguishable hues,
 * which Paul Tol's "muted" scheme (nine hues + pale grey) provides; heatmaps use viridis, which stays ordered in
 * greyscale and for every common colour-vision deficiency.
 */

/** Okabe–Ito, reordered so the first colours are the strongest on white; yellow is last because it is faint. */
export const SERIES_COLOURS = [
  '#0072B2',
  '#D55E00',
  '#009E73',
  '#CC79A7',
  '#E69F00',
  '#56B4E9',
  '#000000',
  '#F0E442',
] as const;

/** Beyond eight series the hues repeat, so the line pattern carries the difference. */
const DASH_PATTERNS = ['', '6 4', '2 3', '10 3 2 3'] as const;

export function seriesColour(index: number): string {
  return SERIES_COLOURS[index % SERIES_COLOURS.length] ?? SERIES_COLOURS[0];
}

export function seriesDash(index: number): string {
  return DASH_PATTERNS[Math.floor(index / SERIES_COLOURS.length) % DASH_PATTERNS.length] ?? '';
}

/** Paul Tol "muted": rose, indigo, sand, green, cyan, wine, teal, olive, purple, pale grey. */
export const CLASS_COLOURS = [
  '#CC6677',
  '#332288',
  '#DDCC77',
  '#117733',
  '#88CCEE',
  '#882255',
  '#44AA99',
  '#999933',
  '#AA4499',
  '#BBBBBB',
] as const;

export function classColour(label: number): string {
  return CLASS_COLOURS[label % CLASS_COLOURS.length] ?? CLASS_COLOURS[0];
}

export const TIMING_COLOURS = {
  train: '#0072B2',
  wait: '#E69F00',
  aggregate: '#009E73',
} as const;

/** matplotlib's viridis sampled at 0, 0.1, …, 1. */
const VIRIDIS = [
  [0x44, 0x01, 0x54],
  [0x48, 0x24, 0x75],
  [0x41, 0x44, 0x87],
  [0x35, 0x5f, 0x8d],
  [0x2a, 0x78, 0x8e],
  [0x21, 0x91, 0x8c],
  [0x22, 0xa8, 0x84],
  [0x44, 0xbf, 0x70],
  [0x7a, 0xd1, 0x51],
  [0xbd, 0xdf, 0x26],
  [0xfd, 0xe7, 0x25],
] as const;

type Rgb = readonly [number, number, number];

function viridisRgb(t: number): Rgb {
  const clamped = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  const position = clamped * (VIRIDIS.length - 1);
  const lower = Math.floor(position);
  const upper = Math.min(lower + 1, VIRIDIS.length - 1);
  const weight = position - lower;
  const from = VIRIDIS[lower] ?? VIRIDIS[0];
  const to = VIRIDIS[upper] ?? VIRIDIS[0];
  const mix = (channel: 0 | 1 | 2) => Math.round(from[channel] + (to[channel] - from[channel]) * weight);
  return [mix(0), mix(1), mix(2)];
}

function toHex([red, green, blue]: Rgb): string {
  return `#${[red, green, blue].map((channel) => channel.toString(16).padStart(2, '0')).join('')}`;
}

/** Viridis colour for t in [0, 1] (clamped). */
export function viridis(t: number): string {
  return toHex(viridisRgb(t));
}

/** The viridis stops, for an SVG gradient legend that matches the cells exactly. */
export function viridisStops(): readonly { readonly offset: number; readonly colour: string }[] {
  return VIRIDIS.map((rgb, index) => ({ offset: index / (VIRIDIS.length - 1), colour: toHex(rgb) }));
}

/** Dark text on light cells and white text on dark ones, by WCAG relative luminance. */
export function textColourOn(hexColour: string): string {
  const channels = [1, 3, 5].map((start) => parseInt(hexColour.slice(start, start + 2), 16) / 255);
  const linear = channels.map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  const luminance = 0.2126 * linear[0]! + 0.7152 * linear[1]! + 0.0722 * linear[2]!;
  return luminance > 0.22 ? '#1d2433' : '#ffffff';
}
