/**
 * An emulator of the parts of Marathon's REST API the daemon uses, written from Marathon's
 * documentation (REST API reference, event bus page) and from how its HTTP server (Jetty's
 * EventSourceServlet) writes the event stream. Marathon needs the JVM and Mesos, so tests run
 * against this instead; it aims to be faithful in the details a client can trip over:
 *
 * - `GET /v2/apps` answers `{"apps": [...]}` as `application/json; charset=utf-8`, ignoring query
 *   parameters such as `embed`.
 * - `GET /v2/events` streams only when an `Accept` header is exactly `text/event-stream` (Jetty
 *   compares each header value for equality); anything else falls through to a 405 page.
 * - The stream is `text/event-stream;charset=UTF-8` with `Connection: close` and no chunked
 *   encoding, headers flushed at once, events framed with CRLF, and a heartbeat that writes the CR
 *   and the LF separately.
 * - Every attach and detach is broadcast to all subscribers whose `event_type` filter allows it,
 *   the new subscriber included.
 * - Only app creation and single-app updates emit `api_post_event`; deletes and group-level
 *   changes emit nothing, so the daemon must not rely on events alone.
 *
 * Failure modes (down, 500s, stalls, broken app lists, dropped streams) are switchable so that
 * failover and reconnection can be tested.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';

export interface EmulatorOptions {
  /** Like Marathon's `--http_credentials`: every request needs this HTTP Basic identity. */
  basicAuth?: { user: string; password: string };
  /** Serve every route under this prefix, as Marathon does behind a path-prefix proxy. */
  basePath?: string;
  /** Heartbeat period per stream; Jetty's default is 10 s. 0 disables heartbeats. */
  heartbeatMs?: number;
  /** Serve HTTPS with this key and certificate chain (PEM), as Marathon's `--ssl_keystore_path` does. */
  tls?: { key: string; cert: string };
}

export type EmulatorMode = 'up' | 'down' | 'error500' | 'stall' | AppListFault;

/**
 * Faults of `GET /v2/apps` alone (the event stream keeps working), as a broken instance or a proxy in
 * front of one produces them:
 * - `stall-body`: headers and the first half of the body, then silence;
 * - `trickle`: the body one byte at a time (every TRICKLE_MS), so no single pause is long;
 * - `html`: 200 with an HTML page, as a login or error page of a proxy would be;
 * - `truncated-json`: 200 application/json cut off half-way.
 */
export type AppListFault = 'stall-body' | 'trickle' | 'html' | 'truncated-json';

const APP_LIST_FAULTS: ReadonlySet<string> = new Set<AppListFault>(['stall-body', 'trickle', 'html', 'truncated-json']);

export const TRICKLE_MS = 50;

export interface RecordedRequest {
  method: string;
  /** The request target as sent: path plus query string (including any base path). */
  path: string;
  headers: Record<string, string | string[] | undefined>;
}

interface Subscriber {
  response: ServerResponse;
  /** Empty means "all event types", as Marathon treats a request without `event_type`. */
  filter: ReadonlySet<string>;
  remoteAddress: string;
  heartbeat: NodeJS.Timeout | undefined;
  heartbeatLf: NodeJS.Timeout | undefined;
}

/**
 * Jetty writes the heartbeat's CR and LF with a flush in between. Leaving a short gap makes the two
 * bytes reach the client as separate reads reliably, which is the case a client's line splitter
 * must survive (a CR at the end of one chunk and the LF at the start of the next are one line break).
 */
const HEARTBEAT_LF_DELAY_MS = 15;

/** Marathon's realm default for `--http_realm`. */
const AUTH_REALM = 'Mesosphere';

function timestamp(): string {
  // Marathon writes ISO-8601 in UTC with milliseconds, e.g. 2017-02-18T19:12:00.102Z.
  return new Date().toISOString();
}

function appIdOf(app: object): string {
  const id = (app as { id?: unknown }).id;
  if (typeof id !== 'string' || id === '') throw new Error('a Marathon app needs a string id');
  return id;
}

/** `/v2/apps/<id without its leading slash>`, the `uri` Marathon puts into `api_post_event`. */
function appUri(id: string): string {
  return `/v2/apps/${id.replace(/^\/+/, '')}`;
}

function normaliseId(id: string): string {
  return id.startsWith('/') ? id : `/${id}`;
}

function normaliseBasePath(basePath: string | undefined): string {
  if (basePath === undefined || basePath === '' || basePath === '/') return '';
  const withSlash = basePath.startsWith('/') ? basePath : `/${basePath}`;
  return withSlash.replace(/\/+$/, '');
}

function copyHeaders(headers: IncomingHttpHeaders): Record<string, string | string[] | undefined> {
  const copy: Record<string, string | string[] | undefined> = {};
  for (const [name, value] of Object.entries(headers)) copy[name] = Array.isArray(value) ? [...value] : value;
  return copy;
}

function sendJson(response: ServerResponse, status: number, body: unknown, extraHeaders: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...extraHeaders,
  });
  response.end(text);
}

export class MarathonEmulator {
  readonly #server: Server | HttpsServer;
  readonly #scheme: 'http' | 'https';
  readonly #basePath: string;
  readonly #basicAuth: { user: string; password: string } | undefined;
  readonly #heartbeatMs: number;
  readonly #apps = new Map<string, Record<string, unknown>>();
  readonly #subscribers = new Set<Subscriber>();
  readonly #sockets = new Set<Socket>();
  readonly #requests: RecordedRequest[] = [];
  #port = 0;
  #mode: EmulatorMode = 'up';
  #listening = false;
  #stopped = false;
  #appsRequests = 0;
  #eventStreamRequests = 0;
  #lastEventStreamQuery: URLSearchParams | undefined;
  #rawApps: unknown[] | undefined;
  /**
   * The app list as sent, serialised once per change like a caching proxy would: with 10,000 apps a
   * JSON.stringify per request is tens of milliseconds of the emulator's time that would otherwise
   * show up in the client's sync time.
   */
  #appListBytes: Buffer | undefined;
  readonly #trickles = new Set<NodeJS.Timeout>();

  private constructor(options: EmulatorOptions) {
    this.#basePath = normaliseBasePath(options.basePath);
    this.#basicAuth = options.basicAuth;
    this.#heartbeatMs = options.heartbeatMs ?? 10_000;
    const handler = (request: IncomingMessage, response: ServerResponse): void => {
      this.#handle(request, response);
    };
    this.#scheme = options.tls === undefined ? 'http' : 'https';
    this.#server = options.tls === undefined ? createServer(handler) : createHttpsServer(options.tls, handler);
    // An event stream is one long request; Node's whole-request timeout must not cut it off.
    this.#server.requestTimeout = 0;
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(options: EmulatorOptions = {}): Promise<MarathonEmulator> {
    const emulator = new MarathonEmulator(options);
    await emulator.#listen(0);
    return emulator;
  }

  /** Base URL to configure as a Marathon URL, including the base path if there is one. */
  get url(): string {
    return `${this.#scheme}://127.0.0.1:${this.#port}${this.#basePath}`;
  }

  get port(): number {
    return this.#port;
  }

  get mode(): EmulatorMode {
    return this.#mode;
  }

  /** `GET /v2/apps` requests answered with 200. */
  get appsRequests(): number {
    return this.#appsRequests;
  }

  /** `GET /v2/events` requests that were given a stream. */
  get eventStreamRequests(): number {
    return this.#eventStreamRequests;
  }

  get openStreams(): number {
    return this.#subscribers.size;
  }

  /** Query of the most recent request that was given a stream. */
  get lastEventStreamQuery(): URLSearchParams | undefined {
    return this.#lastEventStreamQuery;
  }

  /** Every request received, in order, including refused and failed ones. */
  get requests(): RecordedRequest[] {
    return this.#requests;
  }

  /** The apps as `GET /v2/apps` would return them. */
  get apps(): Array<Record<string, unknown>> {
    return [...this.#apps.values()].map((app) => structuredClone(app));
  }

  /** Like `POST /v2/apps`: the id must be new; emits `api_post_event`. */
  addApp(app: object, opts: { clientIp?: string | null } = {}): void {
    const id = appIdOf(app);
    if (this.#apps.has(id)) throw new Error(`app ${id} already exists`);
    this.#storeAndAnnounce(id, app, opts.clientIp ?? null);
  }

  /** Like `PUT /v2/apps/{id}` (which also creates): replaces the app; emits `api_post_event`. */
  updateApp(app: object, opts: { clientIp?: string | null } = {}): void {
    this.#storeAndAnnounce(appIdOf(app), app, opts.clientIp ?? null);
  }

  /** Like `DELETE /v2/apps/{id}`: Marathon emits no `api_post_event` for a delete. */
  removeApp(id: string): void {
    if (!this.#apps.delete(id) && !this.#apps.delete(normaliseId(id))) throw new Error(`app ${id} does not exist`);
    this.#appListBytes = undefined;
  }

  /** Like a `/v2/groups` or batch `PUT /v2/apps` change: the app list changes, no event is emitted. */
  replaceAppsSilently(apps: object[]): void {
    this.#apps.clear();
    for (const app of apps) this.#apps.set(appIdOf(app), structuredClone(app) as Record<string, unknown>);
    this.#appListBytes = undefined;
  }

  /**
   * Serves exactly these entries as the app list (anything JSON can hold: entries without ids, labels
   * that are not objects), until called with undefined. Marathon validates what it stores, but a
   * client must survive an API version or a proxy that changes the shape.
   */
  serveRawApps(apps: unknown[] | undefined): void {
    this.#rawApps = apps === undefined ? undefined : structuredClone(apps);
    this.#appListBytes = undefined;
  }

  /**
   * Sends an event to every subscriber whose filter allows `eventType`. The payload is written as
   * given (no `eventType`/`timestamp` added), so tests can send incomplete or unusual events.
   */
  emit(eventType: string, payload: object): void {
    this.#broadcast(eventType, payload);
  }

  /**
   * Writes raw text to every open stream, unframed and unfiltered: for tests of a client's parser
   * (events split at awkward places, comments, over-long lines).
   */
  writeRaw(text: string): void {
    for (const subscriber of this.#subscribers) subscriber.response.write(text);
  }

  /**
   * Closes every open event stream from the server side, as a Marathon instance does when it loses
   * leadership. `abrupt` resets the connections instead of ending them cleanly.
   * No detach events are broadcast: every stream is going away anyway.
   */
  dropStreams(options: { abrupt?: boolean } = {}): void {
    for (const subscriber of [...this.#subscribers]) {
      this.#unsubscribe(subscriber);
      if (options.abrupt === true) subscriber.response.socket?.destroy();
      else subscriber.response.end();
    }
  }

  /**
   * - `down`: the listener is closed and every connection destroyed (connections are refused);
   *   `up` re-listens on the same port.
   * - `error500`: every request is answered with 500.
   * - `stall`: requests are accepted and never answered (the client's header timeout must fire).
   * - an AppListFault: only `GET /v2/apps` misbehaves, as described there.
   * Streams already open stay open in every mode but `down`.
   */
  async setMode(mode: EmulatorMode): Promise<void> {
    if (this.#stopped) throw new Error('the emulator is stopped');
    this.#mode = mode;
    if (mode === 'down') {
      if (this.#listening) await this.#close();
    } else if (!this.#listening) {
      await this.#listen(this.#port);
    }
  }

  /** Closes the listener and every connection, streams included. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#listening) await this.#close();
    else this.#destroyConnections();
  }

  #storeAndAnnounce(id: string, app: object, clientIp: string | null): void {
    const stored = structuredClone(app) as Record<string, unknown>;
    this.#apps.set(id, stored);
    this.#appListBytes = undefined;
    this.#broadcast('api_post_event', {
      clientIp,
      uri: appUri(id),
      appDefinition: structuredClone(stored),
      eventType: 'api_post_event',
      timestamp: timestamp(),
    });
  }

  async #listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        reject(error);
      };
      this.#server.once('error', onError);
      this.#server.listen(port, '127.0.0.1', () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('unexpected listener address');
    this.#port = address.port;
    this.#listening = true;
  }

  async #close(): Promise<void> {
    this.#listening = false;
    const closed = new Promise<void>((resolve) => {
      // The callback's error only says the server was not listening; closing is all we want.
      this.#server.close(() => {
        resolve();
      });
    });
    this.#destroyConnections();
    await closed;
  }

  #destroyConnections(): void {
    for (const timer of this.#trickles) clearInterval(timer);
    this.#trickles.clear();
    for (const subscriber of [...this.#subscribers]) this.#unsubscribe(subscriber);
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const method = request.method ?? 'GET';
    const target = request.url ?? '/';
    this.#requests.push({ method, path: target, headers: copyHeaders(request.headers) });

    // A stalled Marathon (GC pause, overloaded leader proxy) accepts and then says nothing.
    if (this.#mode === 'stall') return;
    if (this.#mode === 'error500') {
      sendJson(response, 500, { message: 'Internal Server Error (emulated)' });
      return;
    }
    if (!this.#authorised(request)) {
      sendJson(response, 401, { message: 'Invalid username or password.' }, {
        'WWW-Authenticate': `Basic realm="${AUTH_REALM}"`,
      });
      return;
    }

    const url = new URL(target, 'http://127.0.0.1');
    let path = url.pathname;
    if (this.#basePath !== '') {
      if (path !== this.#basePath && !path.startsWith(`${this.#basePath}/`)) {
        this.#notFound(response);
        return;
      }
      path = path.slice(this.#basePath.length) || '/';
    }

    if (path === '/v2/apps' || path === '/v2/apps/') {
      if (method !== 'GET') {
        this.#methodNotAllowed(response);
        return;
      }
      this.#appListBytes ??= Buffer.from(JSON.stringify({ apps: this.#rawApps ?? [...this.#apps.values()] }));
      if (APP_LIST_FAULTS.has(this.#mode)) {
        this.#faultyAppList(response, this.#mode as AppListFault, this.#appListBytes.toString());
        return;
      }
      this.#appsRequests++;
      response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': this.#appListBytes.length });
      response.end(this.#appListBytes);
      return;
    }
    if (path.startsWith('/v2/apps/') && method === 'GET') {
      const app = this.#apps.get(normaliseId(decodeURIComponent(path.slice('/v2/apps'.length))));
      if (app === undefined) sendJson(response, 404, { message: `App '${path.slice('/v2/apps'.length)}' does not exist` });
      else sendJson(response, 200, { app });
      return;
    }
    if (path === '/v2/events') {
      this.#events(request, response, url.searchParams, method);
      return;
    }
    if (path === '/ping' && method === 'GET') {
      response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 4 });
      response.end('pong');
      return;
    }
    this.#notFound(response);
  }

  #faultyAppList(response: ServerResponse, fault: AppListFault, text: string): void {
    const json = { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) };
    const half = text.slice(0, Math.floor(text.length / 2));
    switch (fault) {
      case 'stall-body':
        response.writeHead(200, json);
        response.write(half);
        return;
      case 'truncated-json':
        response.writeHead(200, { 'Content-Type': json['Content-Type'], 'Content-Length': Buffer.byteLength(half) });
        response.end(half);
        return;
      case 'html': {
        const page = '<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>…</form></body></html>\n';
        response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(page) });
        response.end(page);
        return;
      }
      case 'trickle': {
        response.writeHead(200, json);
        const bytes = Buffer.from(text);
        let sent = 0;
        const timer = setInterval(() => {
          if (sent >= bytes.length || response.destroyed) {
            clearInterval(timer);
            this.#trickles.delete(timer);
            if (!response.destroyed) response.end();
            return;
          }
          response.write(bytes.subarray(sent, sent + 1));
          sent++;
        }, TRICKLE_MS);
        this.#trickles.add(timer);
        return;
      }
    }
  }

  #authorised(request: IncomingMessage): boolean {
    if (this.#basicAuth === undefined) return true;
    const header = request.headers.authorization;
    if (header === undefined) return false;
    const match = /^Basic\s+(\S+)\s*$/i.exec(header);
    if (match?.[1] === undefined) return false;
    const expected = Buffer.from(`${this.#basicAuth.user}:${this.#basicAuth.password}`, 'utf8').toString('base64');
    return match[1] === expected;
  }

  #notFound(response: ServerResponse): void {
    sendJson(response, 404, { message: 'Not Found' });
  }

  #methodNotAllowed(response: ServerResponse): void {
    const body = '<html><body><h2>HTTP ERROR 405</h2><p>Problem accessing this resource. Reason: Method Not Allowed</p></body></html>\n';
    response.writeHead(405, { 'Content-Type': 'text/html;charset=ISO-8859-1', 'Content-Length': Buffer.byteLength(body) });
    response.end(body);
  }

  #events(request: IncomingMessage, response: ServerResponse, query: URLSearchParams, method: string): void {
    // Jetty's EventSourceServlet only streams for an Accept value equal to text/event-stream and
    // hands everything else to HttpServlet's doGet, which answers 405.
    const accepts = request.headersDistinct.accept ?? [];
    if (method !== 'GET' || !accepts.some((value) => value === 'text/event-stream')) {
      this.#methodNotAllowed(response);
      return;
    }

    this.#eventStreamRequests++;
    this.#lastEventStreamQuery = new URLSearchParams(query);
    response.setHeader('Content-Type', 'text/event-stream;charset=UTF-8');
    response.setHeader('Connection', 'close');
    // Jetty sends the stream close-delimited: no Content-Length and no chunked encoding.
    response.removeHeader('Content-Length');
    response.removeHeader('Transfer-Encoding');
    response.writeHead(200);
    response.flushHeaders();
    request.socket.setNoDelay(true);

    const subscriber: Subscriber = {
      response,
      filter: new Set(query.getAll('event_type')),
      remoteAddress: request.socket.remoteAddress ?? '127.0.0.1',
      heartbeat: undefined,
      heartbeatLf: undefined,
    };
    this.#subscribers.add(subscriber);
    response.once('close', () => {
      // Still registered means the client went away (not dropStreams/down): Marathon broadcasts that.
      if (this.#unsubscribe(subscriber)) {
        this.#broadcast('event_stream_detached', {
          remoteAddress: subscriber.remoteAddress,
          eventType: 'event_stream_detached',
          timestamp: timestamp(),
        });
      }
    });
    if (this.#heartbeatMs > 0) {
      subscriber.heartbeat = setInterval(() => {
        response.write('\r');
        subscriber.heartbeatLf = setTimeout(() => {
          if (!response.writableEnded) response.write('\n');
        }, HEARTBEAT_LF_DELAY_MS);
      }, this.#heartbeatMs);
    }
    this.#broadcast('event_stream_attached', {
      remoteAddress: subscriber.remoteAddress,
      eventType: 'event_stream_attached',
      timestamp: timestamp(),
    });
  }

  /** Returns whether the subscriber was still registered. */
  #unsubscribe(subscriber: Subscriber): boolean {
    clearInterval(subscriber.heartbeat);
    clearTimeout(subscriber.heartbeatLf);
    return this.#subscribers.delete(subscriber);
  }

  #broadcast(eventType: string, payload: object): void {
    // One write per event, like Jetty's emitter flushing after the blank line: a client sees an
    // event split across reads only if TCP splits it.
    const lines = JSON.stringify(payload).split('\n');
    const frame = `event: ${eventType}\r\n${lines.map((line) => `data: ${line}\r\n`).join('')}\r\n`;
    for (const subscriber of this.#subscribers) {
      if (subscriber.filter.size > 0 && !subscriber.filter.has(eventType)) continue;
      if (!subscriber.response.writableEnded) subscriber.response.write(frame);
    }
  }
}
