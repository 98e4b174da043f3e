/**
 * A plain-HTTP server on 127.0.0.1 whose answers the test writes, for unit tests of the ACME client's
 * HTTP handling: it records every request with its decoded JWS (protected header and payload) so a
 * test can check the nonces and payloads the client sent.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The flattened JWS of a POST, decoded (signature not checked). */
  jws: { protected: Record<string, unknown>; payload: unknown } | undefined;
}

export type ScriptedHandler = (req: RecordedRequest, res: ServerResponse) => void | Promise<void>;

export class ScriptedAcme {
  private constructor(
    private readonly server: Server,
    readonly origin: string,
    readonly requests: RecordedRequest[],
  ) {}

  static async start(handler: ScriptedHandler): Promise<ScriptedAcme> {
    const requests: RecordedRequest[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const recorded: RecordedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body, jws: decodeJws(body) };
        requests.push(recorded);
        Promise.resolve(handler(recorded, res)).catch((err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`scripted handler failed: ${err instanceof Error ? err.message : String(err)}`);
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new ScriptedAcme(server, `http://127.0.0.1:${port}`, requests);
  }

  url(path: string): string {
    return `${this.origin}${path}`;
  }

  /** The nonces of the signed requests, in the order they were sent. */
  sentNonces(): unknown[] {
    return this.requests.flatMap((r) => (r.jws === undefined ? [] : [r.jws.protected['nonce']]));
  }

  count(method: string, path: string): number {
    return this.requests.filter((r) => r.method === method && r.path === path).length;
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    this.server.closeAllConnections();
    await closed;
  }
}

function decodeJws(body: string): RecordedRequest['jws'] {
  try {
    const jws = JSON.parse(body) as { protected?: unknown; payload?: unknown };
    if (typeof jws.protected !== 'string' || typeof jws.payload !== 'string') return undefined;
    const header = JSON.parse(Buffer.from(jws.protected, 'base64url').toString('utf8')) as Record<string, unknown>;
    const payload: unknown = jws.payload === '' ? undefined : JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8'));
    return { protected: header, payload };
  } catch {
    return undefined;
  }
}

/** Writes a JSON answer with the given extra headers. */
export function answerJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Writes an ACME problem document (type given without the urn prefix). */
export function answerProblem(res: ServerResponse, status: number, type: string, headers: Record<string, string> = {}): void {
  const text = JSON.stringify({ type: `urn:ietf:params:acme:error:${type}`, detail: `scripted ${type}`, status });
  res.writeHead(status, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** One scripted answer; `nonce` is a fresh Replay-Nonce to attach. */
export type ScriptedAnswer = (req: RecordedRequest, res: ServerResponse, nonce: string) => void;

/**
 * A minimal CA on ScriptedAcme: `GET /dir`, `HEAD /new-nonce` and an existing account at `/acct/1`
 * for `POST /new-acct`, unless `routes` says otherwise. Routes are keyed `METHOD /path`; a list is
 * answered in turn, its last entry repeating.
 */
export async function startFakeCa(routes: Record<string, ScriptedAnswer | ScriptedAnswer[]>): Promise<{ ca: ScriptedAcme; directoryUrl: string }> {
  let nonces = 0;
  const served = new Map<string, number>();
  let origin = '';
  const defaults: Record<string, ScriptedAnswer> = {
    'GET /dir': (_req, res) => {
      answerJson(res, 200, {
        newNonce: `${origin}/new-nonce`,
        newAccount: `${origin}/new-acct`,
        newOrder: `${origin}/new-order`,
        revokeCert: `${origin}/revoke-cert`,
        keyChange: `${origin}/key-change`,
        meta: { termsOfService: `${origin}/tos` },
      });
    },
    'HEAD /new-nonce': (_req, res, nonce) => {
      res.writeHead(200, { 'replay-nonce': nonce, 'cache-control': 'no-store' });
      res.end();
    },
    'POST /new-acct': (_req, res, nonce) => {
      answerJson(res, 200, { status: 'valid' }, { 'replay-nonce': nonce, location: `${origin}/acct/1` });
    },
  };
  const ca = await ScriptedAcme.start((req, res) => {
    const key = `${req.method} ${req.path}`;
    const route = routes[key] ?? defaults[key];
    nonces += 1;
    if (route === undefined) {
      answerProblem(res, 404, 'malformed', { 'replay-nonce': `n${nonces}` });
      return;
    }
    const list = Array.isArray(route) ? route : [route];
    const index = served.get(key) ?? 0;
    served.set(key, index + 1);
    const answer = list[Math.min(index, list.length - 1)];
    answer?.(req, res, `n${nonces}`);
  });
  origin = ca.origin;
  return { ca, directoryUrl: ca.url('/dir') };
}
