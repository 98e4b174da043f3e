/**
 * "Does the CA have an account for this key?", asked without creating one (RFC 8555 §7.3.1
 * onlyReturnExisting): what settles an interrupted account rollover (account-key.ts). Rare, so each
 * question opens and closes its own connection rather than borrowing the caller's.
 */
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Clock } from '../util/clock.js';
import type { AccountLookup } from './account-key.js';
import { createAcmeAgent } from './acme-agent.js';
import { createAcmeClient } from './protocol/create-client.js';

export function accountLookup(config: Pick<Config, 'acmeDirectoryUrl' | 'acmeTimeoutMs' | 'acmeCaFile'>, deps: { clock: Clock; logger: Logger }): AccountLookup {
  return async (keyPem) => {
    const dispatcher = await createAcmeAgent({ caFile: config.acmeCaFile, timeoutMs: config.acmeTimeoutMs });
    try {
      return (await createAcmeClient(config, keyPem, { dispatcher, ...deps }).findAccount()) !== undefined;
    } finally {
      await dispatcher.destroy().catch(() => undefined);
    }
  };
}
