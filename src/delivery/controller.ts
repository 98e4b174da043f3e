/**
 * Delivery of certificates to every marathon-lb, end to end: signal after each change (LbSignaller),
 * then check that each LB serves the stored certificate (the delivery check), after each signal and
 * every `checkIntervalMs`, sending the signal again where it does not. With `checkPort` 0 the check
 * is off and HAProxy's pids confirm the reloads instead.
 */
import type { Dispatcher } from 'undici';
import type { Logger } from '../log.js';
import type { MarathonLbApi } from '../lb/lb-api.js';
import { LbSignaller, type LbHandle, type SignalTiming } from '../lb/marathon-lb.js';
import type { RuntimeLink, RuntimeResult } from '../lb/runtime/runtime-link.js';
import type { BackoffPolicy } from '../util/backoff.js';
import { isAborted, type Clock } from '../util/clock.js';
import { parseEndpoint, type Endpoint } from '../util/endpoint.js';
import { DeliveryChecker, type CheckerLimits, type Probe, type TlsTarget } from './checker.js';
import { DeliveryEvidence } from './delivery-evidence.js';
import { DeliveryFileWriter, type DeliveryStore } from './delivery-file.js';
import { summariseLb, type LbSummary } from './lb-summary.js';
import { probeServedLeaf } from './probe.js';
import { DeliveryTracker, type TrackerTiming } from './tracker.js';
import type { DeliveryRecord } from './types.js';
import { deliveryVerdict, type StoredLeaf } from './verdict.js';

export type DeliveryTiming = SignalTiming & Omit<TrackerTiming, 'graceMs'> & CheckerLimits & { fileWriteIntervalMs: number };

export interface DeliveryControllerOptions {
  lbUrls: readonly string[];
  /** The LBs' TLS port; 0 turns the delivery check off. */
  checkPort: number;
  checkIntervalMs: number;
  dispatcher: Dispatcher;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /** The stored leaf per managed name (the certificate every LB should present for it). */
  expected: () => ReadonlyMap<string, StoredLeaf>;
  /** default.pem's leaf, so that "the LB serves its fallback" can be told from "something else". */
  defaultFingerprint: () => string | undefined;
  onSignalResult?: (lb: string, ok: boolean, error?: string) => void;
  /** After each check (a round or a look after a signal): metrics, notifications, status. */
  onRecords?: (records: readonly DeliveryRecord[]) => void;
  /** Where delivery.json is written (the CertStore); nothing is persisted without it. */
  store?: DeliveryStore;
  timing?: Partial<DeliveryTiming>;
  /** Per request to marathon-lb's API. */
  signalTimeoutMs?: number;
  /** Pauses after failed signal requests. */
  signalBackoff?: BackoffPolicy;
  /** Replaces the TLS probe (tests). */
  probe?: Probe;
  /** Where an LB's TLS listener is; by default its --lb URL's host at `checkPort`. */
  tlsTarget?: (lb: LbHandle) => TlsTarget;
  /** Replaces the HTTP client of each LB (tests). */
  api?: (endpoint: Endpoint) => MarathonLbApi;
  /** HAProxy runtime APIs, by the --lb display URL: those LBs get certificates without a reload. */
  runtime?: ReadonlyMap<string, RuntimeLink>;
  /** After each runtime API delivery to an LB (metrics). */
  onRuntimeResult?: (lb: string, result: RuntimeResult) => void;
}

/** How many delivery failures (or recoveries) one look logs one by one per LB; the rest are counted. */
const LOGGED_TRANSITIONS = 20;

export class DeliveryController {
  private readonly signaller: LbSignaller;
  private readonly tracker: DeliveryTracker;
  private readonly checker: DeliveryChecker;
  private readonly targets = new Map<string, TlsTarget>();
  private readonly writer: DeliveryFileWriter | undefined;
  private readonly stopping = new AbortController();
  private readonly checkOn: boolean;
  private periodic: Promise<void> | undefined;
  private readonly runtimePushes = new Set<Promise<void>>();
  private round: Promise<void> | undefined;
  private nextRoundAt: number | undefined;

  constructor(private readonly options: DeliveryControllerOptions) {
    const { clock, logger } = options;
    this.checkOn = options.checkPort > 0;
    const timing = options.timing ?? {};
    // The evidence the signaller is built with records into the tracker, so the tracker comes first.
    this.tracker = new DeliveryTracker([...new Set(options.lbUrls.map((url) => parseEndpoint(url).display))], timing);
    this.signaller = new LbSignaller({
      urls: options.lbUrls,
      dispatcher: options.dispatcher,
      clock,
      logger,
      backoff: options.signalBackoff ?? { baseMs: 1_000, capMs: 5 * 60_000 },
      timeoutMs: options.signalTimeoutMs ?? 5_000,
      random: options.random,
      onResult: options.onSignalResult,
      api: options.api,
      timing,
      evidence: this.checkOn
        ? (lb, pids) => {
            this.targets.set(lb.display, options.tlsTarget?.(lb) ?? { host: hostOf(lb.endpoint), port: options.checkPort });
            return new DeliveryEvidence({ lb: lb.display, pids, tracker: this.tracker, looks: this, clock });
          }
        : undefined,
    });
    this.checker = new DeliveryChecker(options.probe ?? probeServedLeaf, clock, timing);
    this.writer =
      options.store === undefined
        ? undefined
        : new DeliveryFileWriter({ store: options.store, checkPort: options.checkPort, clock, logger, ...(timing.fileWriteIntervalMs === undefined ? {} : { minIntervalMs: timing.fileWriteIntervalMs }) });
  }

  /** Certificates were written or retired: every LB is signalled soon, then checked for them. */
  changed(names: readonly string[], reason: string): void {
    if (this.stopping.signal.aborted) return;
    if (this.checkOn) {
      const expected = this.options.expected();
      // Published with the first look after the signal, not now: a burst of changes would otherwise
      // hand every subscriber the whole record set once per certificate.
      for (const name of names) this.tracker.changed(name, expected.get(name));
    }
    for (const lb of this.signaller.lbs) this.deliver(lb, names, reason);
  }

  /**
   * Over the LB's runtime API when it has one (no reload), else by the reload signal; names the
   * runtime API could not load get the reload signal too. The file is on disk first either way.
   */
  private deliver(lb: string, names: readonly string[], reason: string): void {
    const link = this.options.runtime?.get(lb);
    if (link === undefined) {
      this.signaller.signal(lb, names, reason);
      return;
    }
    const push = this.viaRuntime(lb, link, names, reason).finally(() => this.runtimePushes.delete(push));
    this.runtimePushes.add(push);
  }

  private async viaRuntime(lb: string, link: RuntimeLink, names: readonly string[], reason: string): Promise<void> {
    const { logger, clock } = this.options;
    const result = await link.push(names);
    if (this.stopping.signal.aborted) return;
    this.options.onRuntimeResult?.(lb, result);
    const loaded = result.done.filter((d) => d.change === 'added' || d.change === 'replaced').map((d) => d.name);
    const removed = result.done.filter((d) => d.change === 'removed').map((d) => d.name);
    if (loaded.length + removed.length > 0) {
      logger.info({ lb, reason, loaded: loaded.length, removed: removed.length, names: [...loaded, ...removed].slice(0, 10) }, 'certificates changed in HAProxy over its runtime API, without a reload');
    }
    if (result.failed.length > 0) {
      const failed = result.failed.map((f) => f.name);
      logger.warn({ lb, names: failed.slice(0, 10), count: failed.length, err: result.failed[0]?.error }, "HAProxy's runtime API could not load these certificates; signalling marathon-lb to reload instead");
      this.signaller.signal(lb, failed, `${reason} (the runtime API failed)`);
    }
    if (this.checkOn && loaded.length > 0) {
      // The delivery check confirms what the commit claims, as after a reload.
      this.tracker.signalled(lb, loaded, clock.now());
      await this.look(lb, loaded, this.stopping.signal);
    }
  }

  /**
   * Starts the periodic check, its first round at once (call it once the stored certificates are
   * known). Without the check, or with an interval of 0, only the checks after signals run.
   */
  start(): void {
    if (!this.checkOn || this.options.checkIntervalMs <= 0 || this.periodic !== undefined || this.stopping.signal.aborted) return;
    this.periodic = this.checkPeriodically();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.signaller.stop();
    await Promise.allSettled([this.periodic, this.round, this.signaller.settled(), ...this.runtimePushes]);
    await this.writer?.flush();
  }

  records(): DeliveryRecord[] {
    if (!this.checkOn) return [];
    this.tracker.reconcile(this.options.expected());
    return this.tracker.records();
  }

  lbSummaries(): LbSummary[] {
    const records = this.records();
    return this.signaller.lbs.map((lb) => summariseLb(lb, records, this.signaller.state(lb), this.checkOn));
  }

  /** LBs still owed a signal or whose reload has not shown (the daemon's health details). */
  get pendingSignals(): string[] {
    return this.signaller.pending;
  }

  /** Resolves once no signal is owed and no check is in flight (tests). */
  async settled(): Promise<void> {
    for (;;) {
      const round = this.round;
      const pushes = [...this.runtimePushes];
      await Promise.all([this.signaller.settled(), round, ...pushes]);
      if (this.round === round && this.signaller.pending.length === 0 && this.runtimePushes.size === 0) return;
    }
  }

  /** One check of every stored name on every LB; each LB that does not serve them all is signalled again. */
  async checkNow(reason: string): Promise<void> {
    if (!this.checkOn) return;
    this.round ??= this.runRound(reason).finally(() => {
      this.round = undefined;
    });
    await this.round;
  }

  /** DeliveryLooks: probe `names` on `lb`, record and log what changed, publish the records. */
  async look(lb: string, names: readonly string[], signal: AbortSignal): Promise<void> {
    const target = this.targets.get(lb);
    if (target === undefined) return;
    const expected = this.options.expected();
    const wanted = names.filter((name) => expected.has(name));
    const { results, skipped } = await this.checker.check(lb, target, wanted, signal);
    const defaultFingerprint = this.options.defaultFingerprint();
    const failed: Array<{ name: string; status: string; detail: string | undefined }> = [];
    const recovered: string[] = [];
    for (const { name, result } of results) {
      const stored = expected.get(name);
      if (stored === undefined) continue;
      const verdict = deliveryVerdict(stored, result, defaultFingerprint);
      const transition = this.tracker.observe(lb, name, verdict, this.options.clock.now());
      if (transition === 'failed') failed.push({ name, status: verdict.status, detail: verdict.detail });
      else if (transition === 'recovered') recovered.push(name);
    }
    this.logTransitions(lb, failed, recovered);
    if (skipped.length > 0 && !signal.aborted) {
      this.options.logger.warn({ lb, skipped: skipped.length, checked: results.length }, 'the delivery check ran out of time for this LB; the names not checked keep their last state until the next check');
    }
    this.publish();
  }

  private async checkPeriodically(): Promise<void> {
    const { clock, checkIntervalMs } = this.options;
    const signal = this.stopping.signal;
    while (!isAborted(signal)) {
      const next = clock.now() + checkIntervalMs;
      this.nextRoundAt = next;
      await this.checkNow('periodic delivery check');
      const wait = next - clock.now();
      if (wait > 0) await clock.sleep(wait, signal);
    }
  }

  private async runRound(reason: string): Promise<void> {
    const signal = this.stopping.signal;
    const expected = this.options.expected();
    this.tracker.reconcile(expected);
    const names = [...expected.keys()];
    const started = this.options.clock.now();
    await Promise.all(
      this.signaller.lbs.map(async (lb) => {
        await this.look(lb, names, signal);
        if (isAborted(signal)) return;
        const wrong = this.tracker.toResignal(lb, this.options.clock.now());
        if (wrong.length > 0) this.deliver(lb, wrong, `delivery check: ${wrong.length} certificate(s) not served`);
      }),
    );
    if (isAborted(signal)) return;
    const records = this.tracker.records();
    const count = (status: string): number => records.filter((r) => r.status === status).length;
    this.options.logger.info(
      {
        reason,
        lbs: this.signaller.lbs.length,
        names: names.length,
        served: count('served'),
        stale: count('stale'),
        other: count('other'),
        unreachable: count('unreachable'),
        failing: records.filter((r) => r.failing).length,
        durationMs: this.options.clock.now() - started,
      },
      'delivery check completed',
    );
  }

  private logTransitions(lb: string, failed: ReadonlyArray<{ name: string; status: string; detail: string | undefined }>, recovered: readonly string[]): void {
    const { logger, clock } = this.options;
    const graceSeconds = Math.round(this.tracker.graceMs / 1000);
    const nextInSeconds = this.nextRoundAt === undefined ? undefined : Math.max(0, Math.round((this.nextRoundAt - clock.now()) / 1000));
    for (const f of failed.slice(0, LOGGED_TRANSITIONS)) {
      logger.error(
        { lb, domain: f.name, status: f.status, detail: f.detail, graceSeconds, nextCheckInSeconds: nextInSeconds },
        `delivery failure: the LB still serves ${f.status === 'stale' ? 'an older certificate' : 'another certificate'} for the name after the grace; every delivery check signals it again until it is served`,
      );
    }
    if (failed.length > LOGGED_TRANSITIONS) {
      logger.error({ lb, more: failed.length - LOGGED_TRANSITIONS, total: failed.length }, 'delivery failures for more names on this LB (not listed one by one)');
    }
    for (const name of recovered.slice(0, LOGGED_TRANSITIONS)) {
      logger.info({ lb, domain: name }, 'delivery recovered: the LB serves the stored certificate again');
    }
    if (recovered.length > LOGGED_TRANSITIONS) {
      logger.info({ lb, more: recovered.length - LOGGED_TRANSITIONS, total: recovered.length }, 'deliveries recovered for more names on this LB (not listed one by one)');
    }
  }

  private publish(): void {
    if (this.options.onRecords === undefined && this.writer === undefined) return;
    const records = this.tracker.records();
    this.options.onRecords?.(records);
    this.writer?.update(records);
  }
}

/** The --lb URL's host, without the brackets of an IPv6 literal (node:tls wants the bare address). */
function hostOf(endpoint: Endpoint): string {
  return new URL(endpoint.base).hostname.replace(/^\[(.*)\]$/, '$1');
}
