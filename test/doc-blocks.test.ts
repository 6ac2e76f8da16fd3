import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blockNames, BLOCKS, fillBlocks, FILES_WITH_BLOCKS, pytorchReference, REPO_ROOT } from '../bench/doc-blocks.js';
import { DEFAULT_RESULTS_FILE, readResults } from '../bench/results.js';

/** Figures quoted in README, docs and the infra sizing comment come from bench/benchmarks.json (like the schema test). */
const results = await readResults(DEFAULT_RESULTS_FILE);
const texts = Object.fromEntries(
  await Promise.all(FILES_WITH_BLOCKS.map(async (file) => [file, await readFile(path.join(REPO_ROOT, file), 'utf8')] as const)),
) as Record<(typeof FILES_WITH_BLOCKS)[number], string>;

describe('generated blocks', () => {
  it.each(FILES_WITH_BLOCKS)('%s is what bench/doc-blocks.ts renders from bench/benchmarks.json (run `npm run docs`)', (file) => {
    expect(blockNames(texts[file]).length).toBeGreaterThan(0);
    expect(texts[file]).toBe(fillBlocks(texts[file], results, file));
  });

  it('uses every block somewhere', () => {
    const used = new Set(Object.values(texts).flatMap(blockNames));
    expect(Object.keys(BLOCKS).filter((name) => !used.has(name))).toEqual([]);
  });

  it('notices a stale figure, an unknown block and a marker left open', () => {
    const stale = 'PyTorch: <!-- generated:pytorch-reference-iid -->98.40 %<!-- /generated -->.';
    expect(fillBlocks(stale, results)).toBe(`PyTorch: <!-- generated:pytorch-reference-iid -->${(pytorchReference(results).iid * 100).toFixed(2)} %<!-- /generated -->.`);
    expect(() => fillBlocks('<!-- generated:no-such-block --><!-- /generated -->', results)).toThrow('no renderer for generated block "no-such-block"');
    expect(() => fillBlocks('<!-- generated:fused-speedup -->', results)).toThrow('1 generated-block markers opened, 0 closed');
  });

  it('renders a block on its own lines with the prefix of its marker, as in a code comment', () => {
    const comment = ' * before\n *   <!-- generated:train-sizing -->\n *   <!-- /generated -->\n * after';
    const lines = fillBlocks(comment, results).split('\n');
    expect(lines.length).toBeGreaterThan(4);
    expect(lines.every((line) => line.startsWith(' *') && line.length <= 120)).toBe(true);
  });
});

describe('figures no longer quoted', () => {
  // The tape loop's speeds and the hand-typed PyTorch reference that these blocks replaced.
  it.each([
    ['the tape-loop sizing', /108–158 samples\/s|976 samples\/s/],
    ['the hand-typed PyTorch reference', /98\.4 %|90\.2 %|98\.40 %|90\.20 %/],
  ])('%s', async (_what, pattern) => {
    for (const file of [...FILES_WITH_BLOCKS, 'bench/reproduce.ts']) {
      const text = texts[file as (typeof FILES_WITH_BLOCKS)[number]] ?? (await readFile(path.join(REPO_ROOT, file), 'utf8'));
      expect(text, file).not.toMatch(pattern);
    }
  });
});
