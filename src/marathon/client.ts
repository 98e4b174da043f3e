import { request, type Dispatcher } from 'undici';
import type { Logger } from '../log.js';
import { describeRequestError } from '../util/http-error.js';
import { endpointDisplayUrl, endpointUrl, parseEndpoint, type Endpoint } from '../util/endpoint.js';
import { untrustedHint } from '../util/trust-store.js';
import { AppListError, AppListScanner } from './app-list.js';

/** A failed Marathon call; the message names every URL tried (credentials redacted) and why it failed. */
export class MarathonError extends Error {
  override readonly name = 'MarathonError';
}

export interface MarathonClientOptions {
  urls: readonly string[];
  /**
   * Wait at most this long for response headers and between body chunks; the whole `/v2/apps` answer
   * must arrive within APPS_DEADLINE_FACTOR times this. 0 = forever.
   */
  timeoutMs: number;
  /** The largest `/v2/apps` body accepted; a larger one is a broken instance, not a cluster. */
  maxAppsBytes?: number;
  dispatcher: Dispatcher;
  logger: Logger;
}

export interface EventStream {
  endpoint: Endpoint;
  body: AsyncIterable<Buffer>;
  /** Ends the stream from our side (idle timeout, shutdown). */
  close(): void;
}

/**
 * Receives the apps of one answer as they are read. `add` must not throw: an error from it ends the
 * read like a broken answer would.
 */
export interface AppSink {
  add(app: unknown): void;
}

/** A reason to move to the next Marathon: the one we asked could not answer at all. */
class FailoverError extends Error {}

const USER_AGENT = 'marathon-acme';

/**
 * A Marathon that sends its app list a few bytes at a time never trips the per-chunk timeout, so the
 * whole answer has a deadline too. Six header timeouts (a minute by default) is ample for the tens of
 * megabytes of a 10,000-app cluster on a data-centre network.
 */
export const APPS_DEADLINE_FACTOR = 6;

/** 10,000 apps with generous definitions are well under 100 MiB; four times that is a broken answer. */
export const DEFAULT_MAX_APPS_BYTES = 400 * 2 ** 20;

/**
 * Marathon's REST API across several instances. Any instance answers (non-leaders proxy to the
 * leader), so the client sticks to the last one that worked and moves on to the next on connection
 * failure, timeout or a 5xx answer.
 */
export class MarathonClient {
  private readonly endpoints: Endpoint[];
  private preferred = 0;

  constructor(private readonly options: MarathonClientOptions) {
    this.endpoints = options.urls.map(parseEndpoint);
    if (this.endpoints.length === 0) throw new Error('at least one Marathon URL is required');
  }

  get displayUrls(): string[] {
    return this.endpoints.map((e) => e.display);
  }

  /** `GET /v2/apps` → the list of app definitions, unvalidated (selection copes with any shape). */
  async getApps(signal?: AbortSignal): Promise<unknown[]> {
    const list = await this.readApps(() => {
      const apps: unknown[] = [];
      return { apps, add: (app: unknown) => apps.push(app) };
    }, signal);
    return list.apps;
  }

  /**
   * `GET /v2/apps`, each app handed to a sink as soon as it has arrived, so that the list is never
   * held whole. An instance may fail half-way through its answer and the next one is asked from the
   * start, so each attempt gets a fresh sink from `start`; the one fed a complete list is returned.
   */
  async readApps<S extends AppSink>(start: () => S, signal?: AbortSignal): Promise<S> {
    const { timeoutMs } = this.options;
    const maxBytes = this.options.maxAppsBytes ?? DEFAULT_MAX_APPS_BYTES;
    return this.withFailover('/v2/apps', undefined, async (endpoint, url, display) => {
      const deadlineMs = timeoutMs * APPS_DEADLINE_FACTOR;
      const deadline = deadlineMs > 0 ? AbortSignal.timeout(deadlineMs) : undefined;
      const signals = [signal, deadline].filter((s): s is AbortSignal => s !== undefined);
      try {
        const response = await request(url, {
          method: 'GET',
          headers: this.headers(endpoint, 'application/json'),
          dispatcher: this.options.dispatcher,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
          ...(signals.length === 0 ? {} : { signal: AbortSignal.any(signals) }),
        });
        await checkAppListResponse(response, display);
        const sink = start();
        await streamAppList(response, sink, maxBytes);
        return sink;
      } catch (err) {
        if (deadline?.aborted === true && signal?.aborted !== true) {
          throw new FailoverError(`no complete answer within ${deadlineMs / 1000} s (${APPS_DEADLINE_FACTOR} × --marathon-timeout)`);
        }
        throw err;
      }
    });
  }

  /**
   * Opens `GET /v2/events` filtered to `eventTypes`. The returned body yields raw chunks; it ends when
   * Marathon closes the stream, and fails with undici's body timeout after `idleTimeoutMs` of silence.
   */
  async openEventStream(eventTypes: readonly string[], idleTimeoutMs: number, signal: AbortSignal): Promise<EventStream> {
    const query = new URLSearchParams();
    for (const type of [...eventTypes].sort()) query.append('event_type', type);
    return this.withFailover('/v2/events', query, async (endpoint, url, display) => {
      const controller = new AbortController();
      const onAbort = (): void => {
        controller.abort();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const response = await request(url, {
        method: 'GET',
        headers: { ...this.headers(endpoint, 'text/event-stream'), 'cache-control': 'no-store' },
        dispatcher: this.options.dispatcher,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: idleTimeoutMs,
        signal: controller.signal,
      }).catch((err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        throw err;
      });
      const close = (): void => {
        signal.removeEventListener('abort', onAbort);
        controller.abort();
      };
      if (response.statusCode !== 200) {
        const text = await readText(response).catch(() => '');
        close();
        checkStatus(response.statusCode, display, text);
        throw new MarathonError(`${display} answered ${response.statusCode} instead of an event stream`);
      }
      const contentType = mediaType(response.headers['content-type']);
      if (contentType !== 'text/event-stream') {
        close();
        throw new MarathonError(`${display} answered with Content-Type '${contentType ?? 'none'}', expected text/event-stream`);
      }
      return { endpoint, body: response.body, close };
    });
  }

  private headers(endpoint: Endpoint, accept: string): Record<string, string> {
    const headers: Record<string, string> = { accept, 'user-agent': USER_AGENT };
    if (endpoint.authorization !== undefined) headers['authorization'] = endpoint.authorization;
    return headers;
  }

  private async withFailover<T>(
    path: string,
    query: URLSearchParams | undefined,
    attempt: (endpoint: Endpoint, url: string, display: string) => Promise<T>,
  ): Promise<T> {
    const failures: string[] = [];
    const count = this.endpoints.length;
    for (let i = 0; i < count; i++) {
      const index = (this.preferred + i) % count;
      const endpoint = this.endpoints[index];
      if (endpoint === undefined) continue;
      const display = endpointDisplayUrl(endpoint, path, query);
      try {
        const result = await attempt(endpoint, endpointUrl(endpoint, path, query), display);
        if (index !== this.preferred) {
          this.options.logger.info({ marathon: endpoint.display }, 'switched to another Marathon instance');
          this.preferred = index;
        }
        return result;
      } catch (err) {
        if (err instanceof MarathonError) throw err;
        const reason = `${describeRequestError(err)}${untrustedHint(err)}`;
        failures.push(`${display}: ${reason}`);
        this.options.logger.warn({ url: display, err: reason }, 'Marathon request failed, trying the next instance');
      }
    }
    throw new MarathonError(`no Marathon instance answered (${failures.join('; ')})`);
  }
}

/** Reads a (small: an error page) body as UTF-8, refusing (and abandoning) one larger than `maxBytes`. */
async function readText(response: Dispatcher.ResponseData, maxBytes = 2 ** 20): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      // Leaving the loop by throwing destroys the body, so the rest is never read.
      if (size > maxBytes) throw new FailoverError(`the answer is larger than ${maxBytes} bytes; not reading further`);
      chunks.push(buffer);
    }
  } catch (err) {
    if (err instanceof FailoverError) throw err;
    throw new FailoverError(`reading the answer failed: ${describeRequestError(err)}`);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/**
 * Refuses an answer that cannot be the app list before reading it: a 2xx answer that is not JSON (a
 * proxy's HTML page, another API) means this instance is broken, not the cluster.
 */
async function checkAppListResponse(response: Dispatcher.ResponseData, display: string): Promise<void> {
  if (response.statusCode >= 400) {
    const text = await readText(response).catch(() => '');
    checkStatus(response.statusCode, display, text);
  }
  const contentType = mediaType(response.headers['content-type']);
  if (contentType !== 'application/json') {
    // Reads a small page to keep the connection, abandons a large one.
    await response.body.dump();
    throw new FailoverError(`answered with Content-Type '${contentType ?? 'none'}', expected application/json`);
  }
}

/**
 * Feeds the body to `sink` app by app as it arrives, refusing (and abandoning) one larger than
 * `maxBytes`. A body that turns out not to be the app list, even at its very end, is a reason to fail
 * over, like truncated JSON would be: the next instance may well answer properly.
 */
async function streamAppList(response: Dispatcher.ResponseData, sink: AppSink, maxBytes: number): Promise<void> {
  const scanner = new AppListScanner((app) => {
    sink.add(app);
  });
  let size = 0;
  try {
    for await (const chunk of response.body) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      // Leaving the loop by throwing destroys the body, so the rest is never read.
      if (size > maxBytes) throw new FailoverError(`the answer is larger than ${maxBytes} bytes; not reading further`);
      scanner.write(buffer);
    }
    scanner.end();
  } catch (err) {
    if (err instanceof FailoverError) throw err;
    if (err instanceof AppListError) throw new FailoverError(err.message);
    throw new FailoverError(`reading the answer failed: ${describeRequestError(err)}`);
  }
}

function checkStatus(status: number, display: string, body: string): void {
  if (status >= 500) throw new FailoverError(`${status} Server Error`);
  if (status >= 400) {
    const snippet = body.slice(0, 200).replace(/\s+/g, ' ').trim();
    throw new MarathonError(`${display} answered ${status} Client Error${snippet === '' ? '' : `: ${snippet}`}`);
  }
}

function mediaType(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[header.length - 1] : header;
  return value?.split(';')[0]?.trim().toLowerCase();
}
