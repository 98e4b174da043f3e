/**
 * `marathon-acme account rollover`: moves the ACME account of the storage directory to a new key
 * (RFC 8555 §7.3.5). The account, its URL, its orders and certificates stay; the old key no longer
 * acts for it. Crash-safe in three steps, the storage directory locked throughout:
 *
 *   1. the new key is written whole to client.key.new (temporary file, fsync, rename);
 *   2. the CA moves the account to it;
 *   3. it replaces client.key the same way, and client.key.new goes.
 *
 * Interrupted anywhere, one of the two files holds the key the CA knows, and the next start of the
 * daemon or of a command asks the CA which (resolvePendingAccountKey in acme/account-key.ts).
 */
import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import type { Agent } from 'undici';
import { accountLookup } from '../acme/account-lookup.js';
import { commitPendingAccountKey, PENDING_ACCOUNT_KEY, readAccountKey, resolvePendingAccountKey, type AccountLookup } from '../acme/account-key.js';
import { createAcmeAgent } from '../acme/acme-agent.js';
import { createAcmeClient } from '../acme/protocol/create-client.js';
import { jwkThumbprint, publicJwk } from '../acme/protocol/jws.js';
import { CertStore } from '../certs/store.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { runWithStorageLock, type CommandOutcome } from '../storage/locked-run.js';
import { systemClock, type Clock } from '../util/clock.js';
import { describeAccountKey, successorKey } from './successor-key.js';
import { errorText } from '../util/error-text.js';

/** Exit status 0: the account uses the new key; 1: it does not (nothing changed), or it cannot be told yet. */
export async function runRollover(config: Config, logger: Logger, clock: Clock = systemClock): Promise<CommandOutcome> {
  return runWithStorageLock({ dir: config.storageDir, purpose: 'account rollover', clock, logger }, () => rolloverLocked(config, logger, clock));
}

async function rolloverLocked(config: Config, logger: Logger, clock: Clock): Promise<CommandOutcome> {
  const store = new CertStore(config.storageDir, { logger });
  const lookup = accountLookup(config, { clock, logger });
  const keyFile = join(config.storageDir, 'client.key');
  let oldPem: string | undefined;
  try {
    oldPem = await readAccountKey(store, { lookup, logger });
  } catch (err) {
    return { code: 1, text: `${errorText(err)}\n` };
  }
  if (oldPem === undefined) {
    return { code: 1, text: `there is no ${keyFile}, so no account to roll over: the daemon makes the key and registers its account at its first start\n` };
  }
  let agent: Agent;
  try {
    agent = await createAcmeAgent({ caFile: config.acmeCaFile, timeoutMs: config.acmeTimeoutMs });
  } catch (err) {
    return { code: 1, text: `${errorText(err)}\n` };
  }
  try {
    const client = createAcmeClient(config, oldPem, { dispatcher: agent, clock, logger });
    let account;
    try {
      account = await client.findAccount();
    } catch (err) {
      return { code: 1, text: `cannot look up the account of ${keyFile} at ${config.acmeDirectoryUrl}: ${errorText(err)}\n` };
    }
    if (account === undefined) {
      return { code: 1, text: `the CA at ${config.acmeDirectoryUrl} has no account for ${keyFile}: nothing to roll over (is --acme the CA the daemon uses?)\n` };
    }
    const next = await successorKey(oldPem);
    await store.writeFileAtomic(PENDING_ACCOUNT_KEY, next.pem, 0o600);
    const summary = rolledOver(account.url, oldPem, next.pem, keyFile);
    try {
      await client.keyChange(next.key);
    } catch (err) {
      return await settle(store, lookup, logger, err, summary);
    }
    await commitPendingAccountKey(store, next.pem);
    logger.info({ account: account.url, file: 'client.key' }, 'ACME account key rolled over');
    return { code: 0, text: summary };
  } finally {
    await agent.destroy().catch(() => undefined);
  }
}

/**
 * The key change failed, or its answer was lost on the way back: only the CA can tell which, so it is
 * asked whether it knows the new key, the same way a start after a crash would.
 */
async function settle(store: CertStore, lookup: AccountLookup, logger: Logger, err: unknown, summary: string): Promise<CommandOutcome> {
  try {
    const outcome = await resolvePendingAccountKey(store, { lookup, logger });
    if (outcome === 'adopted') return { code: 0, text: `${summary}(the CA's answer to the key change was lost: ${errorText(err)}; asked again, it knows the new key)\n` };
    return { code: 1, text: `the CA did not change the account key: ${errorText(err)}\nclient.key is unchanged.\n` };
  } catch (settleErr) {
    return {
      code: 1,
      text:
        `the key change did not get a clear answer: ${errorText(err)}\n${errorText(settleErr)}\n` +
        `${PENDING_ACCOUNT_KEY} is kept beside client.key; the next start of the daemon or of this command asks the CA which of the two is the account's.\n`,
    };
  }
}

function rolledOver(accountUrl: string, oldPem: string, newPem: string, keyFile: string): string {
  const line = (pem: string): string => {
    const key = createPrivateKey(pem);
    return `${describeAccountKey(key)}, JWK thumbprint ${jwkThumbprint(publicJwk(key))}`;
  };
  return (
    `rolled over the key of ACME account ${accountUrl}\n` +
    `old key  ${line(oldPem)}: no longer acts for the account; not kept\n` +
    `new key  ${line(newPem)}: in ${keyFile}\n` +
    'Back up the new client.key (a backup of the old one is of no use now), then start the daemon again.\n'
  );
}
