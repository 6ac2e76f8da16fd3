import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createFlambdaApp, type FlambdaApp } from './app.js';
import { REPO_ROOT } from './paths.js';

export interface TestAppOptions {
  /** Our context keys (`trainer`, `removal`, …), as `-c key=value` would pass them. */
  readonly context?: Readonly<Record<string, string>>;
  /** Run esbuild for the zip functions (slow); otherwise assets are hashed from source and not built. */
  readonly bundle?: boolean;
  /** Add cdk-nag's AwsSolutions validation (as `cdk synth` does). */
  readonly checks?: boolean;
  /** Cloud assembly folder; default: a fresh temporary folder. */
  readonly outdir?: string;
}

/** cdk.json's context: `new App()` reads it only when the CDK CLI passes it, so tests merge it themselves. */
export function cdkJsonContext(): Record<string, unknown> {
  const parsed: unknown = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8'));
  const context = typeof parsed === 'object' && parsed !== null && 'context' in parsed ? parsed.context : undefined;
  return typeof context === 'object' && context !== null ? { ...context } : {};
}

/** The app exactly as `cdk synth` builds it, with cdk.json's feature flags, for tests and scripts. */
export function createTestApp(options: TestAppOptions = {}): FlambdaApp & { readonly outdir: string } {
  const outdir = options.outdir ?? mkdtempSync(path.join(os.tmpdir(), 'flambda-cdk-'));
  const context: Record<string, unknown> = { ...cdkJsonContext(), ...options.context };
  if (!options.bundle) context['aws:cdk:bundling-stacks'] = [];
  const flambda = createFlambdaApp({ outdir, context }, { checks: options.checks ?? false });
  return { ...flambda, outdir };
}
