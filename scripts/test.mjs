#!/usr/bin/env node
// `npm test`: the whole suite on the Node in PATH, then the Lambda bundle test and the pipeline end-to-end test on
// Node 24 (the zip functions' runtime, nodejs24.x) and Node 22 (the container-image trainer's, which tfjs-node keeps
// there), each taken from the `node` package of the npm registry.
//   npm test -- test/x.test.ts     only that file, on the Node in PATH (arguments go to vitest)
//   npm run test:node -- 24        the bundle and pipeline tests on another Node major
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';

const VITEST = 'node_modules/vitest/vitest.mjs';
const ON_LAMBDA_NODE = ['test/infra-bundle.test.ts', 'test/pipeline-e2e.test.ts'];
const LAMBDA_NODE_MAJORS = ['24', '22'];

const [mode, ...rest] = process.argv.slice(2);
if (mode === '--node') process.exit(onNode(rest[0] ?? LAMBDA_NODE_MAJORS[0], rest.slice(1)));
const args = process.argv.slice(2);
const first = spawnSync(process.execPath, [VITEST, 'run', ...args], { stdio: 'inherit' }).status ?? 1;
// Arguments select files or tests: the runs on the Lambda runtimes' Nodes belong to the full suite only.
process.exit(first !== 0 || args.length > 0 ? first : LAMBDA_NODE_MAJORS.reduce((status, major) => status || onNode(major, []), 0));

function onNode(major, files) {
  // The binary itself rather than `npx -p node@N vitest`: npx's variables would reach the `npx esbuild` of CDK bundling.
  const binary = execFileSync('npx', ['--yes', '-p', `node@${major}`, 'node', '-p', 'process.execPath'], { encoding: 'utf8' }).trim();
  const version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
  const selected = files.length > 0 ? files : ON_LAMBDA_NODE;
  console.log(`\n[npm test] ${selected.join(', ')} on Node ${version} (${binary})\n`);
  return (
    spawnSync(binary, [VITEST, 'run', ...selected], {
      stdio: 'inherit',
      // Every `node` the tests start (bundles, worker threads' CLI, npx) is this one too.
      env: { ...process.env, PATH: `${path.dirname(binary)}${path.delimiter}${process.env.PATH ?? ''}` },
    }).status ?? 1
  );
}
