/**
 * acme-client's HTTP layer (one process-wide axios instance), set up for a daemon: the record of the
 * CA's problem documents that acme-client would otherwise reduce to text, and the timing of every
 * request by ACME resource.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { readFile } from 'node:fs/promises';
import { Agent as HttpsAgent } from 'node:https';
import { createSecureContext, rootCertificates } from 'node:tls';
import acme from 'acme-client';
import { getAdapter, isAxiosError, type AxiosAdapter } from 'axios';
import type { AcmeProblem } from '../state/state.js';
import { parseRetryAfter } from '../util/retry-after.js';
import type { AcmeEndpoint, AcmeRequestObserver } from './protocol/endpoints.js';

/** The ACME problem behind a failure, and how long the CA asked us to wait (Retry-After). */
export interface ProblemReport {
  problem: AcmeProblem;
  retryAfterMs: number | undefined;
}

/**
 * acme-client reduces a CA's problem document to its detail text. To keep the problem type and
 * Retry-After (needed for backoff and rate-limit handling), the HTTP layer notes the last problem
 * seen within the current order; AsyncLocalStorage keeps concurrent orders apart.
 */
const orderContext = new AsyncLocalStorage<{ last: ProblemReport | undefined }>();

/** Runs `fn` with its own problem record (one per order or registration). */
export function withProblemCapture<T>(fn: () => Promise<T>): Promise<T> {
  return orderContext.run({ last: undefined }, fn);
}

/** The last problem the CA answered within the current `withProblemCapture`, if any. */
export function lastProblem(): ProblemReport | undefined {
  return orderContext.getStore()?.last;
}

export type { AcmeEndpoint, AcmeRequestObserver } from './protocol/endpoints.js';

/** The directory entries acme-client requests by URL; the rest of the directory it does not use. */
const DIRECTORY_ENDPOINTS = ['newNonce', 'newAccount', 'newOrder'] as const;

/**
 * Names the requests of one CA. acme-client GETs nothing but the directory and reaches every other
 * resource by URL, so a request is named by its URL when that is a directory entry (learnt from the
 * directory), else by the object the calling code is working on (`requestsFor`): a createAccount
 * call, say, POSTs to newAccount and then to the account URL it got back.
 */
export class AcmeRequestTracker {
  private readonly directoryUrls = new Map<string, AcmeEndpoint>();

  constructor(readonly observe: AcmeRequestObserver) {}

  learnDirectory(directory: Record<string, unknown>): void {
    for (const key of DIRECTORY_ENDPOINTS) {
      const url = directory[key];
      if (typeof url === 'string') this.directoryUrls.set(url, key);
    }
  }

  endpointOf(method: string, url: string, resource: AcmeEndpoint): AcmeEndpoint {
    return this.directoryUrls.get(url) ?? (method === 'get' ? 'directory' : resource);
  }
}

const requestContext = new AsyncLocalStorage<{ tracker: AcmeRequestTracker; resource: AcmeEndpoint }>();

/**
 * Runs one acme-client call with its requests timed into `tracker` (per CA: the axios instance is
 * shared by the whole process), named `resource` unless their URL is a directory entry.
 */
export function requestsFor<T>(tracker: AcmeRequestTracker | undefined, resource: AcmeEndpoint, fn: () => Promise<T>): Promise<T> {
  return tracker === undefined ? fn() : requestContext.run({ tracker, resource }, fn);
}

/** Why a request got no HTTP answer at all: the CA did not answer in time, or could not be reached. */
export type TransportFailure = 'timeout' | 'network';

/** A request to the CA that got no HTTP answer. */
export class AcmeTransportError extends Error {
  override readonly name = 'AcmeTransportError';

  constructor(
    message: string,
    readonly failure: TransportFailure,
  ) {
    super(message);
  }
}

/** axios' codes for its own timeout (ETIMEDOUT when its clarifyTimeoutError option is on). */
const TIMEOUT_CODES: ReadonlySet<string> = new Set(['ECONNABORTED', 'ETIMEDOUT']);

const ACME_ERROR_PREFIX = 'urn:ietf:params:acme:error:';

function noteResponse(status: number, headers: Record<string, unknown>, data: unknown): void {
  const context = orderContext.getStore();
  if (context === undefined) return;
  const body = parseJsonBody(data);
  const rawType = headers['content-type'];
  const contentType = typeof rawType === 'string' ? rawType : '';
  if (status >= 400) {
    const problem = contentType.includes('problem+json') && isRecord(body) ? body : {};
    context.last = {
      problem: problemFrom(problem, status),
      retryAfterMs: parseRetryAfter(headers['retry-after'], Date.now()),
    };
    return;
  }
  // A failed validation arrives as a 200 answer for a challenge or authorization whose status is
  // "invalid"; the problem sits in the challenge's `error`.
  const challengeError = isRecord(body) ? findChallengeError(body) : undefined;
  context.last = challengeError === undefined ? undefined : { problem: problemFrom(challengeError, undefined), retryAfterMs: undefined };
}

function findChallengeError(body: Record<string, unknown>): Record<string, unknown> | undefined {
  if (body['status'] !== 'invalid') return undefined;
  if (isRecord(body['error'])) return body['error'];
  const challenges = Array.isArray(body['challenges']) ? (body['challenges'] as unknown[]) : [];
  for (const c of challenges) if (isRecord(c) && isRecord(c['error'])) return c['error'];
  return undefined;
}

function problemFrom(doc: Record<string, unknown>, status: number | undefined): AcmeProblem {
  const type = typeof doc['type'] === 'string' ? doc['type'] : undefined;
  return {
    type: type?.startsWith(ACME_ERROR_PREFIX) === true ? type.slice(ACME_ERROR_PREFIX.length) : type,
    detail: typeof doc['detail'] === 'string' ? doc['detail'] : '',
    status,
  };
}

function parseJsonBody(data: unknown): unknown {
  const text = Buffer.isBuffer(data) ? data.toString('utf8') : typeof data === 'string' ? data : undefined;
  if (text === undefined) return data;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * acme-client's HTTP layer is one process-wide axios instance. Configure it once for daemon use:
 * - a request timeout (it has none by default, and a hung CA must not hang an order forever);
 * - no transport-level retries: they resend the same nonce on 429/5xx and can sleep for the whole
 *   Retry-After of a rate limit inside one request. Failed orders are retried by our own backoff.
 *   badNonce is retried separately by the library with a fresh nonce, which is what RFC 8555 wants.
 */
export async function configureAcmeHttp(options: { requestTimeoutMs: number; caFile?: string | undefined }): Promise<void> {
  const axios = acme.axios;
  axios.defaults.timeout = options.requestTimeoutMs;
  // acmeSettings is the library's own extension of axios' defaults, absent from axios' types.
  const defaults = axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } };
  defaults.acmeSettings.retryMaxAttempts = 0;
  axios.defaults.headers.common['User-Agent'] = 'marathon-acme (acme-client)';
  axios.defaults.adapter = timed(transportErrorsPassThrough(getAdapter('http')));
  if (options.caFile !== undefined) {
    const extra = await readFile(options.caFile, 'utf8');
    // One secure context for every connection: with a `ca` list, Node builds the whole trust store
    // (all system roots) again for each new TLS connection, ~30-40 ms of CPU that dominated busy runs.
    const secureContext = createSecureContext({ ca: [...rootCertificates, extra] });
    axios.defaults.httpsAgent = new HttpsAgent({ secureContext, keepAlive: true });
  }
}

/**
 * With its retries off, acme-client's response interceptor fails with a TypeError on any error that
 * has no HTTP response (refused connection, timeout), hiding the real cause. It passes through errors
 * that carry no axios `config`, so transport failures are re-thrown as AcmeTransportErrors naming the
 * request and the cause, and telling a timeout from an unreachable CA.
 */
function transportErrorsPassThrough(http: AxiosAdapter): AxiosAdapter {
  return async (config) => {
    try {
      const response = await http(config);
      noteResponse(response.status, response.headers, response.data);
      return response;
    } catch (err) {
      if (isAxiosError(err) && err.response !== undefined) {
        noteResponse(err.response.status, err.response.headers, err.response.data);
      }
      if (isAxiosError(err) && err.response === undefined) {
        const code = err.code === undefined ? '' : ` (${err.code})`;
        const failure = err.code !== undefined && TIMEOUT_CODES.has(err.code) ? 'timeout' : 'network';
        throw new AcmeTransportError(`${(config.method ?? 'get').toUpperCase()} ${config.url ?? ''}: ${err.message}${code}`, failure);
      }
      throw err;
    }
  };
}

/** Times every request, answered or not, into the tracker of the call it belongs to (if any). */
function timed(http: AxiosAdapter): AxiosAdapter {
  return async (config) => {
    const context = requestContext.getStore();
    const started = performance.now();
    try {
      return await http(config);
    } finally {
      if (context !== undefined) {
        const endpoint = context.tracker.endpointOf((config.method ?? 'get').toLowerCase(), config.url ?? '', context.resource);
        context.tracker.observe(endpoint, (performance.now() - started) / 1000);
      }
    }
  };
}
