/**
 * What sets a leader's work off, started with each term and ended with it (`signal`): the account
 * registration (retried until it works), the Marathon event stream, the periodic sync, the renewal
 * timer and `marathon-acme renew` requests. Each trigger only asks; the term's coalescers decide when
 * the work runs.
 */
import type { Agent } from 'undici';
import { probeDirectory } from '../acme/directory-probe.js';
import type { AccountGate } from '../ca/account-gate.js';
import type { StreamState } from '../marathon/events.js';
import { watchRenewRequests } from '../renew/request-watcher.js';
import type { ForcedRenewal } from '../sync/forced-renewal.js';
import { isAborted, type Clock } from '../util/clock.js';
import { registerAccountUntilReady } from './account-registration.js';
import { watchMarathonEvents } from './event-triggers.js';
import type { TermParts } from './leader-term.js';

export interface TriggerHooks {
  onAccountError: (message: string) => void;
  onAccountReady: () => void;
  onStreamState: (state: StreamState) => void;
  requestSync: (reason: string) => void;
  requestRenewalCheck: (reason: string) => void;
  renewAsked: (names: readonly string[] | 'all') => Promise<ForcedRenewal[]>;
}

/** Starts every trigger; the promises settle once `signal` has ended them. */
export function startLeaderTriggers(parts: TermParts, gate: AccountGate, acmeAgent: Agent, signal: AbortSignal, hooks: TriggerHooks): Promise<void>[] {
  const { clock, logger, metrics, random, deps } = parts;
  const { config } = deps;
  const triggers = [
    registerAccountUntilReady({
      ca: gate,
      checkDirectory: deps.ca === undefined
        ? async () => gate.judge(await probeDirectory(config.acmeDirectoryUrl, {
            dispatcher: acmeAgent,
            timeoutMs: config.acmeTimeoutMs,
            onDuration: (seconds) => { metrics.observeAcmeRequest('directory', seconds); },
          }))
        : undefined,
      clock,
      logger,
      random,
      signal,
      onError: hooks.onAccountError,
      onReady: hooks.onAccountReady,
      onFatal: (err) => {
        parts.reportFatal(err);
      },
    }),
    watchMarathonEvents({
      client: parts.marathon,
      clock,
      logger,
      metrics,
      random,
      idleTimeoutMs: config.sseTimeoutMs,
      signal,
      onStateChange: hooks.onStreamState,
      requestSync: hooks.requestSync,
    }),
    every(clock, config.renewalIntervalMs, signal, () => { hooks.requestRenewalCheck('renewal check'); }),
    watchRenewRequests({
      storageDir: config.storageDir,
      clock,
      logger,
      signal,
      renew: (request) => hooks.renewAsked(request.all ? 'all' : request.names),
    }),
  ];
  if (config.syncIntervalMs > 0) triggers.push(every(clock, config.syncIntervalMs, signal, () => { hooks.requestSync('periodic sync'); }));
  return triggers;
}

async function every(clock: Clock, intervalMs: number, signal: AbortSignal, tick: () => void): Promise<void> {
  while (!signal.aborted) {
    await clock.sleep(intervalMs, signal);
    if (!isAborted(signal)) tick();
  }
}
