/**
 * `marathon-acme revoke <name> [--reason <reason>]`: revokes the certificate in certs/ at the CA
 * (RFC 8555 §7.6, signed with the account key), moves it to retired-certs/ and signals every
 * marathon-lb. Only ever run by hand: the daemon never revokes.
 *
 * It takes the storage directory's lock, like `account rollover`, rather than asking a running daemon
 * through requests/ like `renew`: it moves a file out of certs/, which the daemon writes and keeps in
 * memory, and it is rare enough that stopping the daemon for it costs little. Crash-safe by order: the
 * file is moved only after the CA has revoked; run again after a crash in between, the CA answers
 * alreadyRevoked, which counts as revoked, and the move happens then.
 */
import { X509Certificate } from 'node:crypto';
import { join, relative } from 'node:path';
import type { Agent } from 'undici';
import { createAcmeAgent } from '../acme/acme-agent.js';
import { createAcmeClient } from '../acme/protocol/create-client.js';
import type { AcmeClient } from '../acme/protocol/client.js';
import { AcmeProblemError } from '../acme/protocol/problem.js';
import { CertStore, type StoredCert } from '../certs/store.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { signalEveryLb, type LbSignalOutcome } from '../renew/signal-lbs.js';
import { runWithStorageLock, type CommandOutcome } from '../storage/locked-run.js';
import { systemClock, type Clock } from '../util/clock.js';
import { revokingAccount, type RevokingAccount } from './issuing-account.js';
import { REVOCATION_REASONS, type RevocationReasonName } from './reason.js';
import { errorText } from '../util/error-text.js';

export interface RevokeRequest {
  config: Config;
  /** Normalised; the certificate is the file in certs/ serving it. */
  name: string;
  /** Undefined: none given, so the request carries none and the CA records `unspecified`. */
  reason: RevocationReasonName | undefined;
}

/**
 * Exit status 0: revoked (now or before), moved and every LB signalled; 1: the CA did not revoke it
 * (nothing changed), or the move or a signal failed after it did (the text says what is left to do);
 * 2: no certificate serves the name in certs/.
 */
export async function runRevoke(request: RevokeRequest, logger: Logger, clock: Clock = systemClock): Promise<CommandOutcome> {
  const dir = request.config.storageDir;
  // By the name each file serves, without reading them: a misspelt name is refused before the lock.
  const precheck = async (): Promise<CommandOutcome | undefined> => {
    const served = await new CertStore(dir).servedNames().catch(() => undefined);
    return served === undefined || served.has(request.name) ? undefined : notFound(dir, request.name);
  };
  return runWithStorageLock({ dir, purpose: 'revoke', clock, logger, precheck }, () => revokeLocked(request, logger, clock));
}

async function revokeLocked(request: RevokeRequest, logger: Logger, clock: Clock): Promise<CommandOutcome> {
  const { config, name } = request;
  const dir = config.storageDir;
  const store = new CertStore(dir, { logger });
  const found = await findCertificate(store, name);
  if (found.kind !== 'found') return found.outcome;
  const cert = found.cert;
  const serial = cert.bundle.leaf.serialHex;
  const certFile = relative(dir, cert.path);

  let account: RevokingAccount;
  let keyPem: string | undefined;
  let agent: Agent | undefined;
  try {
    account = await revokingAccount(store, config, cert, { clock, logger });
    keyPem = account.keyPem;
    if (keyPem === undefined) return { code: 1, text: `there is no ${join(dir, account.keyFile)}: only the account that ordered ${certFile} (at ${account.directory}) can revoke it here\n` };
    agent = await createAcmeAgent({ caFile: config.acmeCaFile, timeoutMs: config.acmeTimeoutMs });
  } catch (err) {
    await agent?.destroy().catch(() => undefined);
    return { code: 1, text: `${errorText(err)}\n` };
  }
  if (account.directory !== config.acmeDirectoryUrl) logger.info({ name, ca: account.directory, keyFile: account.keyFile }, 'revoking at the CA that issued the certificate, with its account key');
  let already: boolean;
  try {
    already = await revokeAtCa(createAcmeClient({ ...config, acmeDirectoryUrl: account.directory }, keyPem, { dispatcher: agent, clock, logger }), cert, request.reason, account.keyFile);
  } catch (err) {
    return { code: 1, text: row('not revoked', `${name}  serial ${serial}: ${errorText(err)}\n${certFile} is unchanged.`) };
  } finally {
    await agent.destroy().catch(() => undefined);
  }
  const reason = request.reason ?? 'unspecified';
  logger.warn({ name, serial, reason, alreadyRevoked: already }, 'certificate revoked');
  let text = row('revoked', `${name}  serial ${serial}  reason ${reason}${already ? '  (the CA had revoked it already)' : ''}`);

  let retired: string;
  try {
    retired = await store.retire(cert.name, cert.file);
  } catch (err) {
    return { code: 1, text: text + row('not retired', `${certFile}: ${errorText(err)}; move it out of certs/ by hand (README: Removing a certificate by hand)`) };
  }
  text += row('retired', `${certFile} -> ${relative(dir, retired)}`);
  const signals = await signalEveryLb(config.lbUrls, config.marathonCaFile);
  text += signals.map(signalLine).join('');
  text += afterwards(name, request.reason);
  return { code: signals.some((s) => s.error !== undefined) ? 1 : 0, text };
}

type Found = { kind: 'found'; cert: StoredCert } | { kind: 'refused'; outcome: CommandOutcome };

/** The file serving `name` as the daemon sees it (certs/Example.com.pem serves example.com). */
async function findCertificate(store: CertStore, name: string): Promise<Found> {
  let listing;
  try {
    listing = await store.list();
  } catch (err) {
    return { kind: 'refused', outcome: { code: 1, text: `${errorText(err)}\n` } };
  }
  const cert = listing.certs.find((c) => c.name === name);
  if (cert !== undefined) return { kind: 'found', cert };
  const corrupt = listing.corrupt.find((c) => c.name === name);
  if (corrupt !== undefined) return { kind: 'refused', outcome: { code: 1, text: `${corrupt.path} is not a usable certificate bundle (${corrupt.reason}), so there is no certificate to revoke in it\n` } };
  return { kind: 'refused', outcome: notFound(store.root, name) };
}

function notFound(dir: string, name: string): CommandOutcome {
  return { code: 2, text: `no certificate for ${name} in ${join(dir, 'certs')}: names are the certificates' file names in certs/, as \`marathon-acme status\` lists them\n` };
}

/** True when the CA had revoked it already (a second run, or one after a crash before the move). */
async function revokeAtCa(client: AcmeClient, cert: StoredCert, reason: RevocationReasonName | undefined, keyFile: string): Promise<boolean> {
  const account = await client.findAccount();
  if (account === undefined) throw new Error(`the CA has no account for ${keyFile}, and only the account that ordered a certificate can revoke it here`);
  try {
    await client.revoke(new X509Certificate(cert.bundle.leafPem).raw, reason === undefined ? undefined : REVOCATION_REASONS[reason]);
    return false;
  } catch (err) {
    if (err instanceof AcmeProblemError && err.type === 'alreadyRevoked') return true;
    throw err;
  }
}

/**
 * A daemon started again orders any name an app still wants and certs/ lacks: after a key compromise
 * or a replacement that is the point (a new key), after cessationOfOperation it is a surprise.
 */
function afterwards(name: string, reason: RevocationReasonName | undefined): string {
  const until = 'Until then marathon-lb serves its fallback certificate (default.pem) for it.';
  if (reason === 'keyCompromise' || reason === 'superseded') {
    return `Start the daemon again: if an app still wants ${name}, it orders a new certificate with a new key at its first sync. ${until}\n`;
  }
  return `If an app still wants ${name}, the daemon orders a new certificate for it when it runs again: take the name out of the app's MARATHON_ACME_{n}_DOMAIN label first if it is no longer to be served. ${until}\n`;
}

/** An LB not signalled keeps serving the revoked certificate until something reloads it. */
function signalLine(outcome: LbSignalOutcome): string {
  if (outcome.error === undefined) return row('signalled', outcome.lb);
  return row('not signalled', `${outcome.lb}  ${outcome.error}; it serves the revoked certificate until it reloads: signal it by hand (POST /_mlb_signal/usr1)`);
}

/** One line of the report, the verb in a column as `renew` prints its lines. */
function row(verb: string, rest: string): string {
  return `${verb.padEnd(15)}${rest}\n`;
}
