/**
 * HTTP-01 key authorizations that are pending right now, by token. The HTTP server answers from here;
 * the issuer publishes a token just before telling the CA to validate and withdraws it when validation
 * is over, whatever the outcome, so nothing stale is ever served.
 *
 * With a shared board (several instances, one leader), what is published goes on the board too, and a
 * token this instance does not hold is looked up there: marathon-lb may send the CA's request to any
 * instance.
 */
import type { ChallengeBoard } from '../ha/challenge-board.js';

/**
 * An HTTP-01 token as RFC 8555 §8.3 allows it (base64url), with a bound: what the HTTP server
 * answers for, what a preflight probe is, and what may become a file or node name on a board.
 */
export const CHALLENGE_TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export class ChallengeResponder {
  private readonly pending = new Map<string, string>();

  constructor(private readonly board?: ChallengeBoard) {}

  /** Whether tokens this instance does not hold may be on a shared board. */
  get shared(): boolean {
    return this.board !== undefined;
  }

  add(token: string, keyAuthorization: string): void {
    this.pending.set(token, keyAuthorization);
  }

  remove(token: string): void {
    this.pending.delete(token);
  }

  /** add, and on the shared board; resolves once every instance can answer it (rejects if it cannot). */
  async publish(token: string, keyAuthorization: string): Promise<void> {
    this.add(token, keyAuthorization);
    try {
      await this.board?.publish(token, keyAuthorization);
    } catch (err) {
      this.remove(token);
      throw err;
    }
  }

  /**
   * remove, and off the shared board. A board that cannot be reached now is left as it is: a ZooKeeper
   * entry goes with its session, and a file is swept by the next leader.
   */
  async withdraw(token: string): Promise<void> {
    this.remove(token);
    await this.board?.withdraw(token).catch(() => undefined);
  }

  /** The key authorization for `token`, if a challenge with exactly that token is pending here. */
  lookup(token: string): string | undefined {
    return this.pending.get(token);
  }

  /** lookup, then the shared board. */
  async find(token: string): Promise<string | undefined> {
    return this.pending.get(token) ?? (await this.board?.lookup(token));
  }

  get size(): number {
    return this.pending.size;
  }
}
