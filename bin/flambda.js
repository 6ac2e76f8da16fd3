#!/usr/bin/env node
// The CLI is TypeScript run through tsx: no build step between a clone and `flambda run`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
