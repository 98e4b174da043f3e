import { CHALLENGE_TOKEN } from '../acme/challenges.js';

/**
 * Where the leader puts the HTTP-01 key authorizations it is waiting on, so that any instance can
 * answer the CA: marathon-lb sends `/.well-known/acme-challenge/<token>` to whichever instance it
 * picks, and only the leader orders. The leader publishes before it tells the CA to validate, and
 * withdraws when validation is over; the others look a token up when they do not hold it themselves.
 */
export interface ChallengeBoard {
  /** Resolves once every instance can read it. */
  publish(token: string, keyAuthorization: string): Promise<void>;
  withdraw(token: string): Promise<void>;
  /** The key authorization, or undefined when none is published (or the board cannot be read now). */
  lookup(token: string): Promise<string | undefined>;
}

/** A key authorization is a token, a dot and a thumbprint: under 200 bytes. Anything longer is not ours. */
export const MAX_KEY_AUTHORIZATION = 1_024;

export class BoardTokenError extends Error {
  override readonly name = 'BoardTokenError';
}

/** A token becomes a file or node name on a board, so nothing but base64url may pass (no `/`, no `.`). */
export function checkBoardToken(token: string): void {
  if (!CHALLENGE_TOKEN.test(token)) throw new BoardTokenError(`the challenge token '${token.slice(0, 60)}' is not base64url; not publishing it`);
}
