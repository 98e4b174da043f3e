/**
 * Which CA and account a revocation goes to: only the account that ordered a certificate can revoke
 * it with its account key, so a certificate another CA of the list issued (state.json remembers
 * which, by serial) is revoked at that CA with its own account key, whatever --acme says.
 */
import { accountLookup } from '../acme/account-lookup.js';
import { readAccountKey } from '../acme/account-key.js';
import { accountKeyPath } from '../ca/lazy-account-ca.js';
import type { CertStore, StoredCert } from '../certs/store.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { parseState, STATE_FILE } from '../state/state.js';
import type { Clock } from '../util/clock.js';

export interface RevokingAccount {
  directory: string;
  /** Relative to the storage directory. */
  keyFile: string;
  /** Undefined when the key file does not exist. */
  keyPem: string | undefined;
}

export async function revokingAccount(store: CertStore, config: Config, cert: StoredCert, deps: { clock: Clock; logger: Logger }): Promise<RevokingAccount> {
  const text = await store.readText(STATE_FILE).catch(() => undefined);
  const issuedBy = text === undefined ? undefined : parseState(text).state.certificates.get(cert.name)?.issuedBy;
  const directory = issuedBy !== undefined && issuedBy.serial === cert.bundle.leaf.serialHex ? issuedBy.directory : config.acmeDirectoryUrl;
  if (directory === config.acmeDirectoryUrl) {
    const keyPem = await readAccountKey(store, { lookup: accountLookup(config, deps), logger: deps.logger });
    return { directory, keyFile: 'client.key', keyPem };
  }
  const keyFile = accountKeyPath(directory);
  return { directory, keyFile, keyPem: await store.readText(keyFile) };
}
