/**
 * `marathon-acme lb-config [storage-dir]`: the HAProxy line that answers every HTTP-01 challenge of
 * the account in client.key, for marathon-lb forks with HAProxy 2.2 or later, and where it goes. Reads
 * the key only; an account key rollover changes the thumbprint, so print it again after one.
 */
import { join } from 'node:path';
import { readAccountKey } from '../acme/account-key.js';
import { accountSigner } from '../acme/protocol/jws.js';
import { CertStore } from '../certs/store.js';
import { statelessChallengeRule } from '../lb/stateless-challenge.js';
import type { CommandOutcome } from '../storage/locked-run.js';
import { errorText } from '../util/error-text.js';

export async function runLbConfig(storageDir: string): Promise<CommandOutcome> {
  let pem: string | undefined;
  try {
    pem = await readAccountKey(new CertStore(storageDir));
  } catch (err) {
    return { code: 1, text: `${errorText(err)}\n` };
  }
  if (pem === undefined) {
    return { code: 1, text: `there is no ${join(storageDir, 'client.key')} yet: start marathon-acme on this storage directory once (it makes the account key), then run this again\n` };
  }
  const thumbprint = accountSigner(pem).thumbprint;
  return { code: 0, text: lbConfigText(join(storageDir, 'client.key'), thumbprint) };
}

export function lbConfigText(keyFile: string, thumbprint: string): string {
  return [
    '# HTTP-01 challenges answered by marathon-lb itself (HAProxy 2.2 or later), for marathon-acme --challenges stateless.',
    `# The answer is <token>.<JWK thumbprint of ${keyFile}>: ${thumbprint}`,
    '# Put this line in your HAPROXY_HTTP_FRONTEND_HEAD template, after its "mode http" line, and print it again after an account rollover:',
    `  ${statelessChallengeRule(thumbprint)}`,
    '',
  ].join('\n');
}
