/**
 * Nonce reuse for acme-client. The library asks the CA for a fresh nonce (`HEAD newNonce`) before
 * every signed request, although every answer to a POST already carries one in `Replay-Nonce` and
 * RFC 8555 §7.2 lets a client use any nonce the server handed out. That doubled the requests per
 * order, and with pebble each HEAD answer also costs a new connection.
 */
import type acme from 'acme-client';

/** Enough for several orders in flight at once; beyond that the oldest nonces are the least useful. */
const DEFAULT_CAPACITY = 32;
/**
 * A CA does not keep its nonces valid forever (RFC 8555 leaves how long to the CA). Within an order
 * the requests are at most a poll back-off (10 s) apart; a nonce older than this, left over from an
 * earlier burst of orders, is more likely to cost a badNonce round trip than to save a HEAD.
 */
const DEFAULT_MAX_AGE_MS = 30_000;

export interface NoncePoolOptions {
  capacity?: number;
  maxAgeMs?: number;
  /** Milliseconds, monotonic enough for ages (tests pass their own). */
  now?: () => number;
}

/**
 * Unused nonces of one ACME client, newest first: the newest is the least likely to have expired.
 * Each nonce comes out at most once, since the CA accepts it only once.
 */
export class NoncePool {
  private readonly entries: { nonce: string; at: number }[] = [];
  private readonly capacity: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(options: NoncePoolOptions = {}) {
    this.capacity = options.capacity ?? DEFAULT_CAPACITY;
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.now = options.now ?? (() => performance.now());
  }

  get size(): number {
    return this.entries.length;
  }

  push(nonce: string): void {
    this.entries.push({ nonce, at: this.now() });
    if (this.entries.length > this.capacity) this.entries.shift();
  }

  /** The newest nonce that is not too old, or undefined; older ones than that are dropped. */
  pop(): string | undefined {
    const entry = this.entries.pop();
    if (entry === undefined) return undefined;
    if (this.now() - entry.at <= this.maxAgeMs) return entry.nonce;
    // Everything below the newest is older still.
    this.entries.length = 0;
    return undefined;
  }
}

interface HttpResponse {
  status: number;
  headers: Record<string, unknown>;
  data: unknown;
}

/** The two methods of acme-client 5.4.0's HttpClient (src/http.js) that the pool hooks into. */
interface HttpInternals {
  request(url: string, method: string, opts?: object): Promise<HttpResponse>;
  getNonce(): Promise<string>;
}

function isHttpInternals(value: unknown): value is HttpInternals {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<Record<keyof HttpInternals, unknown>>;
  return typeof candidate.request === 'function' && typeof candidate.getNonce === 'function';
}

/** acme-client resends a request that got badNonce with the nonce of that very answer. */
function isBadNonce(resp: HttpResponse): boolean {
  const data = resp.data;
  return resp.status === 400 && typeof data === 'object' && data !== null && (data as { type?: unknown }).type === 'urn:ietf:params:acme:error:badNonce';
}

/**
 * Makes `client` take its nonces from the answers it already got, falling back to `HEAD newNonce`
 * when none is left. Throws when acme-client no longer has the internals this relies on. Not kept
 * across `client.updateAccountKey()`, which replaces the client's HttpClient.
 */
export function reuseNonces(client: acme.Client, pool: NoncePool = new NoncePool()): NoncePool {
  const http = (client as unknown as { http?: unknown }).http;
  if (!isHttpInternals(http)) {
    throw new Error('acme-client internals changed: client.http has no request() and getNonce() to reuse nonces with (written for acme-client 5.4.0)');
  }
  const request = http.request.bind(http);
  const getNonce = http.getNonce.bind(http);
  http.request = async (url, method, opts) => {
    const resp = await request(url, method, opts);
    // HEAD is the library's own newNonce request: getNonce hands that nonce out itself. A badNonce
    // answer's nonce is spent by the library's retry.
    const nonce = resp.headers['replay-nonce'];
    if (method.toLowerCase() !== 'head' && !isBadNonce(resp) && typeof nonce === 'string' && nonce !== '') pool.push(nonce);
    return resp;
  };
  http.getNonce = () => {
    const nonce = pool.pop();
    return nonce === undefined ? getNonce() : Promise.resolve(nonce);
  };
  return pool;
}
