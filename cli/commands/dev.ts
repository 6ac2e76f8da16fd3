import { rm, writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.js';
import { defaultHandlers } from '../../local/default-handlers.js';
import { defaultDataDir, DirectoryObjectStore } from '../../local/directory-store.js';
import { UserError } from '../errors.js';
import { interrupted, interruptSignal } from '../signals.js';
import { parseTrainBatch, parseWorkers } from '../targets.js';

interface DevOptions {
  port: string;
  workers?: string;
  trainBatch?: string;
  pidFile?: string;
}

export function devCommand(): Command {
  return new Command('dev')
    .description(
      'Run the embedded local cloud (S3 + SQS emulator with the flambda handlers attached) until Ctrl-C, SIGINT or SIGTERM. ' +
        'Any AWS tool can talk to it (SQS over the JSON or the older Query protocol): uploading ' +
        'experiments/<id>/config.json to bucket "flambda" starts an experiment.',
    )
    .option('-p, --port <port>', 'port to listen on (127.0.0.1 only; 0 picks a free one)', '4566')
    .option('--workers <n>', 'training worker threads (default: one per core; `flambda run` sizes them to the experiment)')
    .option('--train-batch <n>', 'clients per trainer invocation, 1–10 (default 1, as the stack deploys; many small clients run faster with more: docs/scale.md)')
    .option('--pid-file <file>', 'write the process id here while running (removed on exit), to stop it with `kill -INT $(cat <file>)`')
    .addHelpText(
      'after',
      '\nIn the background, signal flambda itself, not npm: `npx flambda dev &` puts npm and a shell in between, and\n' +
        "the shell does not pass SIGINT on. Either run it directly or use the pid it prints (or --pid-file):\n" +
        '  node bin/flambda.js dev & … kill -INT $!\n' +
        '  npx flambda dev --pid-file flambda-dev.pid & … kill -INT $(cat flambda-dev.pid)',
    )
    .action(async (options: DevOptions) => {
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port must be 0–65535 (got "${options.port}")`);
      const trainWorkers = parseWorkers(options.workers);
      const trainBatch = parseTrainBatch(options.trainBatch);
      const stopRequested = interruptSignal();
      const cloud = await startLocalCloud({
        port,
        host: '127.0.0.1',
        handlers: defaultHandlers(),
        // every dataset of the local library (flambda dataset import), so configs can name them
        datasets: { from: new DirectoryObjectStore(defaultDataDir()) },
        ...(trainWorkers ? { trainWorkers } : {}),
        ...(trainBatch ? { batchSize: { train: trainBatch } } : {}),
      }).catch(
        (error: unknown) => {
          const code = error instanceof Error && 'code' in error ? error.code : undefined;
          if (code === 'EADDRINUSE') throw new UserError(`port ${port} on 127.0.0.1 is in use (another \`flambda dev\`?): stop it, or pick another with --port (0: any free one)`);
          if (code === 'EACCES') throw new UserError(`not allowed to listen on port ${port}: pick one above 1023 with --port`);
          throw error;
        },
      );
      try {
        // A signal during start-up: stop what has just started instead of announcing it.
        if (stopRequested.aborted) return;
        if (options.pidFile) await writeFile(options.pidFile, `${process.pid}\n`);
        console.log(banner(cloud));
        await interrupted();
      } finally {
        await cloud.stop();
        if (options.pidFile) await rm(options.pidFile, { force: true });
        console.log('flambda dev: stopped');
      }
    });
}

function banner(cloud: LocalCloud): string {
  const endpoint = `--endpoint-url ${cloud.endpoint}`;
  const queues = Object.entries(cloud.queueUrls).map(([role, url]) => `  ${role.padEnd(19)} ${url}`);
  return [
    `flambda dev: local cloud listening on ${cloud.endpoint} (bucket "${cloud.bucket}", ${cloud.trainWorkers} training workers, pid ${process.pid})`,
    '',
    'Queues (SQS over JSON or Query; these URLs work with any client given the endpoint):',
    ...queues,
    '',
    'Use it from any AWS client, e.g. the AWS CLI (uploading a config starts an experiment):',
    `  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=${cloud.region}`,
    `  aws s3 cp examples/quick.json s3://${cloud.bucket}/experiments/quick-1/config.json ${endpoint}`,
    `  aws sqs get-queue-attributes --queue-url ${cloud.queueUrls.trainDeadLetter} --attribute-names All ${endpoint}`,
    'or with the CLI:',
    `  flambda run examples/quick.json --endpoint ${cloud.endpoint} --bucket ${cloud.bucket}`,
    `  flambda status quick-1 --endpoint ${cloud.endpoint} --bucket ${cloud.bucket}`,
    '',
    `Ctrl-C or \`kill -INT ${process.pid}\` stops it (state lives in memory and is discarded).`,
  ].join('\n');
}
