import { access } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import type { ExperimentMetrics, ExperimentStatus } from '../../shared/metrics/types.js';
import { readExperimentMetrics, readStatus } from '../../shared/pipeline/experiment.js';
import { loadExperimentMetrics, loadExperimentStatus } from '../../shared/report/index.js';
import { UserError } from '../errors.js';
import { formatRoundTable } from '../tables.js';
import { addTargetOptions, openTarget, parseTargetName, type TargetName } from '../targets.js';

interface StatusOptions {
  out: string;
  target: TargetName;
  stack: string;
  bucket?: string;
  endpoint?: string;
}

export function statusCommand(): Command {
  const command = new Command('status')
    .description(
      "Show an experiment's state and per-round table. Locally it reads <out>/<id>/ (a finished `flambda run`), or a " +
        'running `flambda dev` with --endpoint; with --target aws|localstack it reads the bucket.',
    )
    .argument('<id>', 'experiment id')
    .option('-o, --out <dir>', 'local results folder', 'results');
  return addTargetOptions(command, 'where the experiment runs')
    .action(async (experimentId: string, options: StatusOptions) => {
      const target = parseTargetName(options.target);
      const found = target === 'local' && !options.endpoint
        ? await fromResultsFolder(path.join(options.out, experimentId))
        : await fromBucket(experimentId, { ...options, target });
      printStatus(found.status, found.metrics);
      process.exitCode = found.status.state === 'failed' ? 1 : 0;
    });
}

async function fromResultsFolder(folder: string): Promise<{ status: ExperimentStatus; metrics?: ExperimentMetrics }> {
  const status = await loadExperimentStatus(folder).catch((error: Error) => {
    throw new UserError(error.message);
  });
  if (!status) {
    throw new UserError(`no experiment at ${folder} (status.json missing). Local experiments live in memory while they run; use --endpoint with \`flambda dev\`.`);
  }
  const hasMetrics = await access(path.join(folder, 'metrics.json')).then(() => true, () => false);
  return { status, ...(hasMetrics ? { metrics: await loadExperimentMetrics(folder) } : {}) };
}

async function fromBucket(experimentId: string, options: StatusOptions) {
  const target = await openTarget(options);
  try {
    const status = await readStatus(target.store, experimentId);
    if (!status) throw new UserError(`no experiment "${experimentId}" in ${target.description}`);
    const metrics = await readExperimentMetrics(target.store, experimentId);
    return { status, ...(metrics ? { metrics } : {}) };
  } finally {
    await target.close();
  }
}

function printStatus(status: ExperimentStatus, metrics: ExperimentMetrics | undefined): void {
  const accuracy = status.lastAccuracy === undefined ? '' : `, accuracy ${(status.lastAccuracy * 100).toFixed(2)} %`;
  const privacy = metrics?.rounds.at(-1)?.privacy;
  const epsilon = privacy ? `, ε ${privacy.epsilon.toFixed(3)} at δ ${privacy.delta}` : '';
  console.log(`${status.experimentId}: ${status.state}, round ${status.round}/${status.rounds}${accuracy}${epsilon} (updated ${status.updatedAt})`);
  for (const error of status.errors ?? []) console.log(`  - ${error}`);
  for (const notice of status.notices ?? []) console.log(`  ! ${notice}`);
  if (metrics && metrics.rounds.length > 0) console.log(`\n${formatRoundTable(metrics)}`);
}
