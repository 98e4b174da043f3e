/**
 * The certificate machinery as the configuration builds it: the storage directory with its account
 * key and state, the CA, and the CertificateManager. The daemon builds it once at start, and
 * `renew --offline` builds the very same, so both order, store and remember alike.
 */
import type { Dispatcher } from 'undici';
import { loadOrCreateAccountKey, type AccountLookup } from '../acme/account-key.js';
import type { ChallengeResponder } from '../acme/challenges.js';
import { AcmeCertificateAuthority } from '../acme/issuer.js';
import { createAcmeClient } from '../acme/protocol/create-client.js';
import { accountSigner } from '../acme/protocol/jws.js';
import type { AcmeRequestObserver } from '../acme/protocol/endpoints.js';
import type { CaEntry } from '../ca/ca-router.js';
import type { CertStore } from '../certs/store.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { StateFile } from '../state/state-file.js';
import type { DaemonState } from '../state/state.js';
import { CertificateManager, type CertificateManagerOptions } from '../sync/certificates.js';
import type { OrderFence } from '../sync/order-fence.js';
import type { Clock } from '../util/clock.js';

export interface OpenedStorage {
  accountKeyPem: string;
  state: DaemonState;
  stateFile: StateFile;
}

/**
 * Prepares the storage directory (certs/ and default.pem first: HAProxy needs them before anything
 * else) and reads the account key (created when there is none) and state.json. Throws with a message
 * meant for the operator. `lookup` asks the CA about the new key an interrupted `account rollover`
 * left (see resolvePendingAccountKey).
 */
export async function openStorage(store: CertStore, clock: Clock, logger: Logger, lookup?: AccountLookup): Promise<OpenedStorage> {
  await store.init(new Date(clock.now()));
  const key = await loadOrCreateAccountKey(store, { lookup, logger });
  logger.info({ file: 'client.key', created: key.created }, key.created ? 'created a new ACME account key' : 'using the existing ACME account key');
  const stateFile = new StateFile(store, logger);
  const state = await stateFile.load(new Date(clock.now()));
  return { accountKeyPem: key.pem, state, stateFile };
}

export interface CaDeps {
  /** The agent for everything sent to the CA (acme-agent.ts); the caller destroys it. */
  dispatcher: Dispatcher;
  clock: Clock;
  /** Told the duration of every request to the CA, ARI included (metrics). */
  onRequest?: AcmeRequestObserver | undefined;
}

export function createCertificateAuthority(
  config: Config,
  accountKeyPem: string,
  responder: ChallengeResponder,
  logger: Logger,
  deps: CaDeps,
): AcmeCertificateAuthority {
  return new AcmeCertificateAuthority({
    client: createAcmeClient(config, accountKeyPem, { ...deps, logger }),
    email: config.email,
    responder,
    logger,
    clock: deps.clock,
    keyType: config.keyType,
    eab: config.eab,
    profile: config.acmeProfile,
    preferredChain: config.preferredChain,
  });
}

export interface ManagerParts {
  store: CertStore;
  ca: CertificateManagerOptions['ca'];
  clock: Clock;
  logger: Logger;
  random: () => number;
  opened: OpenedStorage;
  /** The agent for marathon-lb's HTTP API (trust-store.ts), for the preflight's wait on its reloads. */
  lbDispatcher?: Dispatcher | undefined;
  /** Where the HTTP server answers from: the preflight publishes its probes there. */
  responder: ChallengeResponder;
  lookup?: ((hostname: string) => Promise<string[]>) | undefined;
  /** Asked before each order when several instances share the storage directory. */
  fence?: OrderFence | undefined;
  /** The CAs after the primary (ca/fallback-cas.ts). */
  fallbacks?: readonly CaEntry[] | undefined;
}

type Hooks = Pick<CertificateManagerOptions, 'onAttempt' | 'onWritten'>;

export function createCertificateManager(config: Config, parts: ManagerParts, hooks: Hooks = {}): CertificateManager {
  return new CertificateManager({
    store: parts.store,
    ca: parts.ca,
    clock: parts.clock,
    logger: parts.logger,
    maxConcurrentOrders: config.maxConcurrentOrders,
    state: parts.opened.state,
    stateFile: parts.opened.stateFile,
    random: parts.random,
    fence: parts.fence,
    budgetLimits: config.rateLimits.limits ?? 'none',
    fallbacks: parts.fallbacks,
    fallbackAfterMs: config.fallbackAfterMs,
    ...hooks,
    preflight: config.preflight !== 'off'
      ? {
          mode: config.preflight,
          port: config.preflightPort,
          timeoutMs: 10_000,
          responder: parts.responder,
          lbUrls: config.lbUrls,
          lbDispatcher: parts.lbDispatcher,
          lookup: parts.lookup,
          thumbprint: config.challenges === 'stateless' ? accountSigner(parts.opened.accountKeyPem).thumbprint : undefined,
        }
      : undefined,
  });
}
