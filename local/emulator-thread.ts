import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Log } from '../shared/pipeline/context.js';
import type { Emulator, EmulatorOptions, ObjectWrite } from './emulator.js';

/** What the emulator's thread needs (emulator-worker.ts). */
export interface EmulatorThreadData {
  /** file: URL of emulator-worker, imported by worker-bootstrap.mjs */
  readonly entry: string;
  readonly port: number;
  readonly host: string;
  readonly region: string;
  /** one Int32: object writes the thread has announced, counted before each announcement is posted */
  readonly announced: SharedArrayBuffer;
}

export type ToEmulatorThread = { readonly type: 'close' };
export type FromEmulatorThread =
  | { readonly type: 'ready'; readonly endpoint: string; readonly port: number }
  | { readonly type: 'failed'; readonly error: string }
  | { readonly type: 'written'; readonly write: ObjectWrite }
  | { readonly type: 'closed'; readonly error?: string };

export interface ThreadedEmulator extends Emulator {
  /** An object write was acknowledged to its client whose notification has not reached `onObjectWritten` yet. */
  readonly notificationsInTransit: boolean;
}

/** The smallest round, in clients trained, that `flambda run` gives the emulator a thread of its own for. */
export const EMULATOR_THREAD_FROM_CLIENTS_PER_ROUND = 100;

/**
 * Whether the emulator gets a thread of its own for rounds of `clientsPerRound`. Measured on 2 cores, pairs run one
 * right after the other (bench/scale.ts, docs/scale.md): at 1,000 clients a round the thread took a few ms off every
 * client-update in every pair, as the main thread, which the emulator shares with the aggregator and the event sources
 * that wait for its answers, is what holds such rounds up; at 100 the pairs split (a wash: the thread frees the main
 * thread but costs CPU of its own); 5- and 10-client rounds were slower with it, over before its start-up pays for
 * itself. So the threshold sits where the thread stopped losing, the trend running from 10 (slower) to 1,000 (faster).
 */
export function emulatorThreadFor(clientsPerRound: number): boolean {
  return clientsPerRound >= EMULATOR_THREAD_FROM_CLIENTS_PER_ROUND;
}

const BOOTSTRAP = new URL('./worker-bootstrap.mjs', import.meta.url);
const ENTRY = new URL(`./emulator-worker${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/**
 * The emulator (emulator.ts) on a thread of its own, when LocalCloudOptions.emulatorThread asks for it. Its requests
 * come over loopback HTTP either way; what moves is the CPU of answering them, which on the main thread competes with
 * the aggregator and the event sources that wait for those answers (`flambda run` asks for it on large rounds:
 * emulatorThreadFor). Object writes come back as messages; `notificationsInTransit` covers
 * the moment between a client's acknowledged write and its notification's arrival, so that nobody takes the cloud for
 * idle in between.
 */
export async function startEmulatorThread(options: EmulatorOptions & { readonly log: Log }): Promise<ThreadedEmulator> {
  const announced = new Int32Array(new SharedArrayBuffer(4));
  let delivered = 0;
  const data: EmulatorThreadData = { entry: ENTRY.href, port: options.port, host: options.host, region: options.region, announced: announced.buffer as SharedArrayBuffer };
  const worker = new Worker(BOOTSTRAP, { workerData: data });
  let closing: Promise<void> | undefined;
  const closed = new Promise<string | undefined>((resolve) => {
    worker.on('message', (message: FromEmulatorThread) => {
      if (message.type === 'written') {
        delivered++;
        options.onObjectWritten(message.write);
      } else if (message.type === 'closed') resolve(message.error);
    });
    worker.once('exit', (code) => {
      // Every request after this fails to connect, which is how the pipeline's handlers will report it too.
      if (!closing) options.log('local.emulator.exited', { code });
      resolve(undefined);
    });
  });
  const ready = await new Promise<{ endpoint: string; port: number }>((resolve, reject) => {
    const onMessage = (message: FromEmulatorThread) => {
      if (message.type === 'ready') resolve(message);
      else if (message.type === 'failed') reject(new Error(`the emulator did not start: ${message.error}`));
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the emulator's thread exited (code ${code}) before it listened`)));
  }).catch(async (error: unknown) => {
    await worker.terminate();
    throw error;
  });
  worker.on('error', (error) => options.log('local.emulator.failed', { error: error.stack ?? error.message }));
  return {
    endpoint: ready.endpoint,
    port: ready.port,
    get notificationsInTransit() {
      return Atomics.load(announced, 0) !== delivered;
    },
    close() {
      closing ??= (async () => {
        worker.postMessage({ type: 'close' } satisfies ToEmulatorThread);
        const error = await closed;
        await worker.terminate();
        if (error) throw new Error(`the emulator did not close cleanly: ${error}`);
      })();
      return closing;
    },
  };
}
