import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const fixture = (name: string) => fileURLToPath(new URL(`./local-fixtures/${name}`, import.meta.url));

describe('train worker pool shutdown', () => {
  it('F13: terminates a replacement worker that becomes ready after the pool was closed, so the process can exit', async () => {
    const started = Date.now();
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', fixture('pool-close-during-replace.ts')], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      // A hanging process is the bug: give up long before vitest would, and say so.
      timeout: 45_000,
    }).catch((error: { killed?: boolean; stdout?: string }) => {
      if (error.killed) throw new Error(`the process did not exit within 45 s after close() (stdout: ${error.stdout ?? ''})`);
      throw error;
    });
    const { outcome } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { outcome: string };
    expect(outcome).toMatch(/died/);
    expect(Date.now() - started).toBeLessThan(45_000);
  });
});
