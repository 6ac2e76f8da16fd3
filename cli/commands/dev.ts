import { Command } from 'commander';
import { startLocalCloud } from '../../local/cloud.js';
import { defaultHandlers } from '../../local/default-handlers.js';
import { defaultDataDir, DirectoryObjectStore } from '../../local/directory-store.js';
import { UserError } from '../errors.js';
import { parseWorkers } from '../targets.js';

export function devCommand(): Command {
  return new Command('dev')
    .description(
      'Run the embedded local cloud (S3 + SQS emulator with the flambda handlers attached) until Ctrl-C. Any AWS tool can ' +
        'talk to it: uploading experiments/<id>/config.json to bucket "flambda" starts an experiment.',
    )
    .option('-p, --port <port>', 'port to listen on (127.0.0.1 only)', '4566')
    .option('--workers <n>', 'training worker threads (default: one per core; `flambda run` sizes them to the experiment)')
    .action(async (options: { port: string; workers?: string }) => {
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port must be 0–65535 (got "${options.port}")`);
      const trainWorkers = parseWorkers(options.workers);
      const cloud = await startLocalCloud({
        port,
        host: '127.0.0.1',
        handlers: defaultHandlers(),
        // every dataset of the local library (flambda dataset import), so configs can name them
        datasets: { from: new DirectoryObjectStore(defaultDataDir()) },
        ...(trainWorkers ? { trainWorkers } : {}),
      });
      console.log(
        [
          `flambda dev: local cloud listening on ${cloud.endpoint} (bucket "${cloud.bucket}", ${cloud.trainWorkers} training workers)`,
          '',
          'Start an experiment with any S3 client, e.g.:',
          `  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws s3 cp examples/quick.json s3://${cloud.bucket}/experiments/quick-1/config.json --endpoint-url ${cloud.endpoint}`,
          'or with the CLI:',
          `  flambda run examples/quick.json --endpoint ${cloud.endpoint} --bucket ${cloud.bucket}`,
          `  flambda status quick-1 --endpoint ${cloud.endpoint} --bucket ${cloud.bucket}`,
          '',
          'Ctrl-C stops it (state lives in memory and is discarded).',
        ].join('\n'),
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await cloud.stop();
    });
}
