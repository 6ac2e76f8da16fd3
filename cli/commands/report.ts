import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import {
  loadExperimentMetrics,
  loadExperimentStatus,
  renderReportHtml,
  renderSummaryMarkdown,
  ReportInputError,
  resolveExperimentFolder,
} from '../../shared/report/index.js';
import { UserError } from '../errors.js';

interface ReportOptions {
  out: string;
  output?: string;
}

export const REPORT_FILE = 'report.html';
export const SUMMARY_MARKDOWN_FILE = 'summary.md';

export function reportCommand(): Command {
  return new Command('report')
    .description(
      `Write ${REPORT_FILE} (one self-contained page of charts: accuracy and loss per round, per-class accuracy, ` +
        `label distribution per client, timing) and ${SUMMARY_MARKDOWN_FILE} for one experiment, then print their paths.`,
    )
    .argument('<experiment>', 'an experiment id (looked up under --out) or the path of a results folder')
    .option('-o, --out <dir>', 'results folder that `flambda run` wrote to', 'results')
    .option('--output <dir>', 'folder to write the report into (default: the experiment folder)')
    .addHelpText(
      'after',
      '\nExamples:\n  flambda report mnist-iid-20250301-140211\n  flambda report results/mnist-iid-20250301-140211 --output /tmp/report',
    )
    .action(async (experiment: string, options: ReportOptions) => {
      const written = await writeReport(experiment, options);
      console.log(`report:  ${written.report}\nsummary: ${written.summary}`);
    });
}

async function writeReport(experiment: string, options: ReportOptions): Promise<{ report: string; summary: string }> {
  try {
    const folder = await resolveExperimentFolder(experiment, options.out);
    const metrics = await loadExperimentMetrics(folder);
    const status = await loadExperimentStatus(folder);
    const context = status === undefined ? {} : { status };
    const outputFolder = options.output ?? folder;
    await mkdir(outputFolder, { recursive: true });
    const report = path.join(outputFolder, REPORT_FILE);
    const summary = path.join(outputFolder, SUMMARY_MARKDOWN_FILE);
    await writeFile(report, renderReportHtml(metrics, context));
    await writeFile(summary, renderSummaryMarkdown(metrics, context));
    return { report, summary };
  } catch (error) {
    throw asUserError(error);
  }
}

/** Input problems become one readable line from cli/main.ts; anything else is a bug and keeps its stack. */
export function asUserError(error: unknown): unknown {
  if (error instanceof ReportInputError) return new UserError(error.message);
  if (error instanceof Error && 'code' in error && typeof error.code === 'string' && ['EACCES', 'EROFS', 'ENOTDIR', 'EEXIST', 'ENOSPC'].includes(error.code)) {
    return new UserError(error.message);
  }
  return error;
}
