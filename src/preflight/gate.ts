/**
 * The preflight as the certificate manager uses it: wait for marathon-lb's reload before new names,
 * try each name's routes, decide per name, and log why an order goes ahead when a route failed.
 * Recording the outcome in state.json is the caller's (it owns the failure records).
 */
import type { ChallengeResponder } from '../acme/challenges.js';
import type { Logger } from '../log.js';
import type { Clock } from '../util/clock.js';
import type { Dispatcher } from 'undici';
import { decidePreflight, type PreflightDecision, type PreflightHistory, type PreflightMode } from './decision.js';
import { checkRoutesAll, type RouteReport } from './routes.js';
import { ReloadSettle } from './settle.js';

export interface PreflightSettings {
  mode: Exclude<PreflightMode, 'off'>;
  /** The port the CA dials (`--preflight-port`): each LB's HTTP port too. */
  port: number;
  /** Budget of each route's walk. */
  timeoutMs: number;
  /** Where probes are published; the daemon's HTTP server answers from it. */
  responder: ChallengeResponder;
  /** The `--lb` URLs: their hosts are tried directly, their getpids polled before new names. */
  lbUrls: readonly string[];
  /** Resolves the names and the LB hosts; defaults to the system resolver. */
  lookup?: ((hostname: string) => Promise<string[]>) | undefined;
  /** For the route walks; defaults to a private agent that, like the CA, does not verify after a redirect to https. */
  dispatcher?: Dispatcher | undefined;
  /** For marathon-lb's getpids: the agent that trusts --marathon-ca-file; defaults to undici's global one. */
  lbDispatcher?: Dispatcher | undefined;
  random?: (() => Buffer) | undefined;
  /** With --challenges stateless: the account key's thumbprint, which the LBs answer with (see routes.ts). */
  thumbprint?: string | undefined;
  /** The longest wait for marathon-lb's reload before new names; default 2 s, 0 turns the wait off. */
  settleMs?: number | undefined;
  /** Pause before trying a route again that answered 502/503; default 1 s. */
  transientPauseMs?: number | undefined;
}

export interface NameVerdict {
  name: string;
  decision: PreflightDecision;
  report: RouteReport;
}

export class PreflightGate {
  private readonly settler: ReloadSettle;

  constructor(
    private readonly settings: PreflightSettings,
    private readonly clock: Clock,
  ) {
    this.settler = new ReloadSettle({ lbUrls: settings.lbUrls, clock, boundMs: settings.settleMs, dispatcher: settings.lbDispatcher });
  }

  get mode(): PreflightSettings['mode'] {
    return this.settings.mode;
  }

  /**
   * Waits (boundedly) until every LB that can tell has reloaded, so that the checks and the CA's
   * validation of names of a just-changed app do not land in the middle of marathon-lb's reload.
   */
  async settle(log: Logger): Promise<void> {
    if (this.settings.settleMs === 0) return;
    const results = await this.settler.settle();
    const waited = results.filter((r) => r.outcome !== 'unknown');
    const fields = { lbs: results.map((r) => ({ lb: r.lb, outcome: r.outcome, waitedMs: r.waitedMs, ...(r.detail === undefined ? {} : { detail: r.detail }) })) };
    if (waited.length === 0) log.debug(fields, 'no marathon-lb tells its reloads (getpids); checking new names without waiting');
    else log.info(fields, 'waited for marathon-lb to reload before checking new names');
  }

  /**
   * Tries every route of every name and decides each. The first name is the order's primary name:
   * only it may be ordered despite a failing preflight (advisory mode's daily order).
   */
  async check(names: readonly string[], history: (name: string) => PreflightHistory, log: Logger): Promise<NameVerdict[]> {
    const reports = await checkRoutesAll(names, {
      port: this.settings.port,
      timeoutMs: this.settings.timeoutMs,
      responder: this.settings.responder,
      lbUrls: this.settings.lbUrls,
      clock: this.clock,
      dispatcher: this.settings.dispatcher,
      lookup: this.settings.lookup,
      random: this.settings.random,
      thumbprint: this.settings.thumbprint,
      transientPauseMs: this.settings.transientPauseMs,
      onTransient: ({ name, via, status, attempt }) => {
        log.info({ name, via, status, attempt }, 'preflight answered 502/503, as marathon-lb does while it reloads; trying again shortly');
      },
    });
    const now = this.clock.now();
    return reports.map((report, i) => {
      const decision = decidePreflight({ mode: this.settings.mode, dns: report.dns, lbs: report.lbs, history: history(report.name), now, mayOrderAnyway: i === 0 });
      logDecision(log, report, decision);
      return { name: report.name, decision, report };
    });
  }
}

function logDecision(log: Logger, report: RouteReport, decision: PreflightDecision): void {
  const routes = [report.dns, ...report.lbs].map((r) => ({ via: r.via, ok: r.ok, ...(r.ok ? {} : { kind: r.kind, reason: r.reason }) }));
  if (!decision.order) return;
  if (decision.basis === 'lb') {
    log.info({ name: report.name, routes, why: decision.why }, 'preflight: only the route through marathon-lb works from here (hairpin NAT?); ordering');
  } else if (decision.basis === 'anyway') {
    log.warn({ name: report.name, routes, failures: decision.history.failures, why: decision.why }, 'preflight failed again; advisory mode sends one real order a day anyway');
  } else if (report.lbs.some((r) => !r.ok)) {
    log.debug({ name: report.name, routes }, 'preflight passed through public DNS; some marathon-lb cannot be reached directly');
  }
}
