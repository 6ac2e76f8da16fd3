/**
 * esbuild settings shared by the zip functions (CDK's NodejsFunction) and the container image trainer
 * (infra/docker/bundle-trainer.ts, run inside `docker build`). Free of aws-cdk-lib so the image build can load it.
 */

/** The zip functions' Node major: Lambda's nodejs24.x (NODE_RUNTIME in constructs/pipeline-function.ts). */
export const ZIP_NODE_TARGET = 'node24';

/**
 * The container-image trainer's Node major, the NODE_MAJOR of infra/docker/trainer.Dockerfile. Not 24: tfjs-node
 * 4.22.0 (the latest release) calls util.isNullOrUndefined, removed in Node 23 (tensorflow/tfjs#8609).
 */
export const IMAGE_NODE_TARGET = 'node22';

/** Every tfjs-backend-wasm binary: on Node tfjs loads the SIMD one, the others cover CPUs or settings without it. */
export const WASM_BINARIES = ['tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'] as const;

/**
 * Packages that never belong in a function bundle: the local emulator, the browser driver, CDK itself, and the
 * native TensorFlow binding (the engine imports it by a computed name, and only the image trainer installs it).
 */
export const NEVER_BUNDLED = ['@tensorflow/tfjs-node', 'fauxqs', 'playwright-core', 'aws-cdk-lib', 'aws-cdk', 'constructs', 'esbuild'] as const;

/**
 * ESM output runs CommonJS dependencies (tfjs, its emscripten glue) that call require() and read __dirname; Node
 * defines neither in an ES module, so the bundle defines them for its own file.
 */
export const ESM_REQUIRE_BANNER = [
  "import { createRequire as __flambdaCreateRequire } from 'node:module';",
  "import { fileURLToPath as __flambdaFileURLToPath } from 'node:url';",
  "import { dirname as __flambdaDirname } from 'node:path';",
  'const require = __flambdaCreateRequire(import.meta.url);',
  'const __filename = __flambdaFileURLToPath(import.meta.url);',
  'const __dirname = __flambdaDirname(__filename);',
].join(' ');
