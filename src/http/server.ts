import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CHALLENGE_TOKEN, type ChallengeResponder } from '../acme/challenges.js';
import type { Logger } from '../log.js';
import { renderStatusPage, type StatusView } from '../status/page.js';

export interface HealthReport {
  /** Nothing needs attention: /ready answers 200 only then. /health answers 200 either way. */
  healthy: boolean;
  /** Why the daemon is not ready; empty when healthy. */
  problems: string[];
  /** Extra facts worth showing either way (last sync time, ...). No secrets. */
  details: Record<string, unknown>;
}

/** What /metrics serves: the Prometheus text exposition and its content type. */
export interface MetricsSource {
  readonly contentType: string;
  render(): Promise<string>;
}

/** What /status and /status.json serve: one view, as a page for people or as JSON. */
export interface StatusSource {
  view(): Promise<StatusView>;
}

export interface HttpServerOptions {
  responder: ChallengeResponder;
  health: () => HealthReport;
  /** Served at /metrics; without it /metrics is not a route (404). */
  metrics?: MetricsSource | undefined;
  /** Served at /status and /status.json; without it they are not routes (404). */
  status?: StatusSource | undefined;
  logger: Logger;
  /** How long a client may take to send its headers (tests shorten it). */
  headersTimeoutMs?: number;
}

const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';
const TOKEN_ROUTE = '/.well-known/acme-challenge/<token>';
const PING_ROUTE = '/.well-known/acme-challenge/ping';

/**
 * Every path this server answers, in the order of README.md's "HTTP endpoints" table
 * (test/unit/http-routes-doc.test.ts keeps the two in step). Requests are dispatched through this
 * list, so no path can be served without being listed here, and so documented there.
 */
export const HTTP_ROUTES = [TOKEN_ROUTE, PING_ROUTE, '/health', '/ready', '/metrics', '/', '/status', '/status.json'] as const;

type HttpRoute = (typeof HTTP_ROUTES)[number];

/** The route Marathon's health check (deploy/marathon-acme.json) asks: liveness only. */
export const LIVENESS_ROUTE = '/health' satisfies HttpRoute;

const EXACT_ROUTES = new Map<string, HttpRoute>(HTTP_ROUTES.filter((r) => !r.startsWith(CHALLENGE_PREFIX)).map((r) => [r, r]));

function routeOf(path: string): HttpRoute | undefined {
  if (path.startsWith(CHALLENGE_PREFIX)) return path === PING_ROUTE ? PING_ROUTE : TOKEN_ROUTE;
  return EXACT_ROUTES.get(path);
}

type Handler = (path: string, method: string, res: ServerResponse) => void;

const ALLOW = ['Allow', 'GET, HEAD'];
/**
 * Challenge answers (key authorization, unknown token, ping) close their connection. A load balancer that keeps server
 * connections (HAProxy without `option http-server-close`; it keeps idle ones for minutes) may send a
 * request on one just as Node's keep-alive timer closes it, and answers that request 502 `SH--`
 * itself; for a CA's validation that is a failed challenge. A connection we close after each answer
 * is never idle, so it can never be picked up mid-close. No keep-alive timeout avoids this: HAProxy's
 * idle pool outlives any of them. The cost is one TCP handshake per answer, from the LB next door.
 */
const CLOSE = ['Connection', 'close'];
/** Byte-for-byte what the original answered, so existing routing checks keep matching. */
const PING_BODY = Buffer.from('{"message": "pong"}');
const PING_HEAD = ['Content-Type', 'application/json', 'Content-Length', String(PING_BODY.length), 'Cache-Control', 'no-store', ...CLOSE];

/**
 * The daemon's only listener: HTTP-01 answers for the CA, the routing ping for operators, /health for
 * Marathon's health check, /ready for whoever wants the daemon's judgement, /metrics for Prometheus
 * and /status for people. Nothing here changes state.
 */
export function createHttpServer(options: HttpServerOptions): Server {
  const handlers = routeHandlers(options);
  // Node enforces the header and request timeouts only when it checks its connections, every 30 s by
  // default; check every second so a slow client is dropped close to the timeout.
  const server = createServer({ connectionsCheckingInterval: 1_000 }, (req, res) => {
    handle(handlers, req, res);
  });
  // Slow or idle clients must not pin sockets: the CA's validators send one small GET and go.
  server.headersTimeout = options.headersTimeoutMs ?? 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  return server;
}

/** A route without a handler (/metrics without metrics, ...) answers 404 like an unknown path. */
function routeHandlers(options: HttpServerOptions): Partial<Record<HttpRoute, Handler>> {
  const { metrics, status, logger } = options;
  return {
    [TOKEN_ROUTE]: (path, method, res) => {
      answerChallenge(options, path.slice(CHALLENGE_PREFIX.length), method, res);
    },
    [PING_ROUTE]: (_path, method, res) => {
      res.writeHead(200, PING_HEAD);
      res.end(method === 'HEAD' ? undefined : PING_BODY);
    },
    '/health': (_path, method, res) => {
      // Liveness: answering proves the process serves and its event loop turns. Marathon restarts a
      // task whose check fails, and no restart mends Marathon, the CA or an LB, so the problems are
      // told here but never turn the answer into a failure.
      const report = options.health();
      send(res, method, 200, 'application/json', JSON.stringify({ status: 'ok', ready: report.healthy, problems: report.problems, ...report.details }));
    },
    '/ready': (_path, method, res) => {
      const report = options.health();
      const body = report.healthy ? { status: 'ok', ...report.details } : { status: 'unhealthy', problems: report.problems, ...report.details };
      send(res, method, report.healthy ? 200 : 503, 'application/json', JSON.stringify(body));
    },
    ...(metrics === undefined
      ? {}
      : {
          '/metrics': (_path: string, method: string, res: ServerResponse) => {
            serveMetrics(metrics, logger, method, res);
          },
        }),
    ...(status === undefined
      ? {}
      : {
          // Relative, so that the page is found behind a proxy that serves it under a path prefix.
          '/': (_path: string, method: string, res: ServerResponse) => {
            send(res, method, 302, 'text/plain; charset=utf-8', 'Found: status\n', ['Location', 'status']);
          },
          '/status': (_path: string, method: string, res: ServerResponse) => {
            serveStatus(status, logger, method, res, false);
          },
          '/status.json': (_path: string, method: string, res: ServerResponse) => {
            serveStatus(status, logger, method, res, true);
          },
        }),
  };
}

function handle(handlers: Partial<Record<HttpRoute, Handler>>, req: IncomingMessage, res: ServerResponse): void {
  const rawUrl = req.url ?? '/';
  const path = rawUrl.split('?', 1)[0] ?? '/';
  const method = req.method ?? 'GET';
  const route = routeOf(path);
  const handler = route === undefined ? undefined : handlers[route];
  if (handler === undefined) {
    send(res, method, 404, 'text/plain; charset=utf-8', 'Not Found\n');
    return;
  }
  if (method !== 'GET' && method !== 'HEAD') {
    send(res, method, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n', ALLOW);
    return;
  }
  handler(path, method, res);
}

function answerChallenge(options: HttpServerOptions, token: string, method: string, res: ServerResponse): void {
  const { responder, logger } = options;
  const valid = CHALLENGE_TOKEN.test(token);
  const local = valid ? responder.lookup(token) : undefined;
  if (local !== undefined || !valid || !responder.shared) {
    sendChallengeAnswer(logger, token, local, method, res);
    return;
  }
  // Not ours: the leader may have published it for every instance.
  responder.find(token).then(
    (shared) => {
      sendChallengeAnswer(logger, token, shared, method, res);
    },
    () => {
      sendChallengeAnswer(logger, token, undefined, method, res);
    },
  );
}

function sendChallengeAnswer(logger: Logger, token: string, keyAuthorization: string | undefined, method: string, res: ServerResponse): void {
  if (keyAuthorization === undefined) {
    logger.debug({ token: token.slice(0, 80) }, 'challenge request for an unknown token');
    send(res, method, 404, 'text/plain; charset=utf-8', 'Not Found\n', CLOSE);
    return;
  }
  logger.debug({ token }, 'answered an HTTP-01 challenge');
  send(res, method, 200, 'text/plain', keyAuthorization, CLOSE);
}

function serveMetrics(metrics: MetricsSource, logger: Logger, method: string, res: ServerResponse): void {
  metrics.render().then(
    (text) => {
      send(res, method, 200, metrics.contentType, text);
    },
    (err: unknown) => {
      // prom-client only fails here when a metric's collect function throws (the default ones read /proc).
      logger.error({ err: err instanceof Error ? err.message : String(err) }, 'cannot render the metrics for /metrics');
      send(res, method, 500, 'text/plain; charset=utf-8', 'Internal Server Error\n');
    },
  );
}

function serveStatus(status: StatusSource, logger: Logger, method: string, res: ServerResponse, json: boolean): void {
  status.view().then(
    (view) => {
      let body: string;
      try {
        body = json ? `${JSON.stringify(view, null, 2)}\n` : renderStatusPage(view);
      } catch (err) {
        // A view the page cannot render must still get an answer, not a request left hanging.
        logger.error({ err: err instanceof Error ? err.message : String(err) }, 'cannot render /status');
        send(res, method, 500, 'text/plain; charset=utf-8', 'Internal Server Error: the status view could not be rendered (see the log)\n');
        return;
      }
      send(res, method, 200, json ? 'application/json' : 'text/html; charset=utf-8', body);
    },
    (err: unknown) => {
      logger.error({ err: err instanceof Error ? err.message : String(err) }, 'cannot read the storage directory for /status');
      send(res, method, 500, 'text/plain; charset=utf-8', 'Internal Server Error: the storage directory could not be read (see the log)\n');
    },
  );
}

/**
 * The whole head in one writeHead with a flat [name, value, ...] list: Node writes that straight out,
 * where setHeader validates each header into a map that is walked again to write the head (a tenth
 * of the CPU of a busy challenge server).
 */
function send(res: ServerResponse, method: string, status: number, contentType: string, body: string, extra: readonly string[] = []): void {
  res.writeHead(status, ['Content-Type', contentType, 'Content-Length', String(Buffer.byteLength(body)), 'Cache-Control', 'no-store', ...extra]);
  res.end(method === 'HEAD' ? undefined : body);
}

/** Binds and resolves with the real port; a bind failure rejects with an error naming the address. */
export function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new Error(`cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Stops listening and ends connections: idle ones at once, busy ones after `graceMs` (a slow or stuck
 * client must not hold up a shutdown).
 */
export function closeServer(server: Server, graceMs = 1_000): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.closeAllConnections();
    }, graceMs);
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
