/**
 * HTTP-01 key authorizations that are pending right now, by token. The HTTP server answers from here;
 * the issuer adds a token just before telling the CA to validate and removes it when validation is
 * over, whatever the outcome, so nothing stale is ever served.
 */
export class ChallengeResponder {
  private readonly pending = new Map<string, string>();

  add(token: string, keyAuthorization: string): void {
    this.pending.set(token, keyAuthorization);
  }

  remove(token: string): void {
    this.pending.delete(token);
  }

  /** The key authorization for `token`, if a challenge with exactly that token is pending. */
  lookup(token: string): string | undefined {
    return this.pending.get(token);
  }

  get size(): number {
    return this.pending.size;
  }
}
