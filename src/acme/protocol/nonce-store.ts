/**
 * The Replay-Nonces of one ACME client (RFC 8555 §6.5). Every answer carries a fresh nonce and any of
 * them may sign the next request, so keeping them saves a `HEAD newNonce` per request. Pure: the
 * caller passes the time, and the store never hands out the same nonce twice.
 */

/** Enough for several orders in flight at once; beyond that the oldest nonces are the least useful. */
const DEFAULT_CAPACITY = 32;
/**
 * How long a CA keeps a nonce valid is up to the CA. Within an order the requests are at most a poll
 * back-off (10 s) apart; a nonce older than this, left from an earlier burst of orders, is more likely
 * to cost a badNonce round trip than to save a HEAD.
 */
const DEFAULT_MAX_AGE_MS = 30_000;
/**
 * Nonces handed out are remembered this long (in count), so that a CA or proxy repeating a
 * Replay-Nonce header cannot make us send a nonce twice.
 */
const TAKEN_MEMORY = 128;

/** RFC 8555 §6.5.1: a nonce is base64url; clients ignore any other Replay-Nonce value. */
const NONCE_SYNTAX = /^[A-Za-z0-9_-]+$/;

export interface NonceStoreOptions {
  capacity?: number;
  maxAgeMs?: number;
}

export class NonceStore {
  /** Oldest first. */
  private entries: { nonce: string; at: number }[] = [];
  private readonly taken = new Set<string>();
  private readonly capacity: number;
  private readonly maxAgeMs: number;

  constructor(options: NonceStoreOptions = {}) {
    this.capacity = options.capacity ?? DEFAULT_CAPACITY;
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * Keeps `nonce`, received at `now` (ms). Returns false, keeping nothing, for a value that is not a
   * nonce or one already held or handed out.
   */
  put(nonce: string, now: number): boolean {
    if (!NONCE_SYNTAX.test(nonce) || this.taken.has(nonce) || this.entries.some((entry) => entry.nonce === nonce)) return false;
    this.entries.push({ nonce, at: now });
    if (this.entries.length > this.capacity) this.entries.shift();
    return true;
  }

  /**
   * The newest nonce no older than the maximum age at `now`, removed from the store; undefined when
   * there is none. Stale nonces are dropped on the way.
   */
  take(now: number): string | undefined {
    this.entries = this.entries.filter((entry) => now - entry.at <= this.maxAgeMs);
    const entry = this.entries.pop();
    if (entry === undefined) return undefined;
    this.taken.add(entry.nonce);
    if (this.taken.size > TAKEN_MEMORY) {
      // A Set iterates in insertion order: the first value is the one taken longest ago.
      const oldest = this.taken.values().next().value;
      if (oldest !== undefined) this.taken.delete(oldest);
    }
    return entry.nonce;
  }
}
