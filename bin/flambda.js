#!/usr/bin/env node
// The CLI is TypeScript run through tsx: no build step between a clone and `flambda run`.
import { register } from 'tsx/esm/api';

// Our lock file pins the SDK; its notice about releases from 2027 needing Node 22 is in the README, not on every run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
