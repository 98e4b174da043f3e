import type { Dispatcher } from 'undici';
import type { Logger } from '../log.js';
import { parseEndpoint, type Endpoint } from '../util/endpoint.js';
import type { BackoffPolicy } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';
import { HttpMarathonLbApi, type MarathonLbApi } from './lb-api.js';
import { LbLink, type LinkState, type LinkTiming } from './lb-link.js';
import { PidEvidence, type ReloadEvidence } from './reload-evidence.js';
import { DEFAULT_CYCLE_TIMING } from './signal-cycle.js';

/** One configured marathon-lb, as the evidence factory sees it. */
export interface LbHandle {
  /** The --lb URL with credentials masked: the key everywhere else too. */
  display: string;
  endpoint: Endpoint;
  api: MarathonLbApi;
}

export interface SignalTiming extends LinkTiming {
  /** Between looks at HAProxy's pids while waiting for a reload. */
  pidPollMs: number;
}

export const DEFAULT_SIGNAL_TIMING: SignalTiming = {
  ...DEFAULT_CYCLE_TIMING,
  minIntervalMs: 1_000,
  healthStableMs: 2_000,
  healthPollMs: 500,
  healthDownMaxMs: 5_000,
  pidPollMs: 250,
};

export interface LbSignallerOptions {
  urls: readonly string[];
  dispatcher: Dispatcher;
  clock: Clock;
  logger: Logger;
  /** Pauses after failed signal requests. */
  backoff: BackoffPolicy;
  /** Per request to marathon-lb's API. */
  timeoutMs: number;
  random?: (() => number) | undefined;
  onResult?: ((lb: string, ok: boolean, error?: string) => void) | undefined;
  timing?: Partial<SignalTiming> | undefined;
  /** How a signal is confirmed per LB; by default HAProxy's pids (accepted = done where it has none). */
  evidence?: ((lb: LbHandle, pids: ReloadEvidence) => ReloadEvidence) | undefined;
  /** Replaces the HTTP client of each LB (tests). */
  api?: ((endpoint: Endpoint) => MarathonLbApi) | undefined;
}

/**
 * Tells every marathon-lb to reload its HAProxy config (USR1: re-read the certificate files), each
 * LB on its own (see LbLink): a signal stays owed until the reload shows, an LB that is starting or
 * has just failed is left alone until it is healthy, and bursts of requests are coalesced.
 */
export class LbSignaller {
  private readonly links = new Map<string, LbLink>();
  private readonly stopping = new AbortController();

  constructor(options: LbSignallerOptions) {
    const timing = { ...DEFAULT_SIGNAL_TIMING, ...options.timing };
    const random = options.random ?? Math.random;
    for (const url of options.urls) {
      const endpoint = parseEndpoint(url);
      if (this.links.has(endpoint.display)) continue;
      const api = options.api?.(endpoint) ?? new HttpMarathonLbApi(endpoint, options.dispatcher, options.timeoutMs);
      const pids = new PidEvidence(api, options.clock, timing.pidPollMs);
      const handle = { display: endpoint.display, endpoint, api };
      this.links.set(
        endpoint.display,
        new LbLink({
          display: endpoint.display,
          api,
          evidence: options.evidence?.(handle, pids) ?? pids,
          clock: options.clock,
          logger: options.logger,
          timing,
          backoff: options.backoff,
          random,
          stopping: this.stopping.signal,
          onResult: options.onResult,
        }),
      );
    }
  }

  /** The LBs as displayed (credentials masked), in configured order. */
  get lbs(): string[] {
    return [...this.links.keys()];
  }

  /** Owes a signal to every LB for `names` and starts delivering in the background; never blocks. */
  signalAll(reason: string, names: readonly string[] = []): void {
    for (const link of this.links.values()) link.request(names, reason);
  }

  /** Owes a signal to one LB (by its display URL); unknown LBs are ignored. */
  signal(lb: string, names: readonly string[], reason: string): void {
    this.links.get(lb)?.request(names, reason);
  }

  /** LBs still owed a signal, or whose reload has not shown yet. */
  get pending(): string[] {
    return [...this.links.values()].filter((link) => link.state().pending).map((link) => link.display);
  }

  state(lb: string): LinkState | undefined {
    return this.links.get(lb)?.state();
  }

  /** Stops signalling and waiting; requests in flight are abandoned. */
  stop(): void {
    this.stopping.abort();
  }

  /** Waits until every owed signal was delivered or given up (tests and shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.links.values()].map((link) => link.idle()));
  }
}
