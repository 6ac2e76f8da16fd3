// The first module of every train worker thread, in plain JavaScript so that it loads whatever started the parent:
// `tsx`, `node --import tsx`, tsx's register() API (bin/flambda.js), vitest, or compiled JavaScript. A worker does not
// inherit loader hooks registered through the API, so TypeScript entries are imported through tsx's scoped
// tsImport(), which also covers everything they import in turn.
import { workerData } from 'node:worker_threads';

const entry = workerData?.entry;
if (typeof entry !== 'string') throw new Error('worker-bootstrap.mjs: workerData.entry (a file: URL) is missing');

if (/\.[cm]?tsx?$/.test(new URL(entry).pathname)) {
  const { tsImport } = await import('tsx/esm/api');
  await tsImport(entry, import.meta.url);
} else {
  await import(entry);
}
