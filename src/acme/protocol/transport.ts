/**
 * HTTP for one ACME client (one CA): signed POSTs with the nonce handling RFC 8555 §6.5 asks for, plain
 * GETs for the directory and renewalInfo, every failure as a typed error. Everything that differs
 * between CAs (trust, timeout, User-Agent) lives in the instance, so clients for several CAs coexist.
 *
 * The only automatic retry is badNonce's, which RFC 8555 §6.5 makes safe: the request was refused
 * before anything was done. A 429 or 5xx goes back to the caller with its Retry-After, because the
 * daemon's own backoff decides when to try an order again.
 */
import { performance } from 'node:perf_hooks';
import { request, type Dispatcher } from 'undici';
import type { Clock } from '../../util/clock.js';
import { describeRequestError } from '../../util/http-error.js';
import { parseRetryAfter } from '../../util/retry-after.js';
import type { AcmeEndpoint, AcmeRequestObserver } from './endpoints.js';
import { signJws, type AccountSigner } from './jws.js';
import { NonceStore } from './nonce-store.js';
import { unusableAnswer } from './objects.js';
import { problemFromResponse, type AcmeProblemError } from './problem.js';
import type { TransportFailure } from './types.js';

/** A certificate chain is a few kB and a directory or order less; a CA answering more is broken. */
const MAX_BODY_BYTES = 1024 * 1024;
/** A CA rejecting half of all nonces still gets an order through with this many. */
const DEFAULT_MAX_BAD_NONCE_RETRIES = 20;
/** undici's own timeouts, which fire before our deadline when one phase alone takes too long. */
const TIMEOUT_CODES: ReadonlySet<string> = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

export interface AcmeTransportOptions {
  /** Trust store and connection pool for this CA (e.g. createAcmeAgent). */
  dispatcher: Dispatcher;
  /** Bounds each whole exchange: connect, headers and body. */
  timeoutMs: number;
  /** `marathon-acme/<version>`: RFC 8555 §6.1 asks clients to send one. */
  userAgent: string;
  clock: Clock;
  /** Told the duration of every request, answered or not (metrics). */
  onRequest?: AcmeRequestObserver | undefined;
  maxBadNonceRetries?: number | undefined;
}

export interface AcmeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON when the answer is JSON, else undefined. */
  body: unknown;
  text: string;
  /** The Location header, absolute. */
  location: string | undefined;
  /** Link headers (RFC 8288), absolute; one entry per relation type. */
  links: { url: string; rel: string }[];
  retryAfterMs: number | undefined;
}

/** A request to the CA that got no HTTP answer. */
export class AcmeTransportError extends Error {
  override readonly name = 'AcmeTransportError';

  constructor(
    message: string,
    readonly failure: TransportFailure,
    readonly url: string,
    readonly endpoint: AcmeEndpoint,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export class AcmeTransport {
  private readonly nonces = new NonceStore();
  private readonly maxBadNonceRetries: number;
  private newNonceUrl: string | undefined;

  constructor(private readonly options: AcmeTransportOptions) {
    this.maxBadNonceRetries = options.maxBadNonceRetries ?? DEFAULT_MAX_BAD_NONCE_RETRIES;
  }

  /** Where to ask for a nonce when none is left over (the directory's newNonce). */
  setNewNonceUrl(url: string): void {
    this.newNonceUrl = url;
  }

  /** An unauthenticated GET (directory, renewalInfo). Non-2xx answers throw AcmeProblemError. */
  async get(url: string, endpoint: AcmeEndpoint): Promise<AcmeResponse> {
    const answer = await this.exchange('GET', url, endpoint, { accept: 'application/json' });
    this.keepNonce(answer);
    return this.finish(answer, url, endpoint);
  }

  /**
   * A JWS-signed POST (RFC 8555 §6.2): by `kid` (the account URL) or, without one, by the key's JWK;
   * `payload` undefined is a POST-as-GET. A badNonce answer is retried with the nonce it carried (or
   * another fresh one); no nonce is ever sent twice.
   */
  async signedPost(
    url: string,
    endpoint: AcmeEndpoint,
    signer: AccountSigner,
    kid: string | undefined,
    payload: unknown,
    accept = 'application/json',
  ): Promise<AcmeResponse> {
    for (let retries = 0; ; retries++) {
      const nonce = await this.nonce(endpoint);
      const jws = signJws(signer, { url, nonce, kid }, payload);
      const answer = await this.exchange('POST', url, endpoint, {
        accept,
        contentType: 'application/jose+json',
        body: JSON.stringify(jws),
      });
      this.keepNonce(answer);
      if (answer.status >= 200 && answer.status < 300) return this.finish(answer, url, endpoint);
      const problem = this.problem(answer, url, endpoint);
      // The answer's own nonce is now the newest in the store, so the retry takes it.
      if (problem.type !== 'badNonce' || retries >= this.maxBadNonceRetries) throw problem;
    }
  }

  /** A nonce from an earlier answer, or a fresh one from newNonce when none is left. */
  private async nonce(endpoint: AcmeEndpoint): Promise<string> {
    const pooled = this.nonces.take(this.options.clock.now());
    if (pooled !== undefined) return pooled;
    const url = this.newNonceUrl;
    if (url === undefined) throw new Error(`ACME ${endpoint}: no nonce left and no newNonce URL known (the directory was not read)`);
    const answer = await this.exchange('HEAD', url, 'newNonce', {});
    if (answer.status < 200 || answer.status >= 300) throw this.problem(answer, url, 'newNonce');
    // Through the store, so that a nonce it has already handed out is refused here as well.
    this.keepNonce(answer);
    const fresh = this.nonces.take(this.options.clock.now());
    if (fresh === undefined) throw unusableAnswer({ url, endpoint: 'newNonce', status: answer.status }, 'no usable Replay-Nonce header');
    return fresh;
  }

  private keepNonce(answer: RawAnswer): void {
    const nonce = lastHeader(answer.headers['replay-nonce']);
    if (nonce !== undefined) this.nonces.put(nonce, this.options.clock.now());
  }

  private problem(answer: RawAnswer, url: string, endpoint: AcmeEndpoint): AcmeProblemError {
    return problemFromResponse({
      status: answer.status,
      contentType: lastHeader(answer.headers['content-type']),
      body: answer.text,
      retryAfter: lastHeader(answer.headers['retry-after']),
      now: this.options.clock.now(),
      url,
      endpoint,
    });
  }

  private finish(answer: RawAnswer, url: string, endpoint: AcmeEndpoint): AcmeResponse {
    if (answer.status < 200 || answer.status >= 300) throw this.problem(answer, url, endpoint);
    const retryAfterMs = parseRetryAfter(lastHeader(answer.headers['retry-after']), this.options.clock.now());
    let body: unknown;
    if (isJson(lastHeader(answer.headers['content-type'])) && answer.text.trim() !== '') {
      try {
        body = JSON.parse(answer.text);
      } catch {
        throw unusableAnswer({ url, endpoint, status: answer.status, retryAfterMs }, `the body is not the JSON its content type says: ${excerpt(answer.text)}`);
      }
    }
    const location = lastHeader(answer.headers['location']);
    return {
      status: answer.status,
      headers: answer.headers,
      body,
      text: answer.text,
      location: location === undefined ? undefined : absolute(location, url),
      links: parseLinks(answer.headers['link'], url),
      retryAfterMs,
    };
  }

  /** One HTTP exchange, timed; no answer at all throws AcmeTransportError. */
  private async exchange(
    method: 'GET' | 'HEAD' | 'POST',
    url: string,
    endpoint: AcmeEndpoint,
    options: { accept?: string; contentType?: string; body?: string },
  ): Promise<RawAnswer> {
    const { timeoutMs } = this.options;
    const deadline = AbortSignal.timeout(timeoutMs);
    const headers: Record<string, string> = { 'user-agent': this.options.userAgent };
    if (options.accept !== undefined) headers['accept'] = options.accept;
    if (options.contentType !== undefined) headers['content-type'] = options.contentType;
    const started = performance.now();
    let status: number;
    let responseHeaders: Record<string, string | string[] | undefined>;
    let text: string;
    try {
      const response = await request(url, {
        method,
        headers,
        body: options.body ?? null,
        dispatcher: this.options.dispatcher,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: deadline,
      });
      status = response.statusCode;
      responseHeaders = response.headers;
      text = await readCapped(response.body, status);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        throw unusableAnswer({ url, endpoint, status: err.status }, `the body is larger than ${MAX_BODY_BYTES} bytes`);
      }
      const timedOut = deadline.aborted || TIMEOUT_CODES.has(errorCode(err) ?? '');
      const reason = timedOut ? `no answer within ${timeoutMs} ms` : describeRequestError(err);
      throw new AcmeTransportError(`ACME ${endpoint}: ${method} ${url} failed: ${reason}`, timedOut ? 'timeout' : 'network', url, endpoint, { cause: err });
    } finally {
      this.options.onRequest?.(endpoint, (performance.now() - started) / 1000);
    }
    return { status, headers: responseHeaders, text };
  }
}

class BodyTooLarge extends Error {
  constructor(readonly status: number) {
    super('body too large');
  }
}

async function readCapped(body: Dispatcher.ResponseData['body'], status: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      body.destroy();
      throw new BodyTooLarge(status);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * RFC 8288 Link headers: `<url>; rel="alternate", <url2>; rel=up`. A rel may name several relation
 * types separated by spaces. Entries without a usable URL or rel are skipped.
 */
export function parseLinks(value: string | string[] | undefined, base: string): { url: string; rel: string }[] {
  const fields = value === undefined ? [] : Array.isArray(value) ? value : [value];
  const links: { url: string; rel: string }[] = [];
  for (const field of fields) {
    // A link's parameters run up to the next `<`, which neither URLs nor parameter values contain in practice.
    for (const match of field.matchAll(/<([^>]*)>([^<]*)/g)) {
      const url = absolute(match[1] ?? '', base);
      const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^;,\s]*))/i.exec(match[2] ?? '');
      const types = (rel?.[1] ?? rel?.[2] ?? '').split(/\s+/).filter((type) => type !== '');
      if (url === undefined) continue;
      for (const type of types) links.push({ url, rel: type.toLowerCase() });
    }
  }
  return links;
}

function absolute(value: string, base: string): string | undefined {
  try {
    return new URL(value, base).href;
  } catch {
    return undefined;
  }
}

function isJson(contentType: string | undefined): boolean {
  const type = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || type.endsWith('+json');
}

function lastHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[value.length - 1] : value;
}

function errorCode(err: unknown): string | undefined {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= 120 ? flat : `${flat.slice(0, 120)}…`;
}
