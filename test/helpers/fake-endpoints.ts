import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Small HTTP servers that answer like AWS endpoints for the few calls flambda's deploy tooling makes, so those
 * paths run through the real AWS SDK. They answer only what a test set up; anything else is a 404.
 */

export interface FakeEndpoint {
  readonly url: string;
  readonly requests: { method: string; url: string; target?: string; body: string }[];
  close(): Promise<void>;
}

type Handler = (request: { method: string; url: string; target?: string; body: string }) => { status: number; body: unknown } | undefined;

export async function startFakeEndpoint(handler: Handler): Promise<FakeEndpoint> {
  const requests: FakeEndpoint['requests'] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const target = req.headers['x-amz-target'];
      const request = { method: req.method ?? 'GET', url: req.url ?? '/', ...(typeof target === 'string' ? { target } : {}), body: Buffer.concat(chunks).toString('utf8') };
      requests.push(request);
      const answer = handler(request) ?? { status: 404, body: { message: `no fake for ${request.method} ${request.url} ${request.target ?? ''}` } };
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Lambda's GetAccountSettings (REST: GET /2016-08-19/account-settings), answering with these limits. */
export function lambdaAccountSettings(limit: number, unreserved: number): Handler {
  return ({ method, url }) =>
    method === 'GET' && url.startsWith('/2016-08-19/account-settings')
      ? {
          status: 200,
          body: {
            AccountLimit: { ConcurrentExecutions: limit, UnreservedConcurrentExecutions: unreserved, CodeSizeUnzipped: 262144000, CodeSizeZipped: 52428800, TotalCodeSize: 80530636800 },
            AccountUsage: { FunctionCount: 0, TotalCodeSize: 0 },
          },
        }
      : undefined;
}
