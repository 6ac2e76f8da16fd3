import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { MAX_CONFIG_BYTES } from '../../shared/config/parse.js';
import { validateExperimentConfig } from '../../shared/pipeline/validate.js';
import type { ExperimentConfig } from '../../shared/config/schema.js';
import type { ExperimentMetrics, ExperimentStatus } from '../../shared/metrics/types.js';
import { backendLabel } from '../../shared/engine/label.js';
import type { ObjectStore } from '../../shared/cloud/ports.js';
import { EXPERIMENT_ID_RULE, isExperimentId, keys } from '../../shared/protocol/keys.js';
import { UserError } from '../errors.js';
import { readExperimentMetrics, readStatus } from '../../shared/pipeline/experiment.js';
import { DatasetNotFoundError, describeDataset } from '../../shared/pipeline/datasets.js';
import { downloadExperiment } from '../results.js';
import { renderComparisonMarkdown } from '../../shared/report/index.js';
import { formatRoundTable } from '../tables.js';
import { clientsPerRound } from '../../shared/sampling/count.js';
import { defaultDataDir } from '../../local/directory-store.js';
import { trainBatchSize, trainerPoolSize } from '../../local/trainer-pool.js';
import { emulatorThreadFor } from '../../local/emulator-thread.js';
import { addTargetOptions, openTarget, parseTargetName, parseTrainBatch, parseWorkers, type Target, type TargetName } from '../targets.js';
import { watchExperiment } from '../watch.js';
import { createProgressDisplay } from '../progress.js';
import { InterruptedError, interruptSignal } from '../signals.js';

interface RunOptions {
  out: string;
  target: TargetName;
  stack: string;
  bucket?: string;
  endpoint?: string;
  id?: string;
  stallTimeout: string;
  workers?: string;
  trainBatch?: string;
  restart?: boolean;
}

export function runCommand(): Command {
  const command = new Command('run')
    .description(
      'Run one or more experiments and wait for them: upload each config to experiments/<id>/config.json, show progress, ' +
        'print the per-round table, and copy the results to <out>/<id>/. Exit code 0 only if every experiment completed.',
    )
    .argument('<configs...>', 'experiment config files (JSON; see docs/config.md)')
    .option('-o, --out <dir>', 'where results are written', 'results');
  return addTargetOptions(command, 'where to run')
    .option('--id <id>', `experiment id (one config only; default <name>-<timestamp>): ${EXPERIMENT_ID_RULE}`)
    .option('--restart', 'with --id: run a failed experiment again from scratch (deletes experiments/<id>/ in the bucket first)')
    .option('--stall-timeout <seconds>', 'fail if nothing progresses for this long', '1800')
    .option(
      '--workers <n>',
      'local target: training worker threads (default: the fewest that keep every core busy until the end of a round, ' +
        'e.g. 3 for 5 clients on 2 cores)',
    )
    .option(
      '--train-batch <n>',
      'local target: clients per trainer invocation, 1–10 (default: clients a round ÷ (10 × workers), rounded down, ' +
        'from 1 to 10: 1 for 5 clients, 10 for 1,000 clients a round on 2 workers; see docs/scale.md)',
    )
    .addHelpText('after', '\nExamples:\n  flambda run examples/mnist-iid.json\n  flambda run examples/mnist-iid.json examples/mnist-label-skew.json --out results\n  flambda run examples/quick.json --target aws --stack Flambda')
    .action(async (configPaths: string[], options: RunOptions) => {
      process.exitCode = await run(configPaths, options);
    });
}

interface Planned {
  readonly path: string;
  readonly text: string;
  readonly config: ExperimentConfig;
  readonly experimentId: string;
}

async function run(configPaths: readonly string[], options: RunOptions): Promise<number> {
  const target = parseTargetName(options.target);
  if (options.id && configPaths.length > 1) throw new UserError('--id names one experiment: pass a single config with it');
  if (options.id !== undefined && !isExperimentId(options.id)) {
    throw new UserError(`--id ${JSON.stringify(options.id)} cannot be an experiment id: it must be ${EXPERIMENT_ID_RULE}`);
  }
  if (options.restart && !options.id) throw new UserError('--restart needs --id: the failed experiment to run again');
  // Silently running with the other target's own setting would hide that the option did nothing.
  if (target !== 'local' || options.endpoint) {
    if (options.workers !== undefined) throw new UserError('--workers sizes the embedded local cloud only: give it to `flambda dev`, or on AWS set the stack\'s -c trainConcurrency (docs/deploy.md)');
    if (options.trainBatch !== undefined) throw new UserError('--train-batch sets the embedded local cloud only: give it to `flambda dev`, or on AWS set the stack\'s -c trainBatchSize (docs/deploy.md)');
  }
  const stallTimeoutSeconds = Number(options.stallTimeout);
  if (!Number.isFinite(stallTimeoutSeconds) || stallTimeoutSeconds <= 0) throw new UserError('--stall-timeout must be a positive number of seconds');
  const planned = await Promise.all(configPaths.map((file, index) => plan(file, options.id, index)));
  const largestRound = Math.max(...planned.map(({ config }) => trainingJobsPerRound(config)));
  const trainWorkers = parseWorkers(options.workers) ?? trainerPoolSize(largestRound, os.availableParallelism());
  const trainBatch = parseTrainBatch(options.trainBatch) ?? trainBatchSize(largestRound, trainWorkers);
  // Ctrl-C / SIGTERM: stop watching, then stop the local cloud (workers, emulator) and close the log, then exit 130/143.
  const stop = interruptSignal();

  const local = target === 'local' && !options.endpoint;
  const opened = await openTarget({
    target,
    stack: options.stack,
    bucket: options.bucket,
    endpoint: options.endpoint,
    logFile: path.join(options.out, 'flambda-local.log'),
    trainWorkers,
    trainBatch,
    emulatorThread: emulatorThreadFor(largestRound),
    datasets: planned.map(({ config }) => config.dataset).filter((name) => name !== 'mnist'),
  });
  const finished: { status: ExperimentStatus; metrics?: ExperimentMetrics }[] = [];
  let current: Planned | undefined;
  try {
    stop.throwIfAborted();
    console.log(`flambda: running ${planned.length} experiment(s) on ${opened.description}`);
    for (const experiment of planned) {
      current = experiment;
      finished.push(await runOne(opened, experiment, options.out, stallTimeoutSeconds * 1000, stop, options.restart === true, local));
    }
  } catch (error) {
    if (error instanceof InterruptedError && current) console.error(interruptedNote(target, current.experimentId));
    throw error;
  } finally {
    await opened.close();
  }

  const completed = finished.flatMap((f) => (f.status.state === 'completed' && f.metrics ? [f.metrics] : []));
  if (completed.length > 1) console.log(`\n${renderComparisonMarkdown(completed)}`);
  return finished.every((f) => f.status.state === 'completed') ? 0 : 1;
}

function trainingJobsPerRound(config: ExperimentConfig): number {
  return config.sampling ? clientsPerRound(config.sampling, config.clients) : config.clients;
}

async function plan(file: string, id: string | undefined, index: number): Promise<Planned> {
  const size = await stat(file).then((s) => s.size, () => {
    throw new UserError(`cannot read config file ${file}`);
  });
  if (size > MAX_CONFIG_BYTES) throw new UserError(`${file}: ${size} bytes; configs are limited to 64 KiB`);
  const text = await readFile(file, 'utf8');
  const parsed = validateExperimentConfig(text);
  if (!parsed.ok) throw new UserError(`${file} is not a valid experiment config:\n  - ${parsed.errors.join('\n  - ')}`);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  const slug = parsed.config.name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'experiment';
  return { path: file, text, config: parsed.config, experimentId: id ?? `${slug}-${stamp}${index ? `-${index}` : ''}` };
}

function interruptedNote(target: TargetName, experimentId: string): string {
  return target === 'local'
    ? `flambda: stopped the embedded local cloud; ${experimentId} was discarded with it (its state lived in memory)`
    : `flambda: stopped watching; ${experimentId} keeps running on ${target}: \`flambda status ${experimentId} --target ${target}\``;
}

/**
 * An id is used once: a config uploaded again to an experiment that runs or ran is refused by the pipeline (with a
 * line in its status.json), so the CLI refuses it first and says what to do instead. A failed experiment is run again
 * on purpose with --restart, which deletes everything under its prefix, so the new run starts from nothing.
 */
async function claimId(store: ObjectStore, experimentId: string, restart: boolean): Promise<void> {
  const status = await readStatus(store, experimentId);
  const exists = status !== undefined || (await store.exists(keys.config(experimentId)));
  if (!restart) {
    if (!exists) return;
    const where = status ? ` (${status.state}, round ${status.round}/${status.rounds})` : ' (its config is uploaded but it has no status yet)';
    const hint = status?.state === 'failed' ? `, or run it again from scratch with --restart (deletes experiments/${experimentId}/ first)` : '';
    throw new UserError(`experiment ${experimentId} already exists${where}: choose another --id${hint}`);
  }
  if (status?.state !== 'failed') {
    const what = status ? `is ${status.state}` : exists ? 'has no status yet (it may be starting)' : 'does not exist';
    throw new UserError(`--restart runs a failed experiment again; ${experimentId} ${what}${exists ? ': choose another --id' : ': drop --restart'}`);
  }
  const objects = await store.list(`experiments/${experimentId}/`);
  for (const key of objects) await store.delete(key);
  console.log(`flambda: restarting ${experimentId}: deleted its ${objects.length} object(s)`);
}

async function runOne(target: Target, experiment: Planned, outDir: string, stallTimeoutMs: number, stop: AbortSignal, restart: boolean, local: boolean) {
  const { experimentId, config } = experiment;
  // A dataset that was never imported would only fail in the start step: say so before anything runs (or is deleted).
  await describeDataset(target.store, config.dataset).catch((error: unknown) => {
    if (!(error instanceof DatasetNotFoundError)) throw error;
    const where = local ? `dataset "${config.dataset}" is not in the local dataset library ${defaultDataDir()}: import it first (${error.hint})` : error.message;
    throw new UserError(`${experiment.path}: ${where}`);
  });
  await claimId(target.store, experimentId, restart);
  console.log(`\n▶ ${config.name} (${experimentId}): ${config.clients} clients × ${config.rounds} rounds, ${config.partition.kind}${config.sharedData ? ' + shared data' : ''}, ${config.model}, ${config.strategy.name}`);
  // Exactly what `aws s3 cp config.json s3://<bucket>/experiments/<id>/config.json` does: the upload is the trigger.
  await target.store.put(keys.config(experimentId), experiment.text, 'application/json');

  // cli-progress draws on stderr: both streams must be terminals for frames not to end up in a log.
  const progress = createProgressDisplay(config.rounds, { tty: Boolean(process.stdout.isTTY && process.stderr.isTTY) });
  let status: ExperimentStatus;
  try {
    status = await watchExperiment(target.store, experimentId, { onProgress: progress.update, stallTimeoutMs, signal: stop });
  } finally {
    progress.stop();
  }

  const folder = await downloadExperiment(target.store, experimentId, outDir, {
    onUnsafeKey: (key) => console.log(`  skipped ${key}: it would be written outside ${outDir}`),
  });
  const metrics = await readExperimentMetrics(target.store, experimentId);
  if (metrics && metrics.rounds.length > 0) console.log(`\n${formatRoundTable(metrics)}`);
  for (const notice of status.notices ?? []) console.log(`\n! ${notice}`);
  if (status.state === 'completed') {
    const summary = metrics?.summary;
    console.log(
      `\n✔ ${experimentId} completed: accuracy ${((status.lastAccuracy ?? 0) * 100).toFixed(2)} %` +
        (summary?.privacy ? ` at ε ${summary.privacy.epsilon.toFixed(3)} (δ ${summary.privacy.delta})` : '') +
        (summary ? ` in ${(summary.wallMs / 1000).toFixed(1)} s on ${backendLabel(summary.backend)}` : '') +
        `\n  results: ${folder}`,
    );
  } else {
    console.log(`\n✘ ${experimentId} ${status.state} at round ${status.round}:\n  - ${(status.errors ?? ['no reason recorded']).join('\n  - ')}\n  results: ${folder}`);
  }
  return { status, ...(metrics ? { metrics } : {}) };
}
