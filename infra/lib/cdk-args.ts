/** The `-c key=value` / `--context key=value` / `--context=key=value` pairs of a cdk command line. */
export function contextFromArgs(args: readonly string[]): Record<string, string> {
  const context: Record<string, string> = {};
  const add = (pair: string) => {
    const equals = pair.indexOf('=');
    if (equals > 0) context[pair.slice(0, equals)] = pair.slice(equals + 1);
  };
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if ((arg === '-c' || arg === '--context') && index + 1 < args.length) add(args[++index]!);
    else if (arg.startsWith('--context=')) add(arg.slice('--context='.length));
  }
  return context;
}
