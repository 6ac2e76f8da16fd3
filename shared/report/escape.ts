/**
 * Experiment names, client ids, rejection reasons and config values are user input: every piece of text that
 * reaches a report goes through one of these.
 */

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Safe both as element text and inside a double- or single-quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);
}

/**
 * Safe inside a Markdown table cell, heading or paragraph: backslash-escapes the characters that start emphasis,
 * code, links, cells, strikethrough or close a heading (`C#`); turns `&`, `<` and `>` into entities because
 * renderers pass inline HTML through; folds newlines into spaces.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/\r?\n|\r/g, ' ')
    .replace(/[\\`*_[\]#|~]/g, (character) => `\\${character}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}
