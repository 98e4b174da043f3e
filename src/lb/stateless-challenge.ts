/**
 * HTTP-01 answered by HAProxy itself (2.2 or later): the key authorization is `<token>.<thumbprint>`,
 * and the thumbprint (RFC 7638) belongs to the account key, not to the challenge, so one rule with the
 * thumbprint in it answers every challenge of that account on any host. Nothing is published, nothing
 * can reach the wrong instance, and the rule holds no secret (the thumbprint is a public key's hash).
 */
import { randomBytes } from 'node:crypto';
import type { ChallengeProbe } from '../preflight/preflight.js';

/** Only a token as RFC 8555 §8.3 allows it (base64url) is answered; the path's 4th field is the token. */
const TOKEN_PATH = '^/\\.well-known/acme-challenge/[A-Za-z0-9_-]+$';

/** The HAProxy line, for an HTTP frontend (marathon-lb's HAPROXY_HTTP_FRONTEND_HEAD). */
export function statelessChallengeRule(thumbprint: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(thumbprint)) throw new Error(`'${thumbprint}' is not a JWK thumbprint (base64url)`);
  return `http-request return status 200 content-type text/plain lf-string "%[path,field(4,/)].${thumbprint}" if { path_reg ${TOKEN_PATH} }`;
}

/**
 * A preflight probe for the stateless rule: a random token, which nobody publishes, must come back
 * as `<token>.<thumbprint>`, which only the rule can make.
 */
export function statelessProbe(thumbprint: string, random: (() => Buffer) | undefined): ChallengeProbe {
  const token = (random ?? ((): Buffer => randomBytes(32)))().toString('base64url');
  return {
    token,
    matches: (body) => body === `${token}.${thumbprint}`,
    wrongAnswer: (url, host) =>
      `the answer from ${url} is not <token>.<thumbprint of client.key>: with --challenges stateless each marathon-lb must answer ${host}'s challenges itself; add the line \`marathon-acme lb-config\` prints to its HAPROXY_HTTP_FRONTEND_HEAD`,
  };
}
