/**
 * Reading the CA's JSON objects into types.ts shapes. Tolerant where RFC 8555 lets a CA grow (unknown
 * members, unknown challenge types and challenges this client cannot use are ignored), strict where a
 * missing member would leave the client unable to go on: that answer is an AcmeProblemError without a
 * type, so the daemon backs off as for any other failure of the CA.
 */
import type { AcmeEndpoint } from './endpoints.js';
import { AcmeProblemError, problemFromObject } from './problem.js';
import type {
  AcmeAuthorization,
  AcmeAuthorizationStatus,
  AcmeChallenge,
  AcmeChallengeStatus,
  AcmeDirectory,
  AcmeIdentifier,
  AcmeOrder,
  AcmeOrderStatus,
} from './types.js';

/** The answer an object was read from: names it in errors and resolves relative URLs. */
export interface AnswerContext {
  url: string;
  endpoint: AcmeEndpoint;
  status: number;
  retryAfterMs?: number | undefined;
}

const ORDER_STATUSES: ReadonlySet<string> = new Set<AcmeOrderStatus>(['pending', 'ready', 'processing', 'valid', 'invalid']);
const AUTHORIZATION_STATUSES: ReadonlySet<string> = new Set<AcmeAuthorizationStatus>(['pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked']);
const CHALLENGE_STATUSES: ReadonlySet<string> = new Set<AcmeChallengeStatus>(['pending', 'processing', 'valid', 'invalid']);

/** An answer that came back but cannot be used (not JSON, a member missing or of the wrong kind). */
export function unusableAnswer(context: AnswerContext, why: string): AcmeProblemError {
  return new AcmeProblemError({
    type: undefined,
    detail: `unusable answer: ${why}`,
    status: context.status,
    retryAfterMs: context.retryAfterMs,
    url: context.url,
    endpoint: context.endpoint,
  });
}

export function parseDirectory(body: unknown, context: AnswerContext): AcmeDirectory {
  const doc = object(body, context, 'the directory');
  const meta = isRecord(doc['meta']) ? doc['meta'] : {};
  const profiles: Record<string, string> = {};
  if (isRecord(meta['profiles'])) {
    for (const [name, description] of Object.entries(meta['profiles'])) profiles[name] = typeof description === 'string' ? description : '';
  }
  return {
    url: context.url,
    newNonce: requiredUrl(doc, 'newNonce', context, 'the directory'),
    newAccount: requiredUrl(doc, 'newAccount', context, 'the directory'),
    newOrder: requiredUrl(doc, 'newOrder', context, 'the directory'),
    revokeCert: optionalUrl(doc['revokeCert'], context.url),
    keyChange: optionalUrl(doc['keyChange'], context.url),
    renewalInfo: optionalUrl(doc['renewalInfo'], context.url),
    meta: {
      termsOfService: typeof meta['termsOfService'] === 'string' ? meta['termsOfService'] : undefined,
      profiles,
      externalAccountRequired: meta['externalAccountRequired'] === true,
    },
  };
}

/** `url`: the order's own URL (the Location of newOrder, or the URL it was fetched from). */
export function parseOrder(body: unknown, url: string, context: AnswerContext): AcmeOrder {
  const doc = object(body, context, 'the order');
  const status = doc['status'];
  if (typeof status !== 'string' || !ORDER_STATUSES.has(status)) throw unusableAnswer(context, `the order has no known status (${describe(status)})`);
  const authorizations = doc['authorizations'];
  if (!Array.isArray(authorizations)) throw unusableAnswer(context, 'the order has no "authorizations" list');
  return {
    url,
    status: status as AcmeOrderStatus,
    identifiers: Array.isArray(doc['identifiers']) ? doc['identifiers'].flatMap((id) => identifier(id) ?? []) : [],
    authorizations: authorizations.flatMap((entry) => optionalUrl(entry, context.url) ?? []),
    finalize: requiredUrl(doc, 'finalize', context, 'the order'),
    certificate: optionalUrl(doc['certificate'], context.url),
    error: problemFromObject(doc['error'], { url, endpoint: 'order' }),
    retryAfterMs: context.retryAfterMs,
  };
}

export function parseAuthorization(body: unknown, url: string, context: AnswerContext): AcmeAuthorization {
  const doc = object(body, context, 'the authorization');
  const status = doc['status'];
  if (typeof status !== 'string' || !AUTHORIZATION_STATUSES.has(status)) {
    throw unusableAnswer(context, `the authorization has no known status (${describe(status)})`);
  }
  const id = identifier(doc['identifier']);
  if (id === undefined) throw unusableAnswer(context, 'the authorization has no identifier');
  return {
    url,
    status: status as AcmeAuthorizationStatus,
    identifier: id,
    challenges: Array.isArray(doc['challenges']) ? doc['challenges'].flatMap((c) => challenge(c, context.url) ?? []) : [],
    wildcard: doc['wildcard'] === true,
    retryAfterMs: context.retryAfterMs,
  };
}

/**
 * A challenge, or undefined for one this client cannot even describe (no type, URL or known status):
 * such an entry is skipped like an unknown type rather than failing the whole authorization.
 */
export function challenge(value: unknown, base: string): AcmeChallenge | undefined {
  if (!isRecord(value)) return undefined;
  const { type, status, token } = value;
  const url = optionalUrl(value['url'], base);
  if (typeof type !== 'string' || url === undefined || typeof status !== 'string' || !CHALLENGE_STATUSES.has(status)) return undefined;
  return {
    type,
    url,
    status: status as AcmeChallengeStatus,
    token: typeof token === 'string' && token !== '' ? token : undefined,
    error: problemFromObject(value['error'], { url, endpoint: 'challenge' }),
  };
}

function identifier(value: unknown): AcmeIdentifier | undefined {
  if (!isRecord(value) || typeof value['type'] !== 'string' || typeof value['value'] !== 'string') return undefined;
  return { type: value['type'], value: value['value'] };
}

function object(body: unknown, context: AnswerContext, what: string): Record<string, unknown> {
  if (!isRecord(body)) throw unusableAnswer(context, `${what} is not a JSON object (${describe(body)})`);
  return body;
}

function requiredUrl(doc: Record<string, unknown>, key: string, context: AnswerContext, what: string): string {
  const url = optionalUrl(doc[key], context.url);
  if (url === undefined) throw unusableAnswer(context, `${what} has no usable "${key}" URL (${describe(doc[key])})`);
  return url;
}

/** An absolute http(s) URL (relative ones resolved against the answer's URL), or undefined. */
export function optionalUrl(value: unknown, base: string): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  try {
    const url = new URL(value, base);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return typeof value;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
