/**
 * A thin HTTPS proxy in front of pebble that adds what Debian's pebble 2.4.0 lacks and lets tests see
 * and disturb the ACME traffic:
 *
 * - ACME Renewal Information (RFC 9773): `renewalInfo` in the directory and unauthenticated
 *   `GET <renewalInfo>/<certId>` answering windows the test sets.
 * - ACME profiles (draft-ietf-acme-profiles): `meta.profiles` in the directory; a newOrder naming a
 *   profile that is not advertised gets `invalidProfile`. Pebble 2.4.0 ignores the `profile` and
 *   `replaces` fields, so a known profile or any `replaces` is forwarded and issued as usual.
 * - Observation: every newOrder payload and its status, request counts per path and per method and path.
 * - Fault injection: canned problem responses (or raw bodies) for the next N requests to a path, and whole-CA
 *   outages (`setMode`): every connection reset, or requests accepted and never answered.
 *
 * Why there is no URL rewriting: pebble derives every URL it hands out (directory, Location, Link,
 * order/authz/challenge/finalize/certificate URLs) from the request's Host header, and accepts a JWS
 * only if its protected `url` is https://<Host><path>. Forwarding each request unchanged, Host
 * included, therefore makes pebble speak in the proxy's URLs, and every later request comes back here.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { Agent, request } from 'undici';
import { pebbleTls } from './pebble.js';

export interface AriWindow {
  start: Date;
  end: Date;
  explanationURL?: string;
}

export interface AcmeProxyOptions {
  /** Pebble's HTTPS origin, e.g. https://127.0.0.1:14000 (a full directory URL works too: only its origin is used). */
  upstream: string;
  /** PEM of the CA that signed pebble's listener certificate. */
  caPem: string;
  /** Profile name → description, advertised in `meta.profiles`; undefined advertises none and checks none. */
  profiles?: Record<string, string>;
  /** Advertise and serve `renewalInfo` (default true). */
  ari?: boolean;
}

export interface ObservedOrder {
  identifiers: string[];
  profile?: string;
  replaces?: string;
  /** The HTTP status the client received (from pebble or from the proxy itself). */
  status: number;
}

/**
 * The whole CA's state, as a client sees it:
 * - `up`: everything is served as described above;
 * - `refuse`: every connection is reset as soon as it is accepted, before TLS, and open ones are
 *   dropped when the mode is set;
 * - `stall`: connections and requests are accepted, and no request is ever answered (only the
 *   client's own timeout ends it). Connections already open stay open and stall too.
 */
export type CaMode = 'up' | 'refuse' | 'stall';

export interface AriAnswer {
  window: AriWindow;
  retryAfterSeconds?: number;
}

/** RFC 9773's example poll interval; Let's Encrypt uses the same order of magnitude. */
const DEFAULT_RETRY_AFTER_SECONDS = 21_600;
const DIRECTORY_PATH = '/dir';
const RENEWAL_INFO_PATH = '/renewal-info';
const ACME_ERROR = 'urn:ietf:params:acme:error:';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and must not be relayed. undici also
 * refuses several of them outright, and `content-length` is recomputed for the buffered body.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

interface Fault {
  prefix: string;
  remaining: number;
  status: number;
  type: string;
  retryAfterSeconds: number | undefined;
  /** Sent as it is instead of a problem document (`answerNextRaw`). */
  raw?: { contentType: string; body: string };
}

interface NewOrderPayload {
  identifiers: string[];
  profile?: string;
  replaces?: string;
}

type RelayHeaders = Record<string, string | string[]>;

/** Headers worth relaying: no hop-by-hop ones, none named by `Connection`, no undefined values. */
function relayable(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, drop: readonly string[] = []): RelayHeaders {
  const connection = headers.connection;
  const named = new Set(
    (Array.isArray(connection) ? connection.join(',') : (connection ?? ''))
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter((token) => token !== ''),
  );
  const result: RelayHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || named.has(lower) || drop.includes(lower)) continue;
    result[lower] = value;
  }
  return result;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads the newOrder payload out of a flattened JWS JSON body without checking the signature:
 * pebble checks it when the request is forwarded, and requests the proxy answers itself are test
 * scenarios anyway. Undecodable bodies yield an empty record so they are still observed.
 */
function decodeNewOrder(body: Buffer): NewOrderPayload {
  try {
    const jws: unknown = JSON.parse(body.toString('utf8'));
    if (!isRecord(jws) || typeof jws.payload !== 'string') return { identifiers: [] };
    const payload: unknown = JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8'));
    if (!isRecord(payload)) return { identifiers: [] };
    const identifiers = Array.isArray(payload.identifiers)
      ? payload.identifiers.flatMap((identifier: unknown) =>
          isRecord(identifier) && typeof identifier.value === 'string' ? [identifier.value] : [],
        )
      : [];
    return {
      identifiers,
      ...(typeof payload.profile === 'string' ? { profile: payload.profile } : {}),
      ...(typeof payload.replaces === 'string' ? { replaces: payload.replaces } : {}),
    };
  } catch {
    return { identifiers: [] };
  }
}

/** Accepts `rateLimited` as shorthand for `urn:ietf:params:acme:error:rateLimited`. */
function problemType(status: number, type: string | undefined): string {
  if (type !== undefined) return type.includes(':') ? type : `${ACME_ERROR}${type}`;
  if (status === 429) return `${ACME_ERROR}rateLimited`;
  return status >= 500 ? `${ACME_ERROR}serverInternal` : `${ACME_ERROR}malformed`;
}

/** '/my-order/abc' → '/my-order'; '/dir' → '/dir'; ids never make their own counter. */
function pathPattern(pathname: string): string {
  return `/${pathname.split('/')[1] ?? ''}`;
}

export class AcmeProxy {
  readonly directoryUrl: string;
  readonly orders: ObservedOrder[] = [];
  /** When (epoch ms) each newOrder of `orders` arrived, index for index. */
  readonly orderTimes: number[] = [];
  readonly requests = new Map<string, number>();
  /** The same counts split by method, keyed `METHOD /path` (e.g. `HEAD /nonce-plz`, `POST /my-order`). */
  readonly requestsByMethod = new Map<string, number>();
  /** When (epoch ms) each connection reset in `refuse` mode arrived: the clients' connection attempts. */
  readonly refusedConnections: number[] = [];
  /** `METHOD /path` of each request left unanswered in `stall` mode (ids kept). */
  readonly stalledRequests: string[] = [];

  readonly #server: Server;
  readonly #agent: Agent;
  readonly #upstream: string;
  readonly #ownHost: string;
  readonly #profiles: Record<string, string> | undefined;
  readonly #ari: boolean;
  /** Pebble's own paths for these resources, read from its directory rather than assumed. */
  readonly #newOrderPath: string;
  readonly #newNoncePath: string;
  readonly #windows = new Map<string, AriAnswer>();
  #defaultWindow: ((certId: string) => AriAnswer | undefined) | undefined;
  /** The problem a newOrder carrying `replaces` gets while set. */
  #rejectReplaces: { type: string; status: number; detail?: string } | undefined;
  readonly #faults: Fault[] = [];
  #mode: CaMode = 'up';
  #stopped: Promise<void> | undefined;

  private constructor(init: {
    server: Server;
    agent: Agent;
    upstream: string;
    port: number;
    options: AcmeProxyOptions;
    newOrderPath: string;
    newNoncePath: string;
  }) {
    this.#server = init.server;
    this.#agent = init.agent;
    this.#upstream = init.upstream;
    this.#ownHost = `127.0.0.1:${init.port}`;
    this.directoryUrl = `https://${this.#ownHost}${DIRECTORY_PATH}`;
    this.#profiles = init.options.profiles;
    this.#ari = init.options.ari ?? true;
    this.#newOrderPath = init.newOrderPath;
    this.#newNoncePath = init.newNoncePath;
  }

  static async start(options: AcmeProxyOptions): Promise<AcmeProxy> {
    const tls = await pebbleTls();
    const [cert, key] = await Promise.all([readFile(tls.certFile), readFile(tls.keyFile)]);
    const upstream = new URL(options.upstream).origin;
    const agent = new Agent({ connect: { ca: options.caPem } });
    // The handler is attached once the proxy exists; nothing can connect before the port is known.
    const server = createServer({ cert, key });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
      const { port } = server.address() as AddressInfo;
      const directory = await fetchDirectory(upstream, `127.0.0.1:${port}`, agent);
      const proxy = new AcmeProxy({
        server,
        agent,
        upstream,
        port,
        options,
        newOrderPath: new URL(directory.newOrder).pathname,
        newNoncePath: new URL(directory.newNonce).pathname,
      });
      // After the TLS server's own listener, which has wrapped the socket by now; destroying the
      // raw socket still ends it before the handshake's first answer, so the client sees a reset.
      server.on('connection', (socket: Socket) => {
        if (proxy.#mode !== 'refuse') return;
        proxy.refusedConnections.push(Date.now());
        socket.resetAndDestroy();
      });
      server.on('request', (req: IncomingMessage, res: ServerResponse) => {
        // A connection whose handshake was under way when `refuse` was set.
        if (proxy.#mode === 'refuse') {
          req.socket.destroy();
          return;
        }
        if (proxy.#mode === 'stall') {
          proxy.stalledRequests.push(`${req.method ?? 'GET'} ${req.url ?? '/'}`);
          return;
        }
        proxy.#handle(req, res).catch((error: unknown) => {
          // A bug here must surface as a failed request, not as an unhandled rejection.
          if (!res.headersSent) {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(`acme-proxy: ${error instanceof Error ? error.message : String(error)}`);
          } else {
            res.destroy();
          }
        });
      });
      return proxy;
    } catch (error) {
      server.close();
      await agent.close();
      throw error;
    }
  }

  /** What `GET <renewalInfo>/<certId>` answers for this id. */
  setWindow(certId: string, window: AriWindow, retryAfterSeconds?: number): void {
    this.#windows.set(certId, retryAfterSeconds === undefined ? { window } : { window, retryAfterSeconds });
  }

  /** Answers for ids without an explicit window; returning undefined gives 404 (unknown certificate). */
  setDefaultWindow(fn: (certId: string) => AriAnswer | undefined): void {
    this.#defaultWindow = fn;
  }

  /**
   * While on, a newOrder carrying `replaces` gets `problem` (by default 409 alreadyReplaced; Let's
   * Encrypt answers 403 unauthorized when another account ordered the predecessor) and never
   * reaches pebble.
   */
  rejectReplaces(on: boolean, problem: { type: string; status: number; detail?: string } = { type: 'alreadyReplaced', status: 409 }): void {
    this.#rejectReplaces = on ? problem : undefined;
  }

  /**
   * The next `count` requests whose path starts with `path` get `status` with a problem document
   * (type defaults to rateLimited for 429, serverInternal for 5xx, malformed otherwise) and
   * `Retry-After` when given. Rules queue up in the order they were added.
   */
  failNext(path: string, count: number, status: number, problemTypeName?: string, retryAfterSeconds?: number): void {
    this.#faults.push({ prefix: path, remaining: count, status, type: problemType(status, problemTypeName), retryAfterSeconds });
  }

  /** Drops every queued `failNext`/`answerNextRaw` rule: the CA answers normally again. */
  clearFaults(): void {
    this.#faults.length = 0;
  }

  /**
   * Like `failNext`, but the answer is `body` as it is, under `contentType`: an HTML page from a load
   * balancer, a truncated JSON object, anything that is not a problem document. POSTs still get a
   * fresh Replay-Nonce, as from a CA whose front end mangled the answer.
   */
  answerNextRaw(path: string, count: number, status: number, contentType: string, body: string): void {
    this.#faults.push({ prefix: path, remaining: count, status, type: '', retryAfterSeconds: undefined, raw: { contentType, body } });
  }

  get mode(): CaMode {
    return this.#mode;
  }

  /**
   * `refuse` models "CA unreachable" by resetting each connection on the listener the proxy keeps,
   * rather than by closing the listener (as the Marathon emulator's `down` does): a client sees the
   * same thing either way, a transport error before any HTTP answer, but this way every attempt is
   * counted (a closed port is refused by the kernel, unseen), and the port cannot be taken by another
   * process before `up` re-listens on it, which would break the URLs pebble handed out.
   */
  setMode(mode: CaMode): void {
    if (this.#stopped !== undefined) throw new Error('the ACME proxy is stopped');
    this.#mode = mode;
    // Keep-alive connections would otherwise carry on as if the CA were there.
    if (mode === 'refuse') this.#server.closeAllConnections();
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      const closed = new Promise<void>((resolve) => {
        this.#server.close(() => {
          resolve();
        });
      });
      // Keep-alive connections of the clients under test would otherwise hold close() open.
      this.#server.closeAllConnections();
      await closed;
      await this.#agent.close();
    })();
    return this.#stopped;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://proxy.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const pattern = pathPattern(path);
    this.requests.set(pattern, (this.requests.get(pattern) ?? 0) + 1);
    const keyed = `${method} ${pattern}`;
    this.requestsByMethod.set(keyed, (this.requestsByMethod.get(keyed) ?? 0) + 1);
    const body = await readBody(req);
    // URLs the proxy itself hands out follow the Host the client used, as pebble's do.
    const host = req.headers.host ?? this.#ownHost;

    const newOrder = method === 'POST' && path === this.#newOrderPath ? decodeNewOrder(body) : undefined;
    const arrived = Date.now();
    const observe = (status: number): void => {
      if (newOrder === undefined) return;
      this.orders.push({ ...newOrder, status });
      this.orderTimes.push(arrived);
    };

    const fault = this.#takeFault(path);
    if (fault !== undefined) {
      observe(fault.status);
      if (fault.raw !== undefined) await this.#raw(req, res, host, fault.status, fault.raw);
      else await this.#problem(req, res, host, fault.status, fault.type, 'injected by the test ACME proxy', fault.retryAfterSeconds);
      return;
    }
    if (path === DIRECTORY_PATH && (method === 'GET' || method === 'HEAD')) {
      await this.#directory(req, res, host);
      return;
    }
    if (this.#ari && (path === RENEWAL_INFO_PATH || path.startsWith(`${RENEWAL_INFO_PATH}/`))) {
      await this.#renewalInfo(req, res, host, path.slice(RENEWAL_INFO_PATH.length + 1));
      return;
    }
    if (newOrder !== undefined) {
      if (this.#profiles !== undefined && newOrder.profile !== undefined && !Object.hasOwn(this.#profiles, newOrder.profile)) {
        observe(400);
        await this.#problem(req, res, host, 400, `${ACME_ERROR}invalidProfile`, `profile "${newOrder.profile}" is not offered`);
        return;
      }
      const refusal = this.#rejectReplaces;
      if (refusal !== undefined && newOrder.replaces !== undefined) {
        observe(refusal.status);
        await this.#problem(req, res, host, refusal.status, `${ACME_ERROR}${refusal.type}`, refusal.detail ?? `certificate ${newOrder.replaces} has already been replaced`);
        return;
      }
    }
    observe(await this.#forward(req, res, url, body));
  }

  #takeFault(path: string): Fault | undefined {
    const fault = this.#faults.find((f) => f.remaining > 0 && path.startsWith(f.prefix));
    if (fault === undefined) return undefined;
    fault.remaining -= 1;
    if (fault.remaining === 0) this.#faults.splice(this.#faults.indexOf(fault), 1);
    return fault;
  }

  /** Relays the request unchanged (Host included) and streams pebble's answer back; returns its status. */
  async #forward(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): Promise<number> {
    let upstream;
    try {
      upstream = await request(`${this.#upstream}${url.pathname}${url.search}`, {
        method: req.method ?? 'GET',
        headers: relayable(req.headers, ['content-length']),
        body: body.length > 0 ? body : null,
        dispatcher: this.#agent,
      });
    } catch (error) {
      const detail = `pebble unreachable: ${error instanceof Error ? error.message : String(error)}`;
      await this.#problem(req, res, req.headers.host ?? this.#ownHost, 502, `${ACME_ERROR}serverInternal`, detail);
      return 502;
    }
    res.writeHead(upstream.statusCode, relayable(upstream.headers));
    pipeline(upstream.body, res, () => {
      // A client that hangs up mid-response is not the proxy's problem; pipeline cleans both sides.
    });
    return upstream.statusCode;
  }

  /** Pebble's directory (fetched with the client's Host, so its URLs point here) plus ARI and profiles. */
  async #directory(req: IncomingMessage, res: ServerResponse, host: string): Promise<void> {
    const upstream = await request(`${this.#upstream}${DIRECTORY_PATH}`, {
      method: 'GET', // also for HEAD: the length of the amended body must be right
      headers: relayable(req.headers, ['content-length']),
      dispatcher: this.#agent,
    });
    const text = await upstream.body.text();
    let directory: unknown;
    try {
      directory = JSON.parse(text);
    } catch {
      directory = undefined;
    }
    let out = text;
    if (upstream.statusCode === 200 && isRecord(directory)) {
      if (this.#ari) directory.renewalInfo = `https://${host}${RENEWAL_INFO_PATH}`;
      if (this.#profiles !== undefined) {
        directory.meta = { ...(isRecord(directory.meta) ? directory.meta : {}), profiles: { ...this.#profiles } };
      }
      out = JSON.stringify(directory, null, 2);
    }
    const headers: OutgoingHttpHeaders = relayable(upstream.headers, ['content-length']);
    headers['content-length'] = Buffer.byteLength(out);
    res.writeHead(upstream.statusCode, headers);
    res.end(req.method === 'HEAD' ? undefined : out);
  }

  /** RFC 9773 §4.2: unauthenticated GET; 404 for a certificate the server does not know. */
  async #renewalInfo(req: IncomingMessage, res: ServerResponse, host: string, certId: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      await this.#problem(req, res, host, 405, `${ACME_ERROR}malformed`, 'renewalInfo only answers GET');
      return;
    }
    const answer = certId === '' ? undefined : (this.#windows.get(certId) ?? this.#defaultWindow?.(certId));
    if (answer === undefined) {
      await this.#problem(req, res, host, 404, `${ACME_ERROR}malformed`, `no renewal information for certificate "${certId}"`);
      return;
    }
    const { window } = answer;
    const out = JSON.stringify({
      suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() },
      ...(window.explanationURL !== undefined ? { explanationURL: window.explanationURL } : {}),
    });
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(out),
      'retry-after': String(answer.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS),
    });
    res.end(req.method === 'HEAD' ? undefined : out);
  }

  /**
   * A problem document answered by the proxy itself. A POST carried a JWS whose nonce pebble never
   * saw; a client that pools nonces expects a fresh one in every response (RFC 8555 §6.5), so one is
   * fetched from pebble.
   */
  async #problem(
    req: IncomingMessage,
    res: ServerResponse,
    host: string,
    status: number,
    type: string,
    detail: string,
    retryAfterSeconds?: number,
  ): Promise<void> {
    const out = JSON.stringify({ type, detail, status });
    const headers: OutgoingHttpHeaders = {
      'content-type': 'application/problem+json',
      'content-length': Buffer.byteLength(out),
      'cache-control': 'no-store',
      link: `<https://${host}${DIRECTORY_PATH}>;rel="index"`,
    };
    if (retryAfterSeconds !== undefined) headers['retry-after'] = String(retryAfterSeconds);
    if (req.method === 'POST') {
      const nonce = await this.#freshNonce(host);
      if (nonce !== undefined) headers['replay-nonce'] = nonce;
    }
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : out);
  }

  async #raw(req: IncomingMessage, res: ServerResponse, host: string, status: number, raw: { contentType: string; body: string }): Promise<void> {
    const headers: OutgoingHttpHeaders = { 'content-type': raw.contentType, 'content-length': Buffer.byteLength(raw.body) };
    if (req.method === 'POST') {
      const nonce = await this.#freshNonce(host);
      if (nonce !== undefined) headers['replay-nonce'] = nonce;
    }
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : raw.body);
  }

  async #freshNonce(host: string): Promise<string | undefined> {
    try {
      const response = await request(`${this.#upstream}${this.#newNoncePath}`, { method: 'HEAD', headers: { host }, dispatcher: this.#agent });
      await response.body.dump();
      const nonce = response.headers['replay-nonce'];
      return typeof nonce === 'string' ? nonce : undefined;
    } catch {
      return undefined;
    }
  }
}

async function fetchDirectory(upstream: string, host: string, agent: Agent): Promise<{ newOrder: string; newNonce: string }> {
  const response = await request(`${upstream}${DIRECTORY_PATH}`, { headers: { host }, dispatcher: agent });
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`pebble directory answered ${response.statusCode}: ${text}`);
  const directory: unknown = JSON.parse(text);
  if (!isRecord(directory) || typeof directory.newOrder !== 'string' || typeof directory.newNonce !== 'string') {
    throw new Error(`pebble directory lacks newOrder/newNonce: ${text}`);
  }
  return { newOrder: directory.newOrder, newNonce: directory.newNonce };
}
