/**
 * The CAs after the primary, built from their settings (--acme list or --ca-config): each its own
 * trust store and connection pool, account key and account, all made at first use.
 */
import type { Agent } from 'undici';
import { createAcmeAgent } from '../acme/acme-agent.js';
import { loadOrCreateKeyFile } from '../acme/account-key.js';
import type { ChallengeResponder } from '../acme/challenges.js';
import { AcmeCertificateAuthority } from '../acme/issuer.js';
import { createAcmeClient } from '../acme/protocol/create-client.js';
import type { AcmeRequestObserver } from '../acme/protocol/endpoints.js';
import type { CertStore } from '../certs/store.js';
import type { CaSettings, Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Clock } from '../util/clock.js';
import type { CaEntry } from './ca-router.js';
import { accountKeyPath, LazyAccountCa } from './lazy-account-ca.js';

export interface FallbackDeps {
  store: CertStore;
  responder: ChallengeResponder;
  logger: Logger;
  clock: Clock;
  email: string | undefined;
  acmeTimeoutMs: number;
  onRequest?: AcmeRequestObserver | undefined;
  /**
   * With --challenges stateless: client.key, for every CA. The load balancers answer challenges with
   * one account key's thumbprint, so every CA's account must have that key.
   */
  sharedKeyPem?: string | undefined;
}

export interface FallbackCas {
  entries: CaEntry[];
  /** Destroys the agents of the CAs that were opened. */
  close(): Promise<void>;
}

/**
 * The CAs after the primary as the configuration lists them, for the daemon and `renew --offline`
 * alike; `accountKeyPem` is client.key, which every CA uses with --challenges stateless.
 */
export function configuredFallbacks(
  config: Pick<Config, 'cas' | 'email' | 'acmeTimeoutMs' | 'challenges'>,
  accountKeyPem: string,
  deps: Pick<FallbackDeps, 'store' | 'responder' | 'logger' | 'clock' | 'onRequest'>,
): FallbackCas {
  return fallbackCas(config.cas.slice(1), {
    ...deps,
    email: config.email,
    acmeTimeoutMs: config.acmeTimeoutMs,
    sharedKeyPem: config.challenges === 'stateless' ? accountKeyPem : undefined,
  });
}

export function fallbackCas(settings: readonly CaSettings[], deps: FallbackDeps): FallbackCas {
  const agents: Agent[] = [];
  const entries = settings.map((ca): CaEntry => {
    const open = async (): Promise<AcmeCertificateAuthority> => {
      const agent = await createAcmeAgent({ caFile: ca.caFile, timeoutMs: deps.acmeTimeoutMs });
      agents.push(agent);
      const file = deps.sharedKeyPem === undefined ? accountKeyPath(ca.directoryUrl) : 'client.key';
      const key = deps.sharedKeyPem === undefined ? await loadOrCreateKeyFile(deps.store, file) : { pem: deps.sharedKeyPem, created: false };
      deps.logger.info({ ca: ca.directoryUrl, file, created: key.created }, key.created ? 'created an ACME account key for a CA after the primary' : 'using the existing account key of a CA after the primary');
      return new AcmeCertificateAuthority({
        client: createAcmeClient({ acmeDirectoryUrl: ca.directoryUrl, acmeTimeoutMs: deps.acmeTimeoutMs }, key.pem, { dispatcher: agent, clock: deps.clock, logger: deps.logger, onRequest: deps.onRequest }),
        keyType: ca.keyType,
        eab: ca.eab,
        profile: ca.profile,
        preferredChain: ca.preferredChain,
        email: deps.email,
        responder: deps.responder,
        logger: deps.logger,
        clock: deps.clock,
      });
    };
    return { ca: new LazyAccountCa(ca.directoryUrl, open), limits: ca.rateLimits.limits };
  });
  return {
    entries,
    close: async () => {
      await Promise.allSettled(agents.map((a) => a.destroy()));
    },
  };
}
