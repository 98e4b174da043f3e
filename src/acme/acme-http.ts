/**
 * acme-client's HTTP layer (one process-wide axios instance), set up for a daemon, and the record of
 * the CA's problem documents that acme-client would otherwise reduce to text.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { readFile } from 'node:fs/promises';
import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import acme from 'acme-client';
import { getAdapter, isAxiosError, type AxiosAdapter } from 'axios';
import type { AcmeProblem } from '../state/state.js';
import { parseRetryAfter } from '../util/retry-after.js';

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
  axios.defaults.adapter = transportErrorsPassThrough(getAdapter('http'));
  if (options.caFile !== undefined) {
    const extra = await readFile(options.caFile, 'utf8');
    axios.defaults.httpsAgent = new HttpsAgent({ ca: [...rootCertificates, extra], keepAlive: true });
  }
}

/**
 * With its retries off, acme-client's response interceptor fails with a TypeError on any error that
 * has no HTTP response (refused connection, timeout), hiding the real cause. It passes through errors
 * that carry no axios `config`, so transport failures are re-thrown as such, with the cause kept.
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
        throw new Error(`${(config.method ?? 'get').toUpperCase()} ${config.url ?? ''}: ${err.message}${code}`);
      }
      throw err;
    }
  };
}
