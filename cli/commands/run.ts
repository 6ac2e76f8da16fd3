import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { MAX_CONFIG_BYTES } from '../../shared/config/parse.js';
import { validateExperimentConfig } from '../../shared/pipeline/validate.js';
import type { ExperimentConfig } from '../../shared/config/schema.js';
import type { ExperimentMetrics, ExperimentStatus } from '../../shared/metrics/types.js';
import { backendLabel } from '../../shared/engine/label.js';
import { keys } from '../../shared/protocol/keys.js';
import { UserError } from '../errors.js';
import { readExperimentMetrics } from '../../shared/pipeline/experiment.js';
import { downloadExperiment } from '../results.js';
import { renderComparisonMarkdown } from '../../shared/report/index.js';
import { formatRoundTable } from '../tables.js';
import { clientsPerRound } from '../../shared/sampling/count.js';
import { trainerPoolSize } from '../../local/trainer-pool.js';
import { addTargetOptions, openTarget, parseTargetName, parseWorkers, type Target, type TargetName } from '../targets.js';
import { watchExperiment, type Progress } from '../watch.js';

interface RunOptions {
  out: string;
  target: TargetName;
  stack: string;
  bucket?: string;
  endpoint?: string;
  id?: string;
  stallTimeout: string;
  workers?: string;
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
    .option('--id <id>', 'experiment id (one config only; default <name>-<timestamp>)')
    .option('--stall-timeout <seconds>', 'fail if nothing progresses for this long', '1800')
    .option(
      '--workers <n>',
      'local target: training worker threads (default: the fewest that keep every core busy until the end of a round, ' +
        'e.g. 3 for 5 clients on 2 cores)',
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
  const stallTimeoutSeconds = Number(options.stallTimeout);
  if (!Number.isFinite(stallTimeoutSeconds) || stallTimeoutSeconds <= 0) throw new UserError('--stall-timeout must be a positive number of seconds');
  const planned = await Promise.all(configPaths.map((file, index) => plan(file, options.id, index)));
  const trainWorkers = parseWorkers(options.workers) ?? Math.max(...planned.map(({ config }) => trainerPoolSize(trainingJobsPerRound(config), os.availableParallelism())));

  const opened = await openTarget({
    target,
    stack: options.stack,
    bucket: options.bucket,
    endpoint: options.endpoint,
    logFile: path.join(options.out, 'flambda-local.log'),
    trainWorkers,
  });
  console.log(`flambda: running ${planned.length} experiment(s) on ${opened.description}`);
  const finished: { status: ExperimentStatus; metrics?: ExperimentMetrics }[] = [];
  try {
    for (const experiment of planned) {
      finished.push(await runOne(opened, experiment, options.out, stallTimeoutSeconds * 1000));
    }
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

async function runOne(target: Target, experiment: Planned, outDir: string, stallTimeoutMs: number) {
  const { experimentId, config } = experiment;
  if (await target.store.exists(keys.config(experimentId))) {
    throw new UserError(`experiment ${experimentId} already exists in the bucket: choose another --id`);
  }
  console.log(`\n▶ ${config.name} (${experimentId}): ${config.clients} clients × ${config.rounds} rounds, ${config.partition.kind}, ${config.model}, ${config.strategy.name}`);
  // Exactly what `aws s3 cp config.json s3://<bucket>/experiments/<id>/config.json` does: the upload is the trigger.
  await target.store.put(keys.config(experimentId), experiment.text, 'application/json');

  const progress = createProgressDisplay(config);
  let status: ExperimentStatus;
  try {
    status = await watchExperiment(target.store, experimentId, { onProgress: progress.update, stallTimeoutMs });
  } finally {
    progress.stop();
  }

  const folder = await downloadExperiment(target.store, experimentId, outDir);
  const metrics = await readExperimentMetrics(target.store, experimentId);
  if (metrics && metrics.rounds.length > 0) console.log(`\n${formatRoundTable(metrics)}`);
  if (status.state === 'completed') {
    const summary = metrics?.summary;
    console.log(
      `\n✔ ${experimentId} completed: accuracy ${((status.lastAccuracy ?? 0) * 100).toFixed(2)} %` +
        (summary ? ` in ${(summary.wallMs / 1000).toFixed(1)} s on ${backendLabel(summary.backend)}` : '') +
        `\n  results: ${folder}`,
    );
  } else {
    console.log(`\n✘ ${experimentId} ${status.state} at round ${status.round}:\n  - ${(status.errors ?? ['no reason recorded']).join('\n  - ')}\n  results: ${folder}`);
  }
  return { status, ...(metrics ? { metrics } : {}) };
}

/** A live bar on a terminal (round, clients done, last accuracy); one line per round when output is piped. */
function createProgressDisplay(config: ExperimentConfig): { update: (progress: Progress) => void; stop: () => void } {
  const total = config.rounds * config.clients;
  if (!process.stdout.isTTY) {
    let lastRound = -1;
    return {
      update: (progress) => {
        if (progress.round === lastRound) return;
        lastRound = progress.round;
        const accuracy = progress.lastAccuracy === undefined ? '' : `, last accuracy ${(progress.lastAccuracy * 100).toFixed(2)} %`;
        console.log(progress.round === 0 ? '  partitioning…' : `  round ${progress.round}/${progress.rounds}${accuracy}`);
      },
      stop: () => {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: '  round {round}/{rounds} |{bar}| {clients} clients | accuracy {accuracy} | {duration_formatted}', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { round: 0, rounds: config.rounds, clients: '0/0', accuracy: '—' });
  return {
    update: (progress) => {
      const done = Math.max(0, progress.round - 1) * config.clients + progress.clientsDone;
      bar.update(Math.min(done, total), {
        round: progress.round,
        rounds: progress.rounds || config.rounds,
        clients: `${progress.clientsDone}/${progress.clientsExpected}`,
        accuracy: progress.lastAccuracy === undefined ? '—' : `${(progress.lastAccuracy * 100).toFixed(2)} %`,
      });
    },
    stop: () => bar.stop(),
  };
}
