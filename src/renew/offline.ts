/**
 * `marathon-acme renew --offline`: renews in this process, for when no daemon runs on the storage
 * directory. It takes the directory's lock (refusing while a daemon holds it), builds the daemon's own
 * certificate machinery (daemon/components.ts: the same account, CA settings, preflight, rate budget
 * and crash-safe writes), answers the CA's HTTP-01 challenges on --listen, signals every marathon-lb
 * once, and lets go of the lock.
 *
 * The CA reaches the challenge answers through marathon-lb, which routes the challenge path to the
 * marathon-acme app: so this must run where that app's task runs (in its container, the daemon
 * stopped), or the CA's validation reaches nobody.
 */
import type { Server } from 'node:http';
import type { Agent } from 'undici';
import { accountLookup } from '../acme/account-lookup.js';
import { createAcmeAgent } from '../acme/acme-agent.js';
import { ChallengeResponder } from '../acme/challenges.js';
import { AccountGate } from '../ca/account-gate.js';
import { configuredFallbacks, type FallbackCas } from '../ca/fallback-cas.js';
import { adoptCaStates } from '../state/ca-state.js';
import { CertStore, StorageError } from '../certs/store.js';
import type { Config } from '../config.js';
import { createCertificateAuthority, createCertificateManager, openStorage } from '../daemon/components.js';
import { closeServer, createHttpServer, listen } from '../http/server.js';
import type { Logger } from '../log.js';
import { StorageLock, StorageLockedError } from '../storage/lock.js';
import { ownershipRefusal } from '../storage/ownership.js';
import type { Clock } from '../util/clock.js';
import { formatOutcomes, outcomeExitCode } from './report.js';
import { formatSignals, signalEveryLb } from './signal-lbs.js';
import { errorText } from '../util/error-text.js';

export interface OfflineRenewal {
  config: Config;
  names: readonly string[];
  all: boolean;
}

export async function renewOffline(request: OfflineRenewal, logger: Logger, clock: Clock): Promise<{ code: number; text: string }> {
  const dir = request.config.storageDir;
  const refusal = await ownershipRefusal(dir);
  if (refusal !== undefined) return { code: 1, text: `${refusal}\n` };
  let lost: Error | undefined;
  let lock: StorageLock;
  try {
    lock = await StorageLock.acquire({ dir, purpose: 'renew --offline', clock, logger, onLost: (err) => { lost = err; } });
  } catch (err) {
    if (err instanceof StorageLockedError || err instanceof StorageError) return { code: 1, text: `${err.message}\n` };
    throw err;
  }
  const held: { agent?: Agent; server?: Server; fallbacks?: FallbackCas } = {};
  try {
    const outcome = await renewLocked(request, logger, clock, held);
    // Set by the heartbeat: another process took the directory over while this one worked.
    return lost === undefined ? outcome : { code: 1, text: `${outcome.text}${lost.message}\n` };
  } finally {
    if (held.server !== undefined) await closeServer(held.server);
    await held.agent?.destroy().catch(() => undefined);
    await held.fallbacks?.close();
    await lock.release();
  }
}

async function renewLocked(
  request: OfflineRenewal,
  logger: Logger,
  clock: Clock,
  held: { agent?: Agent; server?: Server; fallbacks?: FallbackCas },
): Promise<{ code: number; text: string }> {
  const { config } = request;
  const store = new CertStore(config.storageDir, { logger });
  const responder = new ChallengeResponder();
  let opened;
  try {
    opened = await openStorage(store, clock, logger, accountLookup(config, { clock, logger }));
    held.agent = await createAcmeAgent({ caFile: config.acmeCaFile, timeoutMs: config.acmeTimeoutMs });
  } catch (err) {
    return { code: 1, text: `${errorText(err)}\n` };
  }
  const ca = createCertificateAuthority(config, opened.accountKeyPem, responder, logger, { dispatcher: held.agent, clock });
  // The same CAs in the same order as the daemon, with what it remembered of each (health, budget).
  opened.state.cas = adoptCaStates(opened.state.cas, config.cas);
  const fallbacks = configuredFallbacks(config, opened.accountKeyPem, { store, responder, logger, clock });
  held.fallbacks = fallbacks;
  const manager = createCertificateManager(config, { store, ca, clock, logger, random: Math.random, opened, responder, fallbacks: fallbacks.entries });
  await manager.refresh();
  const missing = request.names.filter((name) => !manager.managed.has(name));
  if (missing.length > 0) {
    const outcomes = missing.map((name) => ({ name, outcome: 'not-managed' as const }));
    return { code: outcomeExitCode(outcomes), text: formatOutcomes(outcomes) };
  }
  if (request.all && manager.managed.size === 0) return { code: 0, text: 'nothing to renew: certs/ holds no certificate\n' };

  const server = createHttpServer({ responder, health: () => ({ healthy: true, problems: [], details: { mode: 'renew --offline' } }), logger });
  try {
    await listen(server, config.listen.host, config.listen.port);
  } catch (err) {
    return { code: 1, text: `cannot answer the CA's HTTP-01 challenges: ${errorText(err)}. Is the daemon still running here? Stop it first\n` };
  }
  held.server = server;
  try {
    await new AccountGate(manager.router, logger).ensureAccount();
  } catch (err) {
    return { code: 1, text: `the ACME account is not ready: ${errorText(err)}\n` };
  }
  const outcomes = await manager.renewNow(request.all ? 'all' : request.names);
  let text = formatOutcomes(outcomes);
  let code = outcomeExitCode(outcomes);
  if (outcomes.some((o) => o.outcome === 'renewed')) {
    const signals = await signalEveryLb(config.lbUrls, config.marathonCaFile);
    text += formatSignals(signals);
    if (signals.some((s) => s.error !== undefined)) code = Math.max(code, 1);
  }
  return { code, text };
}
