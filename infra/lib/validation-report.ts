import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** One unacknowledged finding of a synth-time validation plugin (cdk-nag), as written to validation-report.json. */
export interface ValidationFinding {
  readonly rule: string;
  readonly constructPath: string;
}

interface Report {
  readonly pluginReports?: readonly {
    readonly violations?: readonly {
      readonly ruleName: string;
      readonly violatingConstructs?: readonly { readonly constructPath: string }[];
    }[];
  }[];
}

/**
 * The findings in a synthesized assembly's validation-report.json, one per construct and rule (`app.synth()` throws
 * one ValidationFailed error that lists them as text).
 */
export function validationFindings(outdir: string): ValidationFinding[] {
  const file = path.join(outdir, 'validation-report.json');
  if (!existsSync(file)) throw new Error(`${file} is missing: was the app synthesized with validation plugins?`);
  const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
  return (report.pluginReports ?? []).flatMap((plugin) =>
    (plugin.violations ?? []).flatMap((violation) =>
      (violation.violatingConstructs ?? []).map((construct) => ({ rule: violation.ruleName, constructPath: construct.constructPath })),
    ),
  );
}
