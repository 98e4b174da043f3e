/**
 * ACME Renewal Information (RFC 9773): the CA's suggested renewal window for one certificate. Everything
 * here is pure except `fetchRenewalInfo`, one unauthenticated GET through the ACME client; deciding
 * what to do with a window (or a failure) is `certs/renewal-schedule.ts`'s job and the caller's.
 */
import { X509Certificate } from 'node:crypto';
import { certificateFields } from '../certs/der.js';
import { parseRetryAfter } from '../util/retry-after.js';
import { AcmeProblemError } from './protocol/problem.js';
import { AcmeTransportError, type AcmeResponse } from './protocol/transport.js';
import { errorText } from '../util/error-text.js';

export interface RenewalWindow {
  /** Epoch ms. */
  start: number;
  /** Epoch ms, always after `start`. */
  end: number;
}

export interface RenewalInfo {
  window: RenewalWindow;
  /** The CA's page about why the window is what it is; RFC 9773 says to show it to the operator. */
  explanationUrl: string | undefined;
  /** When to ask again, already clamped to [ARI_MIN_RETRY_MS, ARI_MAX_RETRY_MS]. */
  retryAfterMs: number;
}

/**
 * RFC 9773 leaves the limits to the client and suggests one minute and one day: a CA (or a proxy in
 * front of it) that answers `Retry-After: 0` must not make us poll in a loop, and one that answers a
 * month must not make us miss a mass-revocation window.
 */
export const ARI_MIN_RETRY_MS = 60_000;
export const ARI_MAX_RETRY_MS = 86_400_000;
/** RFC 9773's wait after a long-term error (missing or invalid Retry-After among them). */
export const ARI_DEFAULT_RETRY_MS = 6 * 3_600_000;

/**
 * A renewalInfo answer we cannot use. `status` is the HTTP status (undefined when there was no answer
 * at all, or the body was unusable outside a fetch); `retryAfterMs` is the server's Retry-After,
 * clamped, when it sent one, so the caller can obey it instead of its own backoff.
 */
export class AriError extends Error {
  override readonly name = 'AriError';
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { status?: number | undefined; retryAfterMs?: number | undefined; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * The RFC 9773 certificate identifier: base64url(AKI keyIdentifier) "." base64url(serial), unpadded.
 * The serial must be the DER INTEGER's content bytes exactly as encoded, including the leading 00 a
 * serial with its top bit set carries. Node's `X509Certificate.serialNumber` and @peculiar/x509's both
 * drop that byte, which yields an ID the CA does not know; `CertInfo.serialHex` keeps it.
 */
export function formatAriCertId(keyIdentifierHex: string, serialHex: string): string {
  return `${Buffer.from(keyIdentifierHex, 'hex').toString('base64url')}.${Buffer.from(serialHex, 'hex').toString('base64url')}`;
}

/**
 * The certID of the first certificate of `certPem` (a full chain is fine). Throws when the certificate
 * cannot be read or has no AKI keyIdentifier (RFC 9773 assumes RFC 5280 certificates, which always have one).
 */
export function ariCertId(certPem: string): string {
  let der: Buffer;
  try {
    der = new X509Certificate(certPem).raw;
  } catch (err) {
    throw new Error(`cannot compute the ARI certID: the certificate cannot be read: ${errorText(err)}`, { cause: err });
  }
  const fields = certificateFields(der);
  if (fields === undefined) {
    throw new Error('cannot compute the ARI certID: the certificate\'s DER does not have the structure RFC 5280 gives it');
  }
  if (fields.authorityKeyId === undefined) {
    throw new Error('cannot compute the ARI certID: the certificate has no Authority Key Identifier extension');
  }
  const { keyIdentifier } = fields.authorityKeyId;
  if (keyIdentifier === undefined || keyIdentifier.length === 0) {
    throw new Error('cannot compute the ARI certID: the Authority Key Identifier extension has no keyIdentifier');
  }
  return `${keyIdentifier.toString('base64url')}.${fields.serial.toString('base64url')}`;
}

/**
 * How long to wait before the next renewalInfo request. Retry-After is either delay-seconds or an
 * HTTP-date (RFC 9110 §10.2.3). Anything else, or nothing, counts as RFC 9773's long-term error: six
 * hours. The result is always within [ARI_MIN_RETRY_MS, ARI_MAX_RETRY_MS].
 */
export function clampRetryAfter(header: string | undefined, now: number): number {
  const wanted = parseRetryAfter(header, now);
  return wanted === undefined ? ARI_DEFAULT_RETRY_MS : clampRetryMs(wanted);
}

/** A wait the CA asked for, within [ARI_MIN_RETRY_MS, ARI_MAX_RETRY_MS]. */
function clampRetryMs(wantedMs: number): number {
  return Math.min(ARI_MAX_RETRY_MS, Math.max(ARI_MIN_RETRY_MS, wantedMs));
}

/**
 * Validates a RenewalInfo object. A window whose end is not after its start is invalid by RFC 9773,
 * which says to treat it like no answer at all, so it throws like any other malformed body.
 * `explanationURL` is optional and only informative: a missing or unusable one is dropped rather
 * than costing us the window.
 */
export function parseRenewalInfo(body: unknown, retryAfter: string | undefined, now: number): RenewalInfo {
  if (!isRecord(body)) throw new AriError(`the renewalInfo answer is not a JSON object (${describeValue(body)})`);
  const window = body['suggestedWindow'];
  if (!isRecord(window)) throw new AriError('the renewalInfo answer has no "suggestedWindow" object');
  const start = rfc3339Field(window, 'start');
  const end = rfc3339Field(window, 'end');
  if (end <= start) {
    throw new AriError(
      `the renewalInfo window is invalid: end ${new Date(end).toISOString()} is not after start ${new Date(start).toISOString()}`,
    );
  }
  return {
    window: { start, end },
    explanationUrl: httpUrl(body['explanationURL']),
    retryAfterMs: clampRetryAfter(retryAfter, now),
  };
}

function rfc3339Field(window: Record<string, unknown>, key: 'start' | 'end'): number {
  const value = window[key];
  if (typeof value !== 'string') throw new AriError(`the renewalInfo window has no "${key}" timestamp`);
  const ms = parseRfc3339(value);
  if (ms === undefined) throw new AriError(`the renewalInfo window "${key}" is not an RFC 3339 timestamp: ${JSON.stringify(value.slice(0, 64))}`);
  return ms;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * RFC 3339 date-time to epoch ms, or undefined. Parsed by hand because Date.parse is lenient in
 * engine-specific ways (it rolls 2025-02-30 over to March, accepts dates without a zone as local
 * time); a CA's window must mean the same instant everywhere or be rejected. A leap second (:60) is
 * read as :59.999, the closest instant JavaScript time can name.
 */
function parseRfc3339(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  const fraction = m[7] === undefined ? 0 : Number(`0.${m[7]}`);
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  const base = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59));
  const check = new Date(base);
  // Date.UTC rolls an impossible day or month over; a round trip that does not match means it did.
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return undefined;
  let ms = base + (second === 60 ? 999 : Math.floor(fraction * 1000));
  if (m[8] === undefined) {
    const offsetHours = Number(m[10]);
    const offsetMinutes = Number(m[11]);
    if (offsetHours > 23 || offsetMinutes > 59) return undefined;
    const sign = m[9] === '-' ? -1 : 1;
    // 10:00+02:00 is 08:00Z: subtract the offset.
    ms -= sign * (offsetHours * 60 + offsetMinutes) * 60_000;
  }
  return ms;
}

/** Only http(s) URLs: the value ends up in logs an operator may click. */
function httpUrl(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** What fetchRenewalInfo needs of the CA's ACME client: its GET <renewalInfo>/<certId>. */
export interface RenewalInfoClient {
  renewalInfo(certId: string): Promise<AcmeResponse>;
}

/**
 * The CA's renewal window for one certificate, through the ACME client (the same agent, timeout and
 * User-Agent as the orders). A non-2xx answer, an unusable body, a CA without ARI, no answer at all:
 * each throws AriError; the caller keeps its current schedule and asks again later (after
 * `retryAfterMs` when the CA sent one).
 */
export async function fetchRenewalInfo(client: RenewalInfoClient, certId: string, now: number): Promise<RenewalInfo> {
  let response: AcmeResponse;
  try {
    response = await client.renewalInfo(certId);
  } catch (err) {
    throw ariFailure(err, certId);
  }
  // Read whatever the content type says: a CA sending its JSON as text/plain still means it.
  let body = response.body;
  if (body === undefined) {
    try {
      body = JSON.parse(response.text);
    } catch {
      throw new AriError(`the renewalInfo answer for ${certId} is not JSON`, { status: response.status });
    }
  }
  try {
    return parseRenewalInfo(body, lastHeader(response.headers['retry-after']), now);
  } catch (err) {
    if (err instanceof AriError) throw new AriError(`${err.message} (certificate ${certId})`, { status: response.status, cause: err });
    throw err;
  }
}

/** A failed renewalInfo request as AriError: the status and clamped Retry-After of a CA's answer, if any. */
function ariFailure(err: unknown, certId: string): AriError {
  if (err instanceof AcmeProblemError) {
    const { status } = err;
    // The transport refuses a 2xx body it cannot read (JSON that does not parse, a huge body).
    if (status !== undefined && status >= 200 && status < 300) {
      return new AriError(`the renewalInfo answer from ${err.url} is not JSON that can be read: ${err.detail}`, { status, cause: err });
    }
    const said = [err.type, err.detail].filter((part) => part !== undefined && part !== '').join(': ');
    return new AriError(`renewalInfo request to ${err.url} answered ${status ?? 'without a status'}${said === '' ? '' : `: ${said}`}`, {
      status,
      retryAfterMs: err.retryAfterMs === undefined ? undefined : clampRetryMs(err.retryAfterMs),
      cause: err,
    });
  }
  // `timeout` or `network`, the names the metrics give these failures too.
  if (err instanceof AcmeTransportError) return new AriError(`${err.message} (${err.failure})`, { cause: err });
  return new AriError(`renewalInfo request for ${certId} failed: ${errorText(err)}`, { cause: err });
}

function lastHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[value.length - 1] : value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
