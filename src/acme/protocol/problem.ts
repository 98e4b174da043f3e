/**
 * Problem documents (RFC 7807, RFC 8555 §6.7) as typed errors: the CA's answer to a failed request,
 * or the `error` of an invalid challenge, authorization or order. Type and Retry-After decide the
 * daemon's backoff, so they are kept as fields rather than folded into the message.
 */
import type { AcmeProblem } from '../../state/state.js';
import { parseRetryAfter } from '../../util/retry-after.js';
import type { AcmeEndpoint } from './endpoints.js';

export const ACME_ERROR_PREFIX = 'urn:ietf:params:acme:error:';

export interface Subproblem {
  type: string | undefined;
  detail: string;
  identifier: { type: string; value: string } | undefined;
}

/**
 * Details end up in state files and log lines; a CA (or a proxy in front of it) that sends a huge
 * one must not bloat either.
 */
const MAX_DETAIL_CHARS = 1_000;
/** Enough of a non-problem body (an HTML error page, say) to tell which proxy or server sent it. */
const MAX_EXCERPT_CHARS = 200;

export interface AcmeProblemFields {
  type: string | undefined;
  detail: string;
  status: number | undefined;
  subproblems?: readonly Subproblem[] | undefined;
  retryAfterMs?: number | undefined;
  url: string;
  endpoint: AcmeEndpoint;
}

/** A problem document (RFC 7807 / RFC 8555 §6.7) or an unusable answer, as a typed error. */
export class AcmeProblemError extends Error {
  override readonly name = 'AcmeProblemError';
  /** Without the ACME prefix when it has it ('badNonce', 'rateLimited'); the full URI otherwise; undefined when the body had none. */
  readonly type: string | undefined;
  readonly detail: string;
  /** The HTTP status; undefined for the `error` of an object the CA answered with 200. */
  readonly status: number | undefined;
  readonly subproblems: readonly Subproblem[];
  readonly retryAfterMs: number | undefined;
  /** The request URL. */
  readonly url: string;
  readonly endpoint: AcmeEndpoint;

  constructor(fields: AcmeProblemFields) {
    super(problemMessage(fields));
    this.type = fields.type;
    this.detail = fields.detail;
    this.status = fields.status;
    this.subproblems = fields.subproblems ?? [];
    this.retryAfterMs = fields.retryAfterMs;
    this.url = fields.url;
    this.endpoint = fields.endpoint;
  }

  /** The shape kept in the state file. */
  toProblem(): AcmeProblem {
    return { type: this.type, detail: this.detail, status: this.status };
  }
}

function problemMessage(fields: AcmeProblemFields): string {
  const answer = fields.status === undefined ? '' : ` answered ${fields.status}`;
  const type = fields.type === undefined ? '' : ` ${fields.type}`;
  const detail = fields.detail === '' ? '' : `: ${fields.detail}`;
  const subproblems = (fields.subproblems ?? []).map((sub) => {
    const identifier = sub.identifier === undefined ? '' : `${sub.identifier.value}: `;
    return `${identifier}${sub.type ?? 'problem'}${sub.detail === '' ? '' : ` ${sub.detail}`}`;
  });
  const subText = subproblems.length === 0 ? '' : ` (${subproblems.join('; ')})`;
  return `ACME ${fields.endpoint} ${fields.url}${answer}${type}${detail}${subText}`;
}

/**
 * A non-2xx answer as an error. Tolerant of whatever came back: a problem document under any JSON
 * content type (some CAs send plain application/json), or an HTML page, plain text or nothing from a
 * proxy, which leaves the type undefined and quotes the start of the body.
 */
export function problemFromResponse(input: {
  status: number;
  contentType: string | undefined;
  body: string;
  retryAfter: string | undefined;
  now: number;
  url: string;
  endpoint: AcmeEndpoint;
}): AcmeProblemError {
  const doc = problemDocument(parseJson(input.body));
  const retryAfterMs = parseRetryAfter(input.retryAfter, input.now);
  const context = { status: input.status, retryAfterMs, url: input.url, endpoint: input.endpoint };
  if (doc !== undefined) return new AcmeProblemError({ ...problemFields(doc), ...context });
  const excerpt = bodyExcerpt(input.body, input.contentType);
  const detail = `HTTP ${input.status} without a problem document${excerpt === '' ? ' (empty body)' : `: ${excerpt}`}`;
  return new AcmeProblemError({ type: undefined, detail, subproblems: [], ...context });
}

/**
 * The `error` member of an invalid challenge, authorization or order, as an error; undefined when
 * there is no such object. No status: the object itself came in a 200 answer.
 */
export function problemFromObject(error: unknown, context: { url: string; endpoint: AcmeEndpoint }): AcmeProblemError | undefined {
  if (!isRecord(error)) return undefined;
  return new AcmeProblemError({ ...problemFields(error), status: undefined, retryAfterMs: undefined, ...context });
}

function problemFields(doc: Record<string, unknown>): { type: string | undefined; detail: string; subproblems: Subproblem[] } {
  const subproblems = Array.isArray(doc['subproblems']) ? doc['subproblems'].filter(isRecord).map(subproblem) : [];
  return { type: problemType(doc['type']), detail: problemDetail(doc['detail']), subproblems };
}

function subproblem(doc: Record<string, unknown>): Subproblem {
  const identifier = doc['identifier'];
  const usable = isRecord(identifier) && typeof identifier['type'] === 'string' && typeof identifier['value'] === 'string';
  return {
    type: problemType(doc['type']),
    detail: problemDetail(doc['detail']),
    identifier: usable ? { type: identifier['type'] as string, value: identifier['value'] as string } : undefined,
  };
}

function problemType(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  return value.startsWith(ACME_ERROR_PREFIX) ? value.slice(ACME_ERROR_PREFIX.length) : value;
}

function problemDetail(value: unknown): string {
  return typeof value === 'string' ? truncate(value, MAX_DETAIL_CHARS) : '';
}

/** A JSON object that looks like a problem document: one with a type or a detail. */
function problemDocument(value: unknown): Record<string, unknown> | undefined {
  return isRecord(value) && (typeof value['type'] === 'string' || typeof value['detail'] === 'string') ? value : undefined;
}

function parseJson(text: string): unknown {
  if (!text.trimStart().startsWith('{')) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function bodyExcerpt(body: string, contentType: string | undefined): string {
  const html = contentType?.toLowerCase().includes('html') === true || body.trimStart().startsWith('<');
  const text = html ? body.replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ').replace(/<[^>]*>/g, ' ') : body;
  // Control characters from a binary body would garble a log line; whitespace runs waste the excerpt.
  return truncate(text.replace(/[\s\p{Cc}]+/gu, ' ').trim(), MAX_EXCERPT_CHARS);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
