import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // tfjs training and CDK synth are CPU-bound on a 2-core machine: generous per-test limits, no timing assertions.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // The AWS SDK's Node-version notice would print once in every test process; test/setup/node-notice.ts prints
    // one line for the whole run instead (and the CLI prints its own, tested in test/cli-output.test.ts).
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    globalSetup: ['test/setup/node-notice.ts'],
  },
});
