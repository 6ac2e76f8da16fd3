import { spawn } from 'node:child_process';

/** Runs `flambda <args>` exactly as a user would, output to this terminal; resolves with its exit code. */
export function runFlambda(args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/flambda.js', ...args], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}
