import { randomUUID } from 'node:crypto';
import type { buildApp } from 'fauxqs';
import { isSqsAction, jsonErrorToQueryXml, jsonOutputToQueryXml, queryToJsonInput, QueryDecodeError } from './sqs-query.js';

type FauxqsApp = ReturnType<typeof buildApp>;
type Json = Record<string, unknown>;

/** The parts of fastify's request and reply the hooks use (fastify is fauxqs's dependency, not ours). */
interface FrontRequest {
  readonly method: string;
  readonly url: string;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string | string[] | undefined>> & { readonly host?: string; readonly authorization?: string };
}
interface FrontReply {
  readonly statusCode: number;
  code(statusCode: number): FrontReply;
  header(name: string, value: string): FrontReply;
  send(payload: string): FrontReply;
}

/** Actions whose JSON output carries queue URLs. */
const URL_OUTPUTS: Readonly<Record<string, 'QueueUrl' | 'QueueUrls' | 'queueUrls'>> = {
  CreateQueue: 'QueueUrl',
  GetQueueUrl: 'QueueUrl',
  ListQueues: 'QueueUrls',
  ListDeadLetterSourceQueues: 'queueUrls',
};
const QUEUE_PATH = /^\/(\d{12})\/([\w-]{1,80}(?:\.fifo)?)$/;

/**
 * What every SQS client needs from the emulator beyond fauxqs's JSON protocol:
 * - Query-protocol requests (form-encoded `Action=...`, the AWS CLI before 2.13, boto3 before 1.28) are translated
 *   to JSON, run through fauxqs in-process with `inject`, and answered in XML (local/sqs-query.ts).
 * - Queue URLs: fauxqs names queues `http://sqs.<region>.localhost:<port>/<account>/<name>`, which does not resolve.
 *   Clients are given `http://<the Host they connected to>/<account>/<name>` instead, as real SQS answers with its
 *   own endpoint, and any URL whose path is `/<account>/<name>` is accepted for a queue that exists.
 */
export function attachSqsFront(app: FauxqsApp): void {
  const fauxqsUrls = new Map<string, string>(); // queue name → the URL fauxqs keys the queue by

  const toFauxqs = (url: unknown): unknown => {
    if (typeof url !== 'string') return url;
    const name = queuePath(url)?.name;
    return (name && fauxqsUrls.get(name)) ?? url;
  };
  const toPublic = (url: unknown, host: string): unknown => {
    if (typeof url !== 'string') return url;
    const path = queuePath(url);
    if (!path) return url;
    fauxqsUrls.set(path.name, url);
    return `http://${host}/${path.account}/${path.name}`;
  };
  const publishUrls = (action: string, output: Json, host: string): Json => {
    const member = URL_OUTPUTS[action];
    if (!member || output[member] === undefined) return output;
    const value = output[member];
    return { ...output, [member]: Array.isArray(value) ? value.map((url) => toPublic(url, host)) : toPublic(value, host) };
  };

  app.addHook('preHandler', async (request: FrontRequest, reply: FrontReply) => {
    if (request.method !== 'POST') return;
    const contentType = String(request.headers['content-type'] ?? '');
    const host = request.headers.host ?? '127.0.0.1';
    const body = request.body;
    if (!isObject(body)) return;

    const target = request.headers['x-amz-target'];
    if (contentType.includes('application/x-amz-json-1.0') && typeof target === 'string' && target.startsWith('AmazonSQS.')) {
      if ('QueueUrl' in body) body.QueueUrl = toFauxqs(body.QueueUrl);
      return;
    }
    if (!contentType.includes('application/x-www-form-urlencoded')) return;
    const params = new Map(Object.entries(body).map(([key, value]) => [key, String(value)]));
    const action = params.get('Action');
    if (!isSqsQueryRequest(action, request.headers.authorization)) return;

    const requestId = randomUUID();
    const answer = (statusCode: number, xml: string) =>
      reply.code(statusCode).header('content-type', 'text/xml').header('x-amzn-requestid', requestId).send(xml);
    // Older SDKs address Query requests to the queue's URL rather than sending QueueUrl.
    const path = request.url.split('?')[0] ?? '';
    if (!params.has('QueueUrl') && QUEUE_PATH.test(path)) params.set('QueueUrl', `http://${host}${path}`);
    let input: Json;
    try {
      if (!action) throw new QueryDecodeError('the request has no Action');
      input = queryToJsonInput(action, params);
    } catch (error) {
      if (!(error instanceof QueryDecodeError)) throw error;
      const code = action && !isSqsAction(action) ? 'InvalidAction' : 'MalformedQueryString';
      return answer(400, jsonErrorToQueryXml({ type: code, message: error.message, statusCode: 400 }, requestId));
    }
    // Through fauxqs's own JSON route, so the hooks here map queue URLs both ways for this request too.
    const response = await app.inject({
      method: 'POST',
      url: '/',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': `AmazonSQS.${action}`,
        host,
        ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}),
      },
      payload: JSON.stringify(input),
    });
    const output = parseJson(response.body);
    if (response.statusCode === 200) return answer(200, jsonOutputToQueryXml(action!, output, requestId));
    const type = typeof output.__type === 'string' ? output.__type : undefined;
    const message = typeof output.message === 'string' ? output.message : typeof output.Message === 'string' ? output.Message : response.body;
    return answer(response.statusCode, jsonErrorToQueryXml({ ...(type ? { type } : {}), message, statusCode: response.statusCode }, requestId));
  });

  // JSON-protocol answers (the SDK v3, newer CLIs) carry the same public URLs.
  app.addHook('onSend', async (request: FrontRequest, reply: FrontReply, payload: unknown) => {
    const target = request.headers['x-amz-target'];
    if (reply.statusCode !== 200 || typeof target !== 'string' || typeof payload !== 'string') return payload;
    const action = target.replace(/^AmazonSQS\./, '');
    if (!URL_OUTPUTS[action]) return payload;
    return JSON.stringify(publishUrls(action, parseJson(payload), request.headers.host ?? '127.0.0.1'));
  });
}

/** The service named in the SigV4 credential scope decides; unsigned requests go by the action's name. */
function isSqsQueryRequest(action: string | undefined, authorization: string | undefined): boolean {
  const service = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(authorization ?? '')?.[1];
  return service === undefined ? isSqsAction(action) : service === 'sqs';
}

function queuePath(url: string): { account: string; name: string } | undefined {
  try {
    const match = QUEUE_PATH.exec(new URL(url).pathname);
    return match ? { account: match[1]!, name: match[2]! } : undefined;
  } catch {
    return undefined;
  }
}

function parseJson(text: string): Json {
  try {
    const parsed: unknown = JSON.parse(text);
    return isObject(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}
