import { Command, CommanderError } from 'commander';
import { compareCommand } from './commands/compare.js';
import { datasetCommand } from './commands/dataset.js';
import { devCommand } from './commands/dev.js';
import { doctorCommand } from './commands/doctor.js';
import { logsCommand } from './commands/logs.js';
import { reportCommand } from './commands/report.js';
import { runCommand } from './commands/run.js';
import { statusCommand } from './commands/status.js';
import { cloudAccessError, UserError } from './errors.js';
import { InterruptedError, interruptExitCode } from './signals.js';

export function buildProgram(): Command {
  return new Command('flambda')
    .description('Federated learning on AWS Lambda, S3 and SQS — or on the embedded local cloud, with no AWS at all.')
    .version(process.env.npm_package_version ?? '0.1.0')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .addCommand(runCommand())
    .addCommand(devCommand())
    .addCommand(statusCommand())
    .addCommand(reportCommand())
    .addCommand(compareCommand())
    .addCommand(datasetCommand())
    .addCommand(logsCommand())
    .addCommand(doctorCommand());
}

/** Runs the CLI and returns the exit code: user mistakes print one readable line, never a stack trace. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return interruptExitCode() ?? (typeof process.exitCode === 'number' ? process.exitCode : 0);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof InterruptedError) return interruptExitCode() ?? 130;
    const userError = error instanceof UserError ? error : cloudAccessError(error);
    if (userError) {
      console.error(`flambda: ${userError.message}`);
      return 2;
    }
    throw error;
  }
}
