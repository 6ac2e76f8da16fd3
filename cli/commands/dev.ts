import { Command } from 'commander';
import { startLocalCloud } from '../../local/cloud.js';
import { defaultHandlers } from '../../local/default-handlers.js';
import { UserError } from '../errors.js';

export function devCommand(): Command {
  return new Command('dev')
    .description(
      'Run the embedded local cloud (S3 + SQS emulator with the flambda handlers attached) until Ctrl-C. Any AWS tool can ' +
        'talk to it: uploading experiments/<id>/config.json to bucket "flambda" starts an experiment.',
    )
    .option('-p, --port <port>', 'port to listen on (127.0.0.1 only)', '4566')
    .action(async (options: { port: string }) => {
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port must be 0–65535 (got "${options.port}")`);
      const cloud = await startLocalCloud({ port, host: '127.0.0.1', handlers: defaultHandlers() });
      console.log(
        [
          `flambda dev: local cloud listening on ${cloud.endpoint} (bucket "${cloud.bucket}")`,
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
