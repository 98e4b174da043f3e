/**
 * One whole order on our ACME client, for tests that need a real certificate from pebble without the
 * daemon: each step spelled out, so that every request passes through whatever proxy the client uses.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { AcmeClient, OrderOptions } from '../../src/acme/protocol/client.js';
import { createCsr } from '../../src/acme/protocol/csr.js';

/**
 * newOrder → HTTP-01 for every pending authorization (the key authorization put in `tokens` for the
 * test's challenge server while the CA looks) → finalize with a fresh P-256 key → the PEM chain.
 */
export async function orderCertificate(client: AcmeClient, names: string[], tokens: Map<string, string>, options: OrderOptions = {}): Promise<string> {
  const order = await client.newOrder(names, options);
  for (const url of order.authorizations) {
    const authz = await client.authorization(url);
    // Pebble may hand back an authorization it already validated (reuse); nothing to prove then.
    if (authz.status === 'valid') continue;
    const challenge = authz.challenges.find((c) => c.type === 'http-01');
    const token = challenge?.token;
    if (challenge === undefined || token === undefined) throw new Error(`no http-01 challenge for ${authz.identifier.value}`);
    tokens.set(token, client.keyAuthorization(token));
    try {
      await client.answerChallenge(challenge.url);
      await client.waitForAuthorization(url);
    } finally {
      tokens.delete(token);
    }
  }
  const valid = await client.finalize(order, await createCsr(names, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey));
  return client.certificate(valid);
}
