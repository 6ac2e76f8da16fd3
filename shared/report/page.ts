/**
 * The HTML shell shared by the report and the comparison: one file, inline CSS, no script, no external resource,
 * so it can be mailed, archived in S3 or opened from file:// and look the same.
 */

import { escapeHtml } from './escape.js';

const STYLE = `
:root {
  --ink: #1d2433; --muted: #5b6475; --line: #e3e6ec; --page: #f5f6f8; --card: #ffffff;
  --good: #00795b; --bad: #b4410d; --accent: #0072b2;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; color: var(--ink); background: var(--page);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", Arial, sans-serif;
}
header.page-header { background: var(--card); border-bottom: 1px solid var(--line); }
.wrap { max-width: 1200px; margin: 0 auto; padding: 0 28px; }
header.page-header .wrap { padding-top: 22px; padding-bottom: 18px; }
.eyebrow { margin: 0; color: var(--muted); font-size: 13px; letter-spacing: .04em; text-transform: uppercase; }
h1 { margin: 2px 0 8px; font-size: 28px; line-height: 1.2; overflow-wrap: anywhere; }
h2 { margin: 0 0 4px; font-size: 19px; }
h3 { margin: 0; font-size: 15px; }
.facts { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 0; padding: 0; list-style: none; color: var(--muted); font-size: 14px; }
.facts b { color: var(--ink); font-weight: 600; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600; vertical-align: 3px; border: 1px solid currentColor; }
.badge.completed { color: var(--good); }
.badge.failed { color: var(--bad); }
.badge.running, .badge.incomplete { color: #8a6d00; }
main.wrap { padding-top: 20px; padding-bottom: 40px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; margin-bottom: 18px; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 10px 14px; }
.tile .label { color: var(--muted); font-size: 13px; }
.tile .value { font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums; line-height: 1.25; }
.tile .note { color: var(--muted); font-size: 12.5px; }
section.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 18px 20px 20px; margin-bottom: 18px; }
section.card > p.lede { margin: 0 0 14px; color: var(--muted); font-size: 14px; max-width: 80ch; }
.grid-2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 18px 28px; }
figure.chart { margin: 0; min-width: 0; }
figure.chart figcaption { margin-bottom: 6px; }
.chart-subtitle { margin: 0; color: var(--muted); font-size: 13px; }
figure.chart > svg { display: block; width: 100%; height: auto; font-family: inherit; }
.chart-empty { margin: 8px 0; padding: 26px; text-align: center; color: var(--muted); background: var(--page); border-radius: 8px; }
ul.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 8px 0 0; padding: 0; list-style: none; font-size: 13px; }
ul.legend li { display: inline-flex; align-items: center; gap: 6px; overflow-wrap: anywhere; }
.table-scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13.5px; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { color: var(--muted); font-weight: 600; background: #fafbfc; white-space: normal; vertical-align: bottom; max-width: 16em; }
th:first-child, td:first-child, .left { text-align: left; }
td.prose { white-space: normal; overflow-wrap: break-word; min-width: 7em; max-width: 22em; }
small.id { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
tr.final td { font-weight: 650; border-top: 2px solid var(--line); }
.gain { color: var(--good); }
.loss { color: var(--bad); }
.notice { border-left: 4px solid #e69f00; background: #fff8e6; padding: 8px 12px; margin: 0 0 14px; border-radius: 4px; font-size: 14px; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 0; font-size: 14px; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; overflow-wrap: anywhere; }
pre.config { margin: 0; padding: 12px 14px; background: var(--page); border-radius: 8px; overflow-x: auto; font-size: 12.5px; line-height: 1.45; }
footer { color: var(--muted); font-size: 12.5px; padding: 4px 0 28px; }
@media print { body { background: #fff; } section.card, .tile { break-inside: avoid; border-color: #ccc; } }
`;

export interface PageParts {
  /** Plain text for the <title>; escaped here. */
  readonly title: string;
  /** Trusted HTML built by the renderers (already escaped where it holds user text). */
  readonly header: string;
  readonly body: string;
  readonly footer: string;
}

export function renderPage(parts: PageParts): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="flambda">
<title>${escapeHtml(parts.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header class="page-header"><div class="wrap">${parts.header}</div></header>
<main class="wrap">
${parts.body}
<footer>${parts.footer}</footer>
</main>
</body>
</html>
`;
}

export function section(title: string, lede: string, content: string, id?: string): string {
  const idAttribute = id ? ` id="${escapeHtml(id)}"` : '';
  const ledeHtml = lede ? `<p class="lede">${lede}</p>` : '';
  return `<section class="card"${idAttribute}><h2>${escapeHtml(title)}</h2>${ledeHtml}${content}</section>`;
}

export function tile(label: string, value: string, note = ''): string {
  return (
    `<div class="tile"><div class="label">${escapeHtml(label)}</div><div class="value">${escapeHtml(value)}</div>` +
    `${note ? `<div class="note">${escapeHtml(note)}</div>` : ''}</div>`
  );
}

export interface TableOptions {
  /** Left-aligned columns (numbers are right-aligned; the first column is always left-aligned). */
  readonly leftColumns?: readonly number[];
  /** Columns of prose that may wrap onto several lines. */
  readonly wrapColumns?: readonly number[];
  /** Sets the last row apart, e.g. a Final row. */
  readonly finalRow?: boolean;
}

/** A table from plain-text headers (escaped here) and already-escaped cell HTML. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], options: TableOptions = {}): string {
  const left = new Set(options.leftColumns ?? []);
  const wrap = new Set(options.wrapColumns ?? []);
  const cellClass = (index: number, isHeader: boolean) => {
    const classes = [left.has(index) || wrap.has(index) ? 'left' : '', !isHeader && wrap.has(index) ? 'prose' : ''].filter(Boolean);
    return classes.length > 0 ? ` class="${classes.join(' ')}"` : '';
  };
  const head = headers.map((header, index) => `<th scope="col"${cellClass(index, true)}>${escapeHtml(header)}</th>`).join('');
  const body = rows
    .map((row, rowIndex) => {
      const isFinal = options.finalRow === true && rowIndex === rows.length - 1;
      return `<tr${isFinal ? ' class="final"' : ''}>${row.map((cell, index) => `<td${cellClass(index, false)}>${cell}</td>`).join('')}</tr>`;
    })
    .join('');
  return `<div class="table-scroll"><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}
