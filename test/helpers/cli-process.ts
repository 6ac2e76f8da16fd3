import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const FLAMBDA_BIN = path.resolve('bin/flambda.js');

/** `node bin/flambda.js <args>` as a user starts it: its own process, output piped (so not a TTY), output collected. */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(process.execPath, [FLAMBDA_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Resolves once stdout matches, rejects if the process exits first. */
  async waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
    for (;;) {
      const match = pattern.exec(this.stdout);
      if (match) return match;
      const exited = await Promise.race([this.exited.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 100))]);
      if (exited && !pattern.exec(this.stdout)) {
        throw new Error(`flambda exited before printing ${pattern}:\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`);
      }
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

/** The environment without the variable that silences the AWS SDK's Node notice (vitest's config sets it). */
export function envAsUserHasIt(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  return env;
}
