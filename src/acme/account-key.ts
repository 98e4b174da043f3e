import { createPrivateKey, generateKeyPair } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { CertStore } from '../certs/store.js';
import type { Logger } from '../log.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The curves of the JWS algorithms ES256/ES384/ES512, the only EC keys ACME servers take. */
const ACME_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

/**
 * The account key is the ACME account: losing it means a new account, orphaned orders and, with
 * External Account Binding, a manual step to register again. So an existing client.key is used as is
 * (the original's PKCS#1 RSA, PKCS#8, or SEC1 EC) and a broken one stops the daemon instead of being
 * replaced. A new key is RSA 2048 in PKCS#1 like the original's, so a rollback can still read it.
 */
export async function loadOrCreateAccountKey(store: CertStore, pending: PendingKeyOptions = {}): Promise<{ pem: string; created: boolean }> {
  const existing = await readAccountKey(store, pending);
  if (existing !== undefined) return { pem: existing, created: false };
  return createAccountKey(store, CLIENT_KEY_FILE, (pem) => store.writeAccountKey(pem));
}

/**
 * The account key of a CA other than the primary (accounts/<host>/client.key), made on its first
 * use. The same rules as client.key: an existing key is used as is, a broken one is an error.
 */
export async function loadOrCreateKeyFile(store: CertStore, relativePath: string): Promise<{ pem: string; created: boolean }> {
  const existing = await store.readText(relativePath);
  if (existing !== undefined) return { pem: checkAccountKey(existing, store.root, relativePath), created: false };
  return createAccountKey(store, relativePath, (pem) => store.createPrivateFile(relativePath, pem));
}

const CLIENT_KEY_FILE = 'client.key';

async function createAccountKey(store: CertStore, relativePath: string, create: (pem: string) => Promise<void>): Promise<{ pem: string; created: boolean }> {
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' });
  try {
    await create(pem);
  } catch (err) {
    // Another process may have created it first (creation never replaces); theirs is the account.
    const winner = await store.readText(relativePath).catch(() => undefined);
    if (winner === undefined) throw err;
    return { pem: checkAccountKey(winner, store.root, relativePath), created: false };
  }
  return { pem, created: true };
}

/** client.key as loadOrCreateAccountKey checks it, after settling an interrupted rollover; undefined when there is none. */
export async function readAccountKey(store: CertStore, pending: PendingKeyOptions = {}): Promise<string | undefined> {
  await resolvePendingAccountKey(store, pending);
  const existing = await store.readAccountKey();
  return existing === undefined ? undefined : checkAccountKey(existing, store.root);
}

/** Where `account rollover` keeps the new key while the CA moves the account to it. */
export const PENDING_ACCOUNT_KEY = 'client.key.new';

/** Whether the CA has an account for this key, asked without creating one (onlyReturnExisting). */
export type AccountLookup = (keyPem: string) => Promise<boolean>;

export interface PendingKeyOptions {
  /** Needed only when client.key.new exists; without it, such a file stops the loader. */
  lookup?: AccountLookup | undefined;
  logger?: Logger | undefined;
}

export type PendingOutcome = 'none' | 'adopted' | 'discarded';

/**
 * `account rollover` writes the new key to client.key.new (durably) before it asks the CA to move the
 * account to it, and puts it in client.key after: whenever it is interrupted, one of the two files
 * holds the key the CA knows. This settles a client.key.new found later: the CA knows the new key →
 * the change happened, and it replaces client.key ('adopted'); the CA does not know it → the change
 * never happened, and it is removed ('discarded'). Throws when it cannot tell (no lookup, the CA not
 * answering): guessing the old key after a change that happened would make the daemon register a new
 * account with it, since the CA no longer ties it to ours.
 */
export async function resolvePendingAccountKey(store: CertStore, options: PendingKeyOptions = {}): Promise<PendingOutcome> {
  const pendingPem = await store.readText(PENDING_ACCOUNT_KEY);
  if (pendingPem === undefined) return 'none';
  const file = join(store.root, PENDING_ACCOUNT_KEY);
  const current = await store.readAccountKey();
  let adopt = pendingPem === current;
  if (!adopt) {
    checkAccountKey(pendingPem, store.root, PENDING_ACCOUNT_KEY);
    const unsettled = `${file} is left from an interrupted \`marathon-acme account rollover\`, and only the CA can tell whether it or client.key is the account's key now`;
    if (options.lookup === undefined) throw new Error(`${unsettled}, and this process cannot ask it; start the daemon, which does`);
    try {
      adopt = await options.lookup(pendingPem);
    } catch (err) {
      throw new Error(`${unsettled}, and asking it failed (${err instanceof Error ? err.message : String(err)}); try again once the CA answers`, { cause: err });
    }
  }
  if (adopt) await commitPendingAccountKey(store, pendingPem);
  else await rm(file, { force: true });
  const outcome = adopt ? 'adopted' : 'discarded';
  options.logger?.warn(
    { file: PENDING_ACCOUNT_KEY, outcome },
    adopt ? 'an interrupted account key rollover had taken effect at the CA: client.key now holds the new key' : 'an interrupted account key rollover had not taken effect at the CA: client.key is kept and client.key.new removed',
  );
  return outcome;
}

/**
 * The CA has moved the account to `pem`, the content of client.key.new: it replaces client.key
 * (atomically), then client.key.new goes. A crash in between leaves two equal files, which
 * resolvePendingAccountKey settles without asking anyone.
 */
export async function commitPendingAccountKey(store: CertStore, pem: string): Promise<void> {
  await store.writeFileAtomic('client.key', pem, 0o600);
  await rm(join(store.root, PENDING_ACCOUNT_KEY), { force: true });
}

function checkAccountKey(pem: string, root: string, name = 'client.key'): string {
  const file = join(root, name);
  const advice = 'it identifies the ACME account, so it is not replaced automatically: restore it from a backup, or remove it to register a new account';
  if (/^-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type: *4, *ENCRYPTED/m.test(pem)) throw new Error(`${file} is an encrypted private key, which cannot be used without a passphrase; ${advice}`);
  let key;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new Error(`${file} is not a readable private key (${err instanceof Error ? err.message : String(err)}); ${advice}`, { cause: err });
  }
  if (key.asymmetricKeyType === 'rsa') return pem;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === 'ec' && curve !== undefined && ACME_CURVES.has(curve)) return pem;
  const kind = key.asymmetricKeyType === 'ec' ? `EC ${curve ?? 'unknown curve'}` : (key.asymmetricKeyType ?? 'unknown');
  throw new Error(`${file} is a ${kind} key; ACME account keys must be RSA or EC P-256/P-384/P-521; ${advice}`);
}
