/**
 * A short, bounded wait for marathon-lb's reload before a new name is checked and ordered.
 *
 * Adding an app makes marathon-lb regenerate its configuration and reload HAProxy at the very moment
 * we order the app's name; while the old HAProxy process winds down it can answer a few requests with
 * 502, and a validation that lands there costs a failure backoff and a failed validation at the CA.
 * marathon-lb's `/_haproxy_getpids` answers with the space-separated pids of its HAProxy processes, so
 * a pid that was not there at the first look means a reload has happened. Each LB is polled until that
 * is seen or the bound passes; an LB that does not answer getpids (404, refused, not 200) cannot tell,
 * and is not waited for.
 */
import { getGlobalDispatcher, type Dispatcher } from 'undici';
import { HttpMarathonLbApi } from '../lb/lb-api.js';
import type { Clock } from '../util/clock.js';
import { parseEndpoint, type Endpoint } from '../util/endpoint.js';

export interface SettleOptions {
  lbUrls: readonly string[];
  clock: Clock;
  dispatcher?: Dispatcher | undefined;
  /** The longest wait for a reload; default 2 s. */
  boundMs?: number | undefined;
  /** The pause between two looks at an LB's pids; default 100 ms. */
  pollMs?: number | undefined;
  /** Bounds each getpids request; default 500 ms. */
  requestTimeoutMs?: number | undefined;
}

/**
 * - `reloaded`: a new HAProxy pid appeared while we looked;
 * - `no-reload`: the pids stayed the same for the whole bound;
 * - `unknown`: the LB does not answer getpids, so nothing was waited for.
 */
export type SettleOutcome = 'reloaded' | 'no-reload' | 'unknown';

export interface LbSettle {
  /** The LB as displayed (credentials masked). */
  lb: string;
  outcome: SettleOutcome;
  /** Time from the first look to the outcome, by the injected clock. */
  waitedMs: number;
  /** Why the outcome is `unknown`. */
  detail?: string | undefined;
}

const PATH = '/_haproxy_getpids';
const DEFAULT_BOUND_MS = 2_000;
const DEFAULT_POLL_MS = 100;
const DEFAULT_REQUEST_TIMEOUT_MS = 500;

/** True when `now` has a pid that `before` did not: HAProxy was started again, i.e. reloaded. */
export function hasNewPid(before: readonly string[], now: readonly string[]): boolean {
  const known = new Set(before);
  return now.some((pid) => !known.has(pid));
}

/**
 * Waits for the LBs' reload, for every caller at once: callers that arrive while a wait is running
 * share it instead of adding their own.
 */
export class ReloadSettle {
  private readonly lbs: Endpoint[];
  private running: Promise<LbSettle[]> | undefined;

  constructor(private readonly options: SettleOptions) {
    this.lbs = options.lbUrls.map((url) => parseEndpoint(url));
  }

  settle(): Promise<LbSettle[]> {
    this.running ??= Promise.all(this.lbs.map((lb) => this.watch(lb))).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async watch(lb: Endpoint): Promise<LbSettle> {
    const { clock } = this.options;
    const started = clock.now();
    const first = await this.pids(lb);
    if (!Array.isArray(first)) return { lb: lb.display, outcome: 'unknown', waitedMs: clock.now() - started, detail: first };
    const deadline = started + (this.options.boundMs ?? DEFAULT_BOUND_MS);
    while (clock.now() < deadline) {
      await clock.sleep(Math.min(this.options.pollMs ?? DEFAULT_POLL_MS, Math.max(0, deadline - clock.now())));
      const now = await this.pids(lb);
      // A look that fails in the middle (the stats listener moving to the new process) proves nothing
      // either way; the next look may.
      if (Array.isArray(now) && hasNewPid(first, now)) return { lb: lb.display, outcome: 'reloaded', waitedMs: clock.now() - started };
    }
    return { lb: lb.display, outcome: 'no-reload', waitedMs: clock.now() - started };
  }

  /** The LB's HAProxy pids, or why they could not be had. */
  private async pids(lb: Endpoint): Promise<string[] | string> {
    const timeout = this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const answer = await new HttpMarathonLbApi(lb, this.options.dispatcher ?? getGlobalDispatcher(), timeout).pids(AbortSignal.timeout(timeout));
    if (answer.kind === 'pids') return answer.pids;
    return answer.kind === 'absent' ? `${PATH} answered 404` : `${PATH} failed: ${answer.error}`;
  }
}
