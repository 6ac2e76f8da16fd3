/**
 * Run as its own process by test/local-workers.test.ts: starts a local cloud with TypeScript train workers, has one
 * message trained, stops, and then must exit by itself — anything left open (a socket, a timer, a worker) keeps a
 * process alive.
 */
import { startLocalCloud } from '../../local/cloud.js';

const cloud = await startLocalCloud({
  uploadMnist: false,
  trainWorkers: 1,
  handlers: {
    start: async () => {},
    aggregate: async () => {},
    timer: async () => {},
    train: { workerModule: new URL('./barrier-train-handler.ts', import.meta.url) },
  },
  log: () => {},
});
await cloud.context.queues.train.send({ id: 'from-child' });
await cloud.idle();
const handled = await cloud.context.store.getText('done/from-child');
await cloud.stop();
console.log(JSON.stringify({ handled: handled === undefined ? null : JSON.parse(handled) }));
