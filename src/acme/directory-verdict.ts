/**
 * Whether the --acme URL is an RFC 8555 directory, judged from what one GET of it returned. Pure: the
 * request is made by directory-probe.ts, and this module decides what the answer means.
 *
 * The point is to tell a URL that can never work (the retired ACME v1 address, a web page, a wrong
 * path) from a CA that is down for now: the first stops the daemon at start with one clear line,
 * the second is retried with backoff like any other CA outage. When in doubt the verdict is
 * `transient`, because exiting on a problem that would have cleared up (a 403 from a proxy being
 * reconfigured, a DNS hiccup) makes Marathon restart the task in a loop for nothing.
 */
import { LETS_ENCRYPT_DIRECTORY as LETS_ENCRYPT_V2 } from '../config.js';

export const LETS_ENCRYPT_STAGING_V2 = 'https://acme-staging-v02.api.letsencrypt.org/directory';

/** What GET <directory URL> gave: an HTTP answer (after redirects), or none at all. */
export type DirectoryAnswer =
  | {
      kind: 'answer';
      /** Where the answer came from: the --acme URL, or where its redirects led. */
      url: string;
      status: number;
      contentType: string | undefined;
      /** The start of the body (directory-probe.ts reads a bounded prefix). */
      body: string;
    }
  | {
      kind: 'no-answer';
      url: string;
      failure: 'timeout' | 'network';
      /** The transport error, codes included. */
      message: string;
      /** The error's code (ECONNREFUSED, ENOTFOUND, DEPTH_ZERO_SELF_SIGNED_CERT, ...), when it had one. */
      code: string | undefined;
    };

export type DirectoryVerdict =
  | { kind: 'valid' }
  /** The URL can never work as configured; `reason` is one line for the operator. */
  | { kind: 'permanent'; reason: string }
  /** Worth trying again later; `reason` says what happened. */
  | { kind: 'transient'; reason: string };

/** The entries the client needs (RFC 8555 §7.1.1); the others are optional. */
const REQUIRED_ENTRIES = ['newNonce', 'newAccount', 'newOrder'] as const;
/** Resources only ACME v1 (draft-era Boulder) named, with dashes; RFC 8555 spells them camelCase. */
const V1_ENTRIES = ['new-reg', 'new-authz', 'new-cert'] as const;
/** Let's Encrypt's ACME v1 hosts; switched off in 2021 (the original marathon-acme's default was the first). */
const V1_HOSTS: ReadonlyMap<string, 'production' | 'staging'> = new Map([
  ['acme-v01.api.letsencrypt.org', 'production'],
  ['acme-staging.api.letsencrypt.org', 'staging'],
]);
/** Certificate verification failures that usually mean a private CA without --acme-ca-file. */
const UNTRUSTED_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/**
 * A verdict from the URL alone, before any request: Let's Encrypt's v1 hosts are known to be gone
 * (whatever they answer today, it is not a v2 directory). Undefined when only an answer can tell.
 */
export function judgeDirectoryUrl(url: string): DirectoryVerdict | undefined {
  const flavour = v1Flavour(url);
  return flavour === undefined ? undefined : { kind: 'permanent', reason: v1Reason(url, flavour) };
}

/**
 * The verdict on one answer to GET `configuredUrl`: a JSON object with newNonce, newAccount and
 * newOrder URLs is valid; a v1 directory (by host or by its entries), any other 2xx body, 404, 410
 * and a redirect that leads nowhere are permanent; no answer, 408, 429, 5xx and other 4xx are
 * transient. Every reason is one line.
 */
export function judgeDirectory(configuredUrl: string, answer: DirectoryAnswer): DirectoryVerdict {
  const known = judgeDirectoryUrl(configuredUrl);
  if (known !== undefined) return known;
  const at = `${configuredUrl}${answer.url === configuredUrl ? '' : ` (redirected to ${answer.url})`}`;
  const where = `--acme ${at}`;
  // A redirect to a v1 host is as dead as the v1 URL itself.
  const redirectedTo = v1Flavour(answer.url);
  if (redirectedTo !== undefined) return { kind: 'permanent', reason: v1Reason(at, redirectedTo) };
  if (answer.kind === 'no-answer') {
    const hint = answer.code !== undefined && UNTRUSTED_CODES.has(answer.code) ? '; a private CA needs its root in --acme-ca-file' : '';
    return { kind: 'transient', reason: `GET ${answer.url}: ${answer.message}${hint}` };
  }
  const { status } = answer;
  if (status === 404 || status === 410) {
    return { kind: 'permanent', reason: `${where} answered ${status}: there is no ACME directory at this address (Let's Encrypt's is ${LETS_ENCRYPT_V2})` };
  }
  if (status === 429 || status === 408 || status >= 500) {
    return { kind: 'transient', reason: `GET ${answer.url} answered ${status}${snippet(answer.body)}` };
  }
  if (status >= 300 && status < 400) {
    return { kind: 'permanent', reason: `${where} answered ${status} without a usable Location, or redirected too often` };
  }
  if (status >= 400) {
    // 401, 403 and the like come from whatever stands in front of the CA, and may be lifted.
    return { kind: 'transient', reason: `GET ${answer.url} answered ${status}${snippet(answer.body)}` };
  }
  return judgeBody(at, answer.contentType, answer.body);
}

function judgeBody(at: string, contentType: string | undefined, body: string): DirectoryVerdict {
  const where = `--acme ${at}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { kind: 'permanent', reason: `${where} is not an ACME directory: it answered ${describeNonJson(contentType, body)}, not the JSON directory of an ACME v2 CA (Let's Encrypt's is ${LETS_ENCRYPT_V2})` };
  }
  if (!isRecord(parsed)) {
    return { kind: 'permanent', reason: `${where} is not an ACME directory: it answered JSON that is not an object` };
  }
  const missing = REQUIRED_ENTRIES.filter((key) => !isHttpUrl(parsed[key]));
  if (missing.length === 0) return { kind: 'valid' };
  if (V1_ENTRIES.some((key) => key in parsed)) {
    return { kind: 'permanent', reason: v1Reason(at, 'production') };
  }
  return {
    kind: 'permanent',
    reason: `${where} is not an ACME directory: its JSON lacks ${missing.join(', ')}${keysOf(parsed)}`,
  };
}

function v1Flavour(url: string): 'production' | 'staging' | undefined {
  try {
    return V1_HOSTS.get(new URL(url).hostname.toLowerCase().replace(/\.$/, ''));
  } catch {
    return undefined;
  }
}

function v1Reason(at: string, flavour: 'production' | 'staging'): string {
  const use = flavour === 'staging' ? `${LETS_ENCRYPT_STAGING_V2} (production: ${LETS_ENCRYPT_V2})` : `${LETS_ENCRYPT_V2} (staging: ${LETS_ENCRYPT_STAGING_V2})`;
  return `--acme ${at}: this is an ACME v1 directory; ACME v1 was switched off in 2021; use ${use}`;
}

function describeNonJson(contentType: string | undefined, body: string): string {
  const type = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  if (body.trim() === '') return `an empty body${type === '' ? '' : ` (${type})`}`;
  if (type === 'text/html' || type === 'application/xhtml+xml' || /^\s*<(!doctype html|html|head|body)\b/i.test(body)) {
    const title = /<title[^>]*>([^<]*)</i.exec(body)?.[1];
    return `an HTML page${title === undefined || clean(title) === '' ? '' : ` titled "${clean(title)}"`}`;
  }
  return `something that is not JSON${type === '' ? '' : ` (${type})`}${snippet(body)}`;
}

/** A short, single-line excerpt: the reason ends up on one line of stderr and in /health. */
function snippet(body: string): string {
  const text = clean(body);
  return text === '' ? '' : `: ${text}`;
}

function clean(text: string): string {
  const line = text.replace(/[\s\p{Cc}]+/gu, ' ').trim();
  return line.length > 80 ? `${line.slice(0, 80)}…` : line;
}

function keysOf(value: Record<string, unknown>): string {
  const keys = Object.keys(value);
  if (keys.length === 0) return ' (it is an empty object)';
  const shown = keys.slice(0, 6).map((k) => clean(k)).join(', ');
  return ` (its keys: ${shown}${keys.length > 6 ? ', …' : ''})`;
}

function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const { protocol } = new URL(value);
    return protocol === 'https:' || protocol === 'http:';
  } catch {
    return false;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
