#!/usr/bin/env node
// The CLI is TypeScript run through tsx: no build step between a clone and `flambda run`.

// Loading it takes a few seconds during which nothing has started yet: a signal then simply exits (130 / 143).
// cli/signals.ts takes over once the CLI is loaded, so that commands can stop what they started.
const exitEarly = (signal) => process.exit(signal === 'SIGINT' ? 130 : 143);
process.on('SIGINT', exitEarly);
process.on('SIGTERM', exitEarly);
// `ps` / `pgrep -a flambda` show "flambda dev --port 4566" rather than node and a path; set once the handlers are in.
process.title = ['flambda', ...process.argv.slice(2)].join(' ');

// The AWS SDK prints a nine-line notice on Node < 22 in every process; ours is one line, once per run, and the
// worker threads inherit the variable. Setting the variable yourself silences both.
if (Number(process.versions.node.split('.')[0]) < 22 && process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED === undefined) {
  process.stderr.write(
    `flambda: Node ${process.version} is past end of life; AWS SDK releases from January 2027 need Node >= 22 ` +
      '(the Lambda runtime flambda deploys on). Upgrade when you can.\n',
  );
}
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../cli/main.ts');
const { installSignalHandlers } = await import('../cli/signals.ts');
installSignalHandlers();
process.off('SIGINT', exitEarly);
process.off('SIGTERM', exitEarly);
process.exitCode = await main(process.argv);
