import { readFile, writeFile } from 'node:fs/promises';

/**
 * Replaces the text between `<!-- name:begin -->` and `<!-- name:end -->` in a doc, so a benchmark regenerates its
 * own table and leaves the prose around it alone.
 */
export async function replaceDocSection(file: string, name: string, body: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${file} has no ${begin} … ${end} section to write`);
  await writeFile(file, `${text.slice(0, from + begin.length)}\n${body.trim()}\n${text.slice(to)}`);
}
