/**
 * Whether a name's order goes ahead, from what its routes answered and what its earlier preflights
 * did. Pure: the route checks, the clock and the stored history are the caller's.
 *
 * The preflight may delay an order but, in advisory mode, never lock a name out: a self-check can fail
 * where the CA would succeed (hairpin NAT, split-horizon DNS, PROXY protocol in front of HAProxy), and
 * a check that blocks forever is the most resented behaviour of the self-checks we know of.
 * - Public DNS leads here: go.
 * - DNS answers, but connecting to that address fails or times out, while a load balancer reached
 *   directly routes the name here: that is what hairpin NAT looks like from inside, go.
 * - Otherwise nothing is sent, and the usual failure backoff applies. In advisory mode, from the third
 *   failed preflight in a row on, one real order a day is sent anyway (Let's Encrypt allows 5 failed
 *   validations per name and hour, so one a day costs nothing that matters); strict mode never sends
 *   an order without a pass.
 */
import type { PreflightFailureKind } from './preflight.js';

export const PREFLIGHT_MODES = ['advisory', 'strict', 'off'] as const;
/** `advisory` (the default) may delay an order, `strict` may block it for good, `off` skips the check. */
export type PreflightMode = (typeof PREFLIGHT_MODES)[number];

/** Failed preflights in a row after which advisory mode sends a real order anyway. */
export const FAILURES_BEFORE_ORDERING_ANYWAY = 3;
/** At most one order sent despite a failing preflight per name in this time. */
export const ORDER_ANYWAY_INTERVAL_MS = 86_400_000;

/** One route's outcome, as the route check reports it. */
export interface RouteOutcome {
  /** What was dialled, for people: `public DNS` or `marathon-lb <host>:<port>`. */
  via: string;
  ok: boolean;
  kind?: PreflightFailureKind | undefined;
  reason?: string | undefined;
}

export interface DnsRouteOutcome extends RouteOutcome {
  /** DNS gave the name at least one address (so a failure after that is about the connection). */
  resolved: boolean;
}

/** What is remembered about a name's preflights (in its failure record in state.json). */
export interface PreflightHistory {
  /** Preflights failed in a row; 0 after a pass. */
  failures: number;
  /** When an order was last sent although the preflight failed. */
  orderedAnywayAt: number | undefined;
}

export interface DecisionInput {
  mode: Exclude<PreflightMode, 'off'>;
  dns: DnsRouteOutcome;
  lbs: readonly RouteOutcome[];
  history: PreflightHistory;
  now: number;
  /**
   * Whether a failing name may be ordered anyway. Only the order's primary name: a secondary name that
   * fails validation would fail the certificate of all the others with it.
   */
  mayOrderAnyway: boolean;
}

export type PreflightDecision =
  /** The route the CA takes works; the history starts afresh. */
  | { order: true; basis: 'dns' }
  /** Hairpin NAT: the CA's route cannot be tried from here, the load balancer's can and works. */
  | { order: true; basis: 'lb'; why: string }
  /** No route works, but advisory mode's daily order is due. */
  | { order: true; basis: 'anyway'; kind: PreflightFailureKind; why: string; history: PreflightHistory }
  | {
      order: false;
      kind: PreflightFailureKind;
      /** What failed, what to fix and what happens next: the failure record's detail. */
      reason: string;
      history: PreflightHistory;
      /** When advisory mode would send the name's next order anyway, if it will. */
      orderAnywayAt: number | undefined;
    };

const HAIRPIN_KINDS: ReadonlySet<PreflightFailureKind> = new Set(['connection', 'timeout']);

export function decidePreflight(input: DecisionInput): PreflightDecision {
  const { dns, lbs, history, now, mode } = input;
  if (dns.ok) return { order: true, basis: 'dns' };
  const kind = dns.kind ?? 'connection';
  const working = lbs.filter((lb) => lb.ok);
  if (working.length > 0 && dns.resolved && HAIRPIN_KINDS.has(kind)) {
    return {
      order: true,
      basis: 'lb',
      why: `the name routes here through ${working.map((lb) => lb.via).join(', ')}; its public address cannot be reached from this host (${dnsReason(dns)}), which is what hairpin NAT looks like from inside, so the CA's view is assumed to work`,
    };
  }

  const failures = history.failures + 1;
  const last = history.orderedAnywayAt;
  const mayOrderAnyway = mode === 'advisory' && input.mayOrderAnyway;
  const dueAt = mayOrderAnyway && failures >= FAILURES_BEFORE_ORDERING_ANYWAY ? (last === undefined ? now : last + ORDER_ANYWAY_INTERVAL_MS) : undefined;
  const what = failureSummary(dns, lbs, working.length > 0);
  if (dueAt !== undefined && dueAt <= now) {
    return {
      order: true,
      basis: 'anyway',
      kind,
      why: `the preflight failed ${failures} times in a row (${what}); advisory mode sends one real order a day anyway, in case the CA can reach what this host cannot`,
      history: { failures, orderedAnywayAt: now },
    };
  }
  return { order: false, kind, reason: `${what}; ${nextStep(mode, input.mayOrderAnyway, failures, dueAt)}`, history: { failures, orderedAnywayAt: last }, orderAnywayAt: dueAt };
}

function failureSummary(dns: DnsRouteOutcome, lbs: readonly RouteOutcome[], lbWorks: boolean): string {
  if (lbWorks) {
    return `the route through marathon-lb works, but the CA's route does not: ${dnsReason(dns)}`;
  }
  const lbPart = lbs.map((lb) => `${lb.via}: ${lb.reason ?? 'failed'}`).join('; ');
  return `no route reaches this daemon: ${dnsReason(dns)}${lbPart === '' ? '' : `; ${lbPart}`}`;
}

function dnsReason(dns: DnsRouteOutcome): string {
  return `${dns.via}: ${dns.reason ?? 'failed'}`;
}

function nextStep(mode: DecisionInput['mode'], primary: boolean, failures: number, dueAt: number | undefined): string {
  if (!primary) return 'the name is left out of the certificate until its preflight passes';
  if (mode === 'strict') return 'strict preflight: no order until the preflight passes';
  if (dueAt !== undefined) return `advisory preflight: the next order sent anyway is due at ${new Date(dueAt).toISOString()}`;
  return `advisory preflight: from ${FAILURES_BEFORE_ORDERING_ANYWAY} failed preflights in a row on, one real order a day is sent anyway (${failures} so far)`;
}
