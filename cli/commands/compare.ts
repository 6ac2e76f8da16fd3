import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import type { ExperimentMetrics } from '../../shared/metrics/types.js';
import {
  loadExperimentMetrics,
  renderComparisonHtml,
  renderComparisonMarkdown,
  resolveExperimentFolder,
} from '../../shared/report/index.js';
import { UserError } from '../errors.js';
import { asUserError } from './report.js';

interface CompareOptions {
  out: string;
  output?: string;
}

export const COMPARE_FILE = 'compare.html';

export function compareCommand(): Command {
  return new Command('compare')
    .description(
      'Overlay several experiments (e.g. IID vs label skew) on one accuracy chart: write a self-contained HTML page and ' +
        'print a Markdown table of accuracy per round with the gap, in percentage points, to the first experiment.',
    )
    .argument('<experiments...>', 'two or more experiment ids (looked up under --out) or results folders; the first is the baseline')
    .option('-o, --out <dir>', 'results folder that `flambda run` wrote to', 'results')
    .option('--output <file>', `HTML file to write (default: ${COMPARE_FILE} in the folder holding the experiments, or in --out)`)
    .addHelpText(
      'after',
      '\nThe Markdown table goes to stdout and the path of the HTML file to stderr, so\n' +
        '`flambda compare a b > table.md` keeps only the table.\n' +
        '\nExamples:\n  flambda compare mnist-iid-20250301-140211 mnist-label-skew-20250301-140211\n' +
        '  flambda compare results/iid results/skew results/dirichlet --output iid-vs-skew.html',
    )
    .action(async (experiments: string[], options: CompareOptions) => {
      if (experiments.length < 2) throw new UserError('compare needs at least two experiments (the first is the baseline)');
      const { markdown, output } = await writeComparison(experiments, options);
      console.log(markdown);
      console.error(`comparison page: ${output}`);
    });
}

async function writeComparison(experiments: readonly string[], options: CompareOptions): Promise<{ markdown: string; output: string }> {
  try {
    const folders: string[] = [];
    const list: ExperimentMetrics[] = [];
    for (const experiment of experiments) {
      const folder = await resolveExperimentFolder(experiment, options.out);
      folders.push(folder);
      list.push(await loadExperimentMetrics(folder));
    }
    const output = options.output ?? path.join(commonParent(folders) ?? options.out, COMPARE_FILE);
    await mkdir(path.dirname(path.resolve(output)), { recursive: true });
    await writeFile(output, renderComparisonHtml(list));
    return { markdown: renderComparisonMarkdown(list), output };
  } catch (error) {
    throw asUserError(error);
  }
}

/** The folder the experiment folders sit in, as the user named it, when they all sit in the same one. */
function commonParent(folders: readonly string[]): string | undefined {
  const parents = new Set(folders.map((folder) => path.dirname(path.resolve(folder))));
  return parents.size === 1 ? path.dirname(folders[0]!) : undefined;
}
