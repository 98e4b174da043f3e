/**
 * The daemon's Prometheus metrics: one registry of its own (never prom-client's global one, so two
 * daemons in one process, as in the tests, do not share or clash) and small typed methods for the parts
 * that report. This module only holds and renders numbers; the parts call it through hooks wired in
 * daemon.ts, so the decisions stay free of it.
 *
 * Label cardinality is bounded by construction, because every label value comes from a closed set or
 * from something the operator configures:
 * - `domain`, `app_id`: one series per certificate in certs/, made at scrape time from the last list
 *   handed over (see scrape-time-gauge.ts), so a retired certificate (or one that changed app) leaves
 *   no series behind; the same for the delivery check's (lb, domain) pairs; the names that are
 *   failing (wanted names, with or without a certificate) are replaced wholesale on every update;
 * - `app_id` of the label problems: only the apps that have any at the last sync, replaced wholesale
 *   too. One series per app rather than per (app, label, reason): what an alert or a dashboard needs
 *   is "which apps need fixing"; the label and the reason are in the warning logged when the problem
 *   appeared, and in `marathon-acme plan`;
 * - `kind`, `outcome`, `state`, `status`, `limit`: fixed sets below;
 * - `registered_domain`: the registered domains with a certificate inside the rate budget's window,
 *   so at most one per certificate;
 * - `problem`: the registered ACME problem types plus a few of our own, anything else is `other`
 *   (see `problemLabel`): the CA writes the type, and a CA must not be able to grow our series;
 * - `endpoint`: the ACME resource kinds in `AcmeEndpoint`, never a URL (URLs carry order and
 *   authorization ids, one new series per order);
 * - `lb`: the configured marathon-lb URLs, credentials masked.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AcmeEndpoint } from '../acme/protocol/endpoints.js';
import type { BudgetUsage } from '../acme/rate-budget.js';
import type { DeliveryRecord } from '../delivery/types.js';
import type { StreamState } from '../marathon/events.js';
import { ScrapeTimeGauge } from './scrape-time-gauge.js';
import { registerCertificateGauges, type CertificateMetric } from './certificate-gauges.js';

export type { CertificateMetric } from './certificate-gauges.js';
import { LeadershipMetrics } from './leadership-metrics.js';
import type { ZkState } from '../zk/session.js';
import type { Role } from '../ha/election.js';

export type AttemptKind = 'issue' | 'renew';
export type Outcome = 'success' | 'failure';

/** A wanted name whose last order failed: `issue` when it has no certificate yet, `renew` when it has. */
export interface FailureMetric {
  domain: string;
  kind: AttemptKind;
  /** Failed attempts in a row. */
  failures: number;
}

export interface StoredCounts {
  managed: number;
  retired: number;
  unmanaged: number;
}

/**
 * IANA's "ACME Error Types" registry (RFC 8555 §6.7, RFC 9773's alreadyReplaced) and the profiles
 * draft's invalidProfile, without the `urn:ietf:params:acme:error:` prefix (protocol/problem.ts strips it).
 */
const ACME_PROBLEM_TYPES: ReadonlySet<string> = new Set([
  'accountDoesNotExist', 'alreadyReplaced', 'alreadyRevoked', 'badCSR', 'badNonce', 'badPublicKey',
  'badRevocationReason', 'badSignatureAlgorithm', 'caa', 'compound', 'connection', 'dns',
  'externalAccountRequired', 'incorrectResponse', 'invalidContact', 'invalidProfile', 'malformed',
  'orderNotReady', 'rateLimited', 'rejectedIdentifier', 'serverInternal', 'tls', 'unauthorized',
  'unsupportedContact', 'unsupportedIdentifier', 'userActionRequired',
]);

/**
 * Our own reasons for a failed attempt, which are not ACME problem types: the CA could not be reached
 * (`network`) or did not answer in time (`timeout`), and an order not sent because of the client-side
 * rate budget (`budget`). ACME's own `connection` means the CA could not reach *us* during validation,
 * hence `network` for the other direction.
 */
const OWN_PROBLEM_TYPES: ReadonlySet<string> = new Set(['network', 'timeout', 'budget']);

/**
 * The `problem` label of an attempt. Preflight failures (`preflight:<kind>`) become `preflight`: the
 * kind is in the logs and in state.json, and the label stays one value however the kinds evolve.
 */
export function problemLabel(outcome: Outcome, type: string | undefined): string {
  if (outcome === 'success') return 'none';
  if (type === undefined) return 'unknown';
  if (ACME_PROBLEM_TYPES.has(type) || OWN_PROBLEM_TYPES.has(type)) return type;
  if (type.startsWith('preflight:')) return 'preflight';
  return 'other';
}

/** Every stream state, so that the per-state gauge shows 0 for the others instead of no series. */
const STREAM_STATES = Object.keys({ connecting: 0, attached: 0, disconnected: 0 } satisfies Record<StreamState, 0>);

/**
 * From a fast CA on the same network (tens of ms) to --acme-timeout's default (30 s); a request that
 * times out lands in +Inf.
 */
const ACME_REQUEST_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly registry = new Registry();
  private readonly attempts: Counter<'kind' | 'outcome' | 'problem'>;
  private readonly acmeRequests: Histogram<'endpoint'>;
  private readonly streamState: Gauge<'state'>;
  private readonly lastEvent: Gauge;
  private readonly lastSync: Gauge;
  private readonly leadership: LeadershipMetrics;
  private readonly lbSignals: Counter<'lb' | 'outcome'>;
  private readonly lbRuntimeChanges: Counter<'lb' | 'outcome'>;
  private readonly certificates: Gauge<'state'>;
  private readonly failures: Gauge<'domain' | 'kind'>;
  private readonly notifications: Counter<'outcome'>;
  private readonly labelProblems: Gauge<'app_id'>;
  private readonly labelWarnings: Counter;
  private readCas: (() => readonly CaMetric[]) | undefined;
  private certificateList: readonly CertificateMetric[] = [];
  private deliveryRecords: readonly DeliveryRecord[] = [];

  /** `defaultMetrics: false` leaves out the process metrics (unit tests create many instances). */
  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    registerCertificateGauges(this.registry, () => this.certificateList);
    this.attempts = new Counter({
      name: 'marathon_acme_certificate_attempts_total',
      help: 'Certificate orders attempted, by kind (issue, renew), outcome and the ACME problem type of a failure.',
      labelNames: ['kind', 'outcome', 'problem'],
      registers,
    });
    this.acmeRequests = new Histogram({
      name: 'marathon_acme_acme_request_duration_seconds',
      help: 'Duration of HTTP requests to the ACME CA, by ACME resource.',
      labelNames: ['endpoint'],
      buckets: ACME_REQUEST_BUCKETS,
      registers,
    });
    this.streamState = new Gauge({
      name: 'marathon_acme_marathon_event_stream_state',
      help: '1 for the current state of the Marathon event stream (connecting, attached, disconnected), 0 for the others.',
      labelNames: ['state'],
      registers,
    });
    this.lastEvent = new Gauge({
      name: 'marathon_acme_marathon_last_event_timestamp_seconds',
      help: 'When the last event arrived on the Marathon event stream, as a Unix time; 0 before the first.',
      registers,
    });
    this.lastSync = new Gauge({
      name: 'marathon_acme_marathon_last_sync_success_timestamp_seconds',
      help: 'When the app list was last read from Marathon successfully, as a Unix time; 0 before the first.',
      registers,
    });
    this.leadership = new LeadershipMetrics(this.registry);
    this.lbSignals = new Counter({
      name: 'marathon_acme_lb_signals_total',
      help: 'Reload signals (USR1) sent to marathon-lb, by load balancer and outcome.',
      labelNames: ['lb', 'outcome'],
      registers,
    });
    this.lbRuntimeChanges = new Counter({
      name: 'marathon_acme_lb_runtime_updates_total',
      help: "Certificates added, replaced or removed in a marathon-lb's HAProxy over its runtime API (--lb-runtime), by load balancer and outcome; a failure falls back to the reload signal.",
      labelNames: ['lb', 'outcome'],
      registers,
    });
    this.certificates = new Gauge({
      name: 'marathon_acme_certificates',
      help: 'Certificate files in the storage directory: managed (certs/), retired (retired-certs/), unmanaged (unmanaged-certs/).',
      labelNames: ['state'],
      registers,
    });
    this.failures = new Gauge({
      name: 'marathon_acme_certificate_consecutive_failures',
      help: 'Failed orders in a row for each wanted name whose last order failed, by kind (issue: no certificate yet, renew: one is stored); no series once an order succeeds.',
      labelNames: ['domain', 'kind'],
      registers,
    });
    new ScrapeTimeGauge(
      {
        name: 'marathon_acme_delivery_status',
        help: 'What each marathon-lb serves for each managed name: one series per (lb, domain) with value 1, its status (served, stale, other, unreachable, unchecked) in the label.',
        labelNames: ['lb', 'domain', 'status'],
        registers,
      },
      (add) => {
        for (const r of this.deliveryRecords) add({ lb: r.lb, domain: r.name, status: r.status }, 1);
      },
    );
    new ScrapeTimeGauge(
      {
        name: 'marathon_acme_delivery_failing',
        help: '1 when a marathon-lb has not served the stored certificate for a name for longer than the grace after the last signal (a delivery failure), else 0.',
        labelNames: ['lb', 'domain'],
        registers,
      },
      (add) => {
        for (const r of this.deliveryRecords) add({ lb: r.lb, domain: r.name }, r.failing ? 1 : 0);
      },
    );
    new ScrapeTimeGauge(
      {
        name: 'marathon_acme_delivery_last_served_timestamp_seconds',
        help: 'When a marathon-lb was last seen serving the stored certificate for a name, as a Unix time; no series before the first time.',
        labelNames: ['lb', 'domain'],
        registers,
      },
      (add) => {
        for (const r of this.deliveryRecords) if (r.lastServedAt !== undefined) add({ lb: r.lb, domain: r.name }, r.lastServedAt / 1000);
      },
    );
    this.notifications = new Counter({
      name: 'marathon_acme_notifications_total',
      help: 'Notifications sent to the --notify-url receivers, by outcome.',
      labelNames: ['outcome'],
      registers,
    });
    this.labelProblems = new Gauge({
      name: 'marathon_acme_invalid_labels',
      help: 'Problems found in the marathon-acme labels of each app at the last sync (an invalid name, a label for a port the app lacks, ...); an app without any has no series.',
      labelNames: ['app_id'],
      registers,
    });
    this.labelWarnings = new Counter({
      name: 'marathon_acme_invalid_label_warnings_total',
      help: 'Warnings logged about app labels: one for each problem when it appears or changes, not at every sync.',
      registers,
    });
    // The budget changes with time alone (spent slots leave their window), so it is read at each
    // scrape; the registry holds these gauges, nothing else sets them.
    const read = (): readonly CaMetric[] => this.readCas?.() ?? [];
    new Gauge({
      name: 'marathon_acme_rate_budget_used',
      help: 'What is spent of each client-side rate budget of each CA in its window: new_orders (per account), certificates_per_domain (the fullest registered domain); orders to that CA wait once it reaches the limit.',
      labelNames: ['ca', 'limit'],
      registers,
      collect() {
        this.reset();
        for (const ca of read()) if (ca.budget !== undefined) setBudget(this, ca.ca, ca.budget, 'used');
      },
    });
    new Gauge({
      name: 'marathon_acme_rate_budget_limit',
      help: 'The size of each client-side rate budget of each CA (see marathon_acme_rate_budget_used).',
      labelNames: ['ca', 'limit'],
      registers,
      collect() {
        this.reset();
        for (const ca of read()) if (ca.budget !== undefined) setBudget(this, ca.ca, ca.budget, 'limit');
      },
    });
    new Gauge({
      name: 'marathon_acme_rate_budget_domain_certificates',
      help: 'New certificates issued per registered domain inside the certificates_per_domain window of each CA, for the domains that have any.',
      labelNames: ['ca', 'registered_domain'],
      registers,
      collect() {
        this.reset();
        for (const ca of read()) for (const d of ca.budget?.certificatesPerDomain.byDomain ?? []) this.set({ ca: ca.ca, registered_domain: d.domain }, d.used);
      },
    });
    new Gauge({
      name: 'marathon_acme_ca_available',
      help: 'Whether each configured CA answers (1), or has failed as unavailable, with no answer or a 5xx, since marathon_acme_ca_unavailable_since_timestamp_seconds (0); `primary` marks the first in the configured order.',
      labelNames: ['ca', 'primary'],
      registers,
      collect() {
        this.reset();
        read().forEach((ca, i) => {
          this.set({ ca: ca.ca, primary: i === 0 ? 'true' : 'false' }, ca.unavailableSince === undefined ? 1 : 0);
        });
      },
    });
    new Gauge({
      name: 'marathon_acme_ca_unavailable_since_timestamp_seconds',
      help: 'Since when each unavailable CA has failed (Unix time); orders go to the next CA once this is --fallback-after ago. No series while the CA answers.',
      labelNames: ['ca'],
      registers,
      collect() {
        this.reset();
        for (const ca of read()) if (ca.unavailableSince !== undefined) this.set({ ca: ca.ca }, ca.unavailableSince / 1000);
      },
    });
    // Series that alerts use with increase() exist from the start, so the first change counts.
    for (const kind of ['issue', 'renew'] as const) this.attempts.labels(kind, 'success', 'none').inc(0);
    for (const outcome of ['success', 'failure'] as const) this.notifications.labels(outcome).inc(0);
    this.setStreamState('disconnected');
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Replaces the per-certificate series with these: certificates not in the list lose theirs. */
  setCertificates(list: readonly CertificateMetric[]): void {
    this.certificateList = list;
  }

  setStoredCounts(counts: StoredCounts): void {
    this.certificates.set({ state: 'managed' }, counts.managed);
    this.certificates.set({ state: 'retired' }, counts.retired);
    this.certificates.set({ state: 'unmanaged' }, counts.unmanaged);
  }

  /** `problemType`: the ACME problem type (or one of ours) of a failure; ignored on success. */
  certificateAttempt(kind: AttemptKind, outcome: Outcome, problemType: string | undefined): void {
    this.attempts.labels(kind, outcome, problemLabel(outcome, problemType)).inc();
  }

  observeAcmeRequest(endpoint: AcmeEndpoint, seconds: number): void {
    this.acmeRequests.labels(endpoint).observe(seconds);
  }

  setStreamState(state: StreamState): void {
    for (const s of STREAM_STATES) this.streamState.labels(s).set(s === state ? 1 : 0);
  }

  /** `at`: epoch ms. */
  marathonEvent(at: number): void {
    this.lastEvent.set(at / 1000);
  }

  /** `at`: epoch ms of the change. */
  setRole(role: Role, at: number): void {
    this.leadership.setRole(role, at);
  }

  setZkState(state: ZkState): void {
    this.leadership.setZkState(state);
  }

  syncSucceeded(at: number): void {
    this.lastSync.set(at / 1000);
  }

  /** `lb`: the load balancer's display URL (credentials masked), never the URL as configured. */
  lbSignal(lb: string, outcome: Outcome): void {
    this.lbSignals.labels(lb, outcome).inc();
  }

  /** An LB with a runtime API: its series exist from the start, so that increase() sees the first failure. */
  lbRuntimeConfigured(lb: string): void {
    for (const outcome of ['success', 'failure'] as const) this.lbRuntimeChanges.labels(lb, outcome).inc(0);
  }

  /** Counts one runtime API delivery's certificates; `lb` is the display URL, as for signals. */
  lbRuntimeUpdates(lb: string, succeeded: number, failed: number): void {
    if (succeeded > 0) this.lbRuntimeChanges.labels(lb, 'success').inc(succeeded);
    if (failed > 0) this.lbRuntimeChanges.labels(lb, 'failure').inc(failed);
  }

  /** Replaces the failure series with these: a name not in the list (it succeeded, or is no longer wanted) loses its series. */
  setFailures(list: readonly FailureMetric[]): void {
    this.failures.reset();
    for (const f of list) this.failures.set({ domain: f.domain, kind: f.kind }, f.failures);
  }

  /**
   * Replaces the delivery series with these records, so a name or LB no longer checked loses its
   * series. The status is one series per pair rather than one per status with 0 for the others (the
   * StateSet shape of marathon_acme_marathon_event_stream_state): with thousands of names on several
   * LBs, five series per pair would make the scrape five times larger for no query that needs them.
   */
  setDelivery(records: readonly DeliveryRecord[]): void {
    this.deliveryRecords = records;
  }

  /** `read` is called at every scrape (see budgetUsage in acme/rate-budget.ts); it must be cheap and not throw. */
  setCaSource(read: () => readonly CaMetric[]): void {
    this.readCas = read;
  }

  /**
   * A leader's term ended: its certificates, failures, deliveries, rate budget and Marathon state are
   * the next leader's to report, and a follower showing the old ones would alert beside it.
   */
  leaderStopped(): void {
    this.certificateList = [];
    this.failures.reset();
    this.deliveryRecords = [];
    this.readCas = undefined;
    this.setStreamState('disconnected');
  }

  notification(outcome: Outcome): void {
    this.notifications.labels(outcome).inc();
  }

  /** Replaces the label problem series: an app that is fixed or gone loses its series. */
  setLabelProblems(perApp: ReadonlyMap<string, number>): void {
    this.labelProblems.reset();
    for (const [appId, count] of perApp) this.labelProblems.set({ app_id: appId }, count);
  }

  labelWarningsLogged(count: number): void {
    this.labelWarnings.inc(count);
  }
}

function setBudget(gauge: Gauge<'ca' | 'limit'>, ca: string, usage: BudgetUsage, field: 'used' | 'limit'): void {
  gauge.set({ ca, limit: 'new_orders' }, usage.newOrders[field]);
  gauge.set({ ca, limit: 'certificates_per_domain' }, usage.certificatesPerDomain[field]);
}

/** One configured CA at a scrape, primary first. */
export interface CaMetric {
  /** The directory URL. */
  ca: string;
  /** What is spent of its client-side rate budget; undefined when it has none. */
  budget: BudgetUsage | undefined;
  /** Epoch ms since which it has failed as unavailable; undefined while it answers. */
  unavailableSince: number | undefined;
}
