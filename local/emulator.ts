import { buildApp } from 'fauxqs';
import type { ObjectCreatedEventName } from './events.js';
import { makeQueuesLikeSqs } from './fauxqs-fifo.js';
import { attachSqsFront } from './sqs-front.js';

/** An object write the emulator has just acknowledged. */
export interface ObjectWrite {
  readonly eventName: ObjectCreatedEventName;
  readonly bucket: string;
  readonly key: string;
  readonly sourceIp: string;
  readonly requestId: string;
}

export interface EmulatorOptions {
  readonly port: number;
  readonly host: string;
  readonly region: string;
  /** Called for every successful PutObject, CopyObject and CompleteMultipartUpload, from any client: once it is stored, before its answer. */
  readonly onObjectWritten: (write: ObjectWrite) => void;
}

export interface Emulator {
  readonly endpoint: string;
  readonly port: number;
  close(): Promise<void>;
}

function endpointFor(host: string, port: number): string {
  // A wildcard bind is reachable on loopback; clients cannot connect to "0.0.0.0" everywhere.
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

function header(value: unknown): string | undefined {
  return Array.isArray(value) ? String(value[0]) : value === undefined ? undefined : String(value);
}

/** The parts of fastify's request and reply the hook reads (fastify is fauxqs's dependency, not ours). */
interface HookRequest {
  readonly method: string;
  readonly ip: string;
  readonly params: unknown;
  readonly query: unknown;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly routeOptions: { readonly url?: string | undefined };
}
interface HookReply {
  readonly statusCode: number;
  getHeader(name: string): unknown;
}

/** The S3 notification a reply acknowledges, if it acknowledges an object write. */
function objectWrite(request: HookRequest, reply: HookReply): ObjectWrite | undefined {
  if (reply.statusCode !== 200 || request.routeOptions.url !== '/:bucket/*') return undefined;
  const params = request.params as { bucket?: string; '*'?: string };
  const query = request.query as Record<string, string | undefined>;
  const bucket = params.bucket;
  const key = params['*'];
  if (!bucket || !key) return undefined;
  let eventName: ObjectCreatedEventName;
  if (request.method === 'PUT' && query.partNumber === undefined) {
    eventName = request.headers['x-amz-copy-source'] !== undefined ? 'ObjectCreated:Copy' : 'ObjectCreated:Put';
  } else if (request.method === 'POST' && query.uploadId !== undefined) {
    eventName = 'ObjectCreated:CompleteMultipartUpload';
  } else {
    return undefined;
  }
  return { eventName, bucket, key, sourceIp: request.ip, requestId: header(reply.getHeader('x-amz-request-id')) ?? '' };
}

/**
 * fauxqs's S3 + SQS emulator, in-process. Built from its fastify app rather than `startFauxqs`, which binds every
 * interface; so that a response hook can see object writes, as fauxqs accepts bucket notification
 * configurations but never delivers them; and so that SQS answers older clients' Query protocol with queue URLs
 * that resolve (local/sqs-front.ts).
 */
export async function startEmulator(options: EmulatorOptions): Promise<Emulator> {
  await makeQueuesLikeSqs();
  const app = buildApp({ logger: false, defaultRegion: options.region });
  attachSqsFront(app);

  // onSend runs once the write is stored, before the client has its answer (fastify has rewritten virtual-hosted
  // requests to /bucket/key by then, and fauxqs's own onSend has set the request id): a notification is never behind
  // the acknowledgement, so whoever waits for the cloud to be idle after a write sees it coming. A callback, not an
  // async hook: fauxqs's async handlers send their reply and return, and fastify sends again (onSend included) any
  // reply not yet out when the handler's promise settles, which an async hook's pending chain would make every PUT.
  app.addHook('onSend', (request: HookRequest, reply: HookReply, payload: unknown, done: (error: null, payload: unknown) => void) => {
    const write = objectWrite(request, reply);
    if (write) options.onObjectWritten(write);
    done(null, payload);
  });

  // A failed listen rejects here and is also emitted as the server's 'error' event, which would crash the process.
  const reportedByListen = () => {};
  app.server.on('error', reportedByListen);
  try {
    await app.listen({ port: options.port, host: options.host });
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  } finally {
    setImmediate(() => app.server.off('error', reportedByListen));
  }
  const address = app.server.address();
  if (address === null || typeof address === 'string') {
    await app.close();
    throw new Error(`the emulator did not bind a TCP port on ${options.host}`);
  }
  return {
    endpoint: endpointFor(options.host, address.port),
    port: address.port,
    // fauxqs's preClose hook releases long-polling receives; forceCloseConnections drops keep-alive sockets.
    close: () => app.close(),
  };
}
