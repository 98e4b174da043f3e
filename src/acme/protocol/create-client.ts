/**
 * The one place an AcmeClient is put together from the configuration, so that the daemon, `renew
 * --offline`, `account rollover` and `revoke` talk to the CA alike: the same trust store and timeouts
 * (the dispatcher, from createAcmeAgent), the same User-Agent, the same badNonce budget.
 */
import type { KeyObject } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { version } from '../../cli/program.js';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import type { Clock } from '../../util/clock.js';
import { AcmeClient } from './client.js';
import type { AcmeRequestObserver } from './endpoints.js';
import { AcmeTransport } from './transport.js';

export type AcmeClientConfig = Pick<Config, 'acmeDirectoryUrl' | 'acmeTimeoutMs'>;

export interface AcmeClientDeps {
  /** The CA's trust store and connection pool (createAcmeAgent); the caller closes it. */
  dispatcher: Dispatcher;
  clock: Clock;
  logger: Logger;
  /** Told the duration of every request (metrics). */
  onRequest?: AcmeRequestObserver | undefined;
}

/** RFC 8555 §6.1 asks clients to name themselves; the version tells a CA's operator which release misbehaves. */
export function acmeUserAgent(): string {
  return `marathon-acme/${version()}`;
}

export function createAcmeClient(config: AcmeClientConfig, accountKey: KeyObject | string, deps: AcmeClientDeps): AcmeClient {
  const transport = new AcmeTransport({
    dispatcher: deps.dispatcher,
    timeoutMs: config.acmeTimeoutMs,
    userAgent: acmeUserAgent(),
    clock: deps.clock,
    onRequest: deps.onRequest,
  });
  return new AcmeClient({ directoryUrl: config.acmeDirectoryUrl, accountKey, transport, clock: deps.clock, logger: deps.logger });
}
