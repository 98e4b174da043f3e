import type { CertificateAuthority } from '../acme/issuer.js';
import { formatBundle, parseBundle } from '../certs/bundle.js';
import { summarizeBundle } from '../certs/summary.js';
import {
  planIssuance,
  planRenewals,
  renewalNames,
  sameNameSet,
  type CertSummary,
  type FailureRecord,
} from '../certs/plan.js';
import { sameFile, type CertStore, type FileIdentity } from '../certs/store.js';
import type { Logger } from '../log.js';
import type { WantedName } from '../marathon/apps.js';
import type { StateFile } from '../state/state-file.js';
import type { DaemonState } from '../state/state.js';
import { RenewalScheduler } from './renewal-scheduler.js';
import type { BatchResult, FailingName, ManagedCertificate, OrderAttempt, OrderJob } from './manager-types.js';
import type { Clock } from '../util/clock.js';
import { Limiter } from '../util/limiter.js';
import { AriSources } from './ari-sources.js';
import { issuerOf, renewalJob } from './renewal-jobs.js';
import { LETS_ENCRYPT_LIMITS, type BudgetLimits } from '../acme/rate-budget.js';
import { CaRouter, type CaEntry } from '../ca/ca-router.js';
import type { PreflightSettings } from '../preflight/gate.js';
import { orderFailure } from './order-failure.js';
import { retireReplaced, retireUnwanted, type RetirementContext } from './retirement.js';
import { OrderFenced, type OrderFence } from './order-fence.js';
import { PreflightStep, type PreflightPass } from './preflight-step.js';
import { attemptOutcome, caWaitRefusal, type ForcedRenewal } from './forced-renewal.js';

export interface CertificateManagerOptions {
  store: CertStore;
  /** The primary CA: orders go there unless it cannot take them (src/ca/fallback-policy.ts). */
  ca: CertificateAuthority;
  /** The CAs tried after the primary, in order, each with its own rate budget. */
  fallbacks?: readonly CaEntry[] | undefined;
  /** How long a CA may fail as unavailable before orders go to the next one. */
  fallbackAfterMs?: number | undefined;
  clock: Clock;
  logger: Logger;
  maxConcurrentOrders: number;
  /** Remembered across restarts: failures and when to try again. */
  state: DaemonState;
  stateFile: StateFile;
  /** Draws renewal times inside ARI windows. */
  random?: (() => number) | undefined;
  /** Reachability check before each order, and the settle before new names; undefined turns both off (--preflight off). */
  preflight?: PreflightSettings | undefined;
  /** The primary's client-side rate budget; `none` sends orders without one; Let's Encrypt's when not given. */
  budgetLimits?: BudgetLimits | 'none' | undefined;
  /** Told the outcome of every order attempt, sent or refused before sending (metrics). */
  onAttempt?: ((attempt: OrderAttempt) => void) | undefined;
  /**
   * Told as soon as each certificate file is written, so the load balancers can be signalled for it
   * at once instead of after the whole batch (the first of 50 new names must not wait for the last).
   */
  onWritten?: ((name: string, reason: 'new' | 'names changed' | 'renewal') => void) | undefined;
  /** Asked right before each order is sent, when several instances share the storage directory. */
  fence?: OrderFence | undefined;
}

const DAY = 86_400_000;

/**
 * Owns the set of managed certificates: what is stored, what failed recently, what is being ordered.
 * Orders go through one limiter (the CA's patience is shared) and one in-flight map (a name is never
 * ordered twice at once, even when a sync and a renewal check both want it).
 */
export class CertificateManager {
  private readonly index = new Map<string, CertSummary>();
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly limiter: Limiter;
  /** Bumped on every write, so a refresh that read the directory before a write cannot undo it. */
  private writeSeq = 0;
  private readonly writtenAt = new Map<string, number>();
  /** The file each summary in the index was read from, when refresh() read it and it had settled. */
  private readonly fileIdentities = new Map<string, FileIdentity>();
  /** The file (without `.pem`) serving a name in the index, where it is not named `<name>.pem` (see file-names.ts). */
  private readonly fileNames = new Map<string, string>();
  private readonly scheduler: RenewalScheduler;
  private readonly preflightStep: PreflightStep;
  /** Which CA each order goes to, and each CA's budget and health. */
  readonly router: CaRouter;

  constructor(private readonly options: CertificateManagerOptions) {
    this.preflightStep = new PreflightStep(options.preflight, options.state, options.clock);
    this.limiter = new Limiter(options.maxConcurrentOrders);
    const limits = options.budgetLimits ?? LETS_ENCRYPT_LIMITS;
    this.router = new CaRouter({
      entries: [{ ca: options.ca, limits: limits === 'none' ? undefined : limits }, ...(options.fallbacks ?? [])],
      state: options.state,
      clock: options.clock,
      logger: options.logger,
      fallbackAfterMs: options.fallbackAfterMs ?? 3_600_000,
    });
    this.scheduler = new RenewalScheduler({
      state: options.state,
      clock: options.clock,
      logger: options.logger,
      random: options.random ?? Math.random,
    });
  }

  get managed(): ReadonlyMap<string, CertSummary> {
    return this.index;
  }

  /**
   * Every certificate in certs/ with its app and renewal time. A renewal time decided for the
   * certificate a renewal has just replaced is left out: the next renewal check decides anew.
   */
  certificates(): ManagedCertificate[] {
    return [...this.index.values()].map((cert) => {
      const entry = this.options.state.certificates.get(cert.name);
      const renewal = entry?.renewal;
      return {
        name: cert.name,
        appId: entry?.owner?.appId,
        notBefore: cert.notBefore,
        notAfter: cert.notAfter,
        renewAt: renewal !== undefined && renewal.serial === (cert.serialHex ?? '') ? renewal.renewAt : undefined,
        ca: entry?.issuedBy !== undefined && entry.issuedBy.serial === cert.serialHex ? entry.issuedBy.directory : undefined,
      };
    });
  }

  /**
   * Re-reads certs/, parsing only the files that changed since the last refresh. Files that cannot be
   * used (truncated, key not matching, garbage) are moved out of HAProxy's directory, because one bad
   * file there makes HAProxy refuse its whole configuration; their names are then ordered afresh like
   * any missing certificate.
   */
  async refresh(): Promise<void> {
    const seqAtStart = this.writeSeq;
    // Parsing 5,000 bundles costs seconds of CPU, at start-up and at every renewal check. A file that
    // is still the one a summary was read from is not read again; the index check is there because
    // other methods drop summaries, and a retired file moved back in may keep its identity.
    const { certs, corrupt, unchanged, duplicates } = await this.options.store.list({
      unchanged: (name, identity) => this.index.has(name) && sameFile(this.fileIdentities.get(name), identity),
    });
    const kept = new Set(unchanged);
    for (const name of [...this.index.keys()]) {
      if ((this.writtenAt.get(name) ?? 0) <= seqAtStart && !kept.has(name)) this.index.delete(name);
    }
    for (const cert of certs) {
      if ((this.writtenAt.get(cert.name) ?? 0) > seqAtStart) continue;
      this.index.set(cert.name, summarizeBundle(cert.name, cert.bundle));
      if (cert.identity === undefined) this.fileIdentities.delete(cert.name);
      else this.fileIdentities.set(cert.name, cert.identity);
      if (cert.file === cert.name) this.fileNames.delete(cert.name);
      else this.fileNames.set(cert.name, cert.file);
    }
    for (const name of [...this.fileIdentities.keys()]) if (!this.index.has(name)) this.fileIdentities.delete(name);
    for (const name of [...this.fileNames.keys()]) if (!this.index.has(name)) this.fileNames.delete(name);
    for (const bad of corrupt) {
      // The listing may predate an order that has just replaced this file with a good one; leave it.
      if (this.inFlight.has(bad.name) || (this.writtenAt.get(bad.name) ?? 0) > seqAtStart) continue;
      // The store logs the move; the name is simply missing now, so the next sync orders it again.
      await this.options.store.moveAside(bad.file, bad.reason);
    }
    for (const extra of duplicates) {
      if (this.inFlight.has(extra.name) || (this.writtenAt.get(extra.name) ?? 0) > seqAtStart) continue;
      const movedTo = await this.options.store.retire(extra.name, extra.file);
      this.options.logger.warn(
        { domain: extra.name, file: `certs/${extra.file}.pem`, kept: `certs/${extra.kept}.pem`, movedTo },
        'two files in certs/ served the same name (their names differ only in letter case), so HAProxy could present either: kept the one that expires last, moved the other out of certs/',
      );
    }
  }

  /** Orders a certificate for every wanted name that has none (and is not waiting out a failure). */
  async issueMissing(wanted: readonly WantedName[]): Promise<BatchResult> {
    const now = this.options.clock.now();
    const failed = this.failed;
    // In san mode, a secondary name that failed its preflight is left out until its backoff is over,
    // so the stored certificate (issued without it) counts as complete meanwhile.
    const effective = wanted.map((w) =>
      w.sans === undefined ? w : { ...w, sans: w.sans.filter((n, i) => i === 0 || !((failed.get(n)?.nextAttemptAt ?? 0) > now)) },
    );
    const plan = planIssuance(effective, this.index, failed, now);
    for (const d of plan.deferred) {
      this.options.logger.debug(
        { domain: d.name, retryAt: new Date(d.until).toISOString(), lastError: d.lastError },
        'not ordering yet: waiting after an earlier failure',
      );
    }
    if (plan.issue.length === 0) {
      this.options.logger.debug('no new domains to issue certificates for');
      return { written: [], failed: [] };
    }
    this.options.logger.info({ count: plan.issue.length, domains: plan.issue.map((o) => o.wanted.name) }, 'issuing certificates for new domains');
    await this.preflightStep.settleBeforeNewNames(plan.issue, this.failed, this.options.logger);
    const result = await this.runBatch(
      plan.issue.map((o) => ({ names: o.names, reason: o.reason, appId: o.wanted.appId, owner: { appId: o.wanted.appId, portIndex: o.wanted.portIndex } })),
    );
    await retireReplaced(this.retirement(), wanted, result.written);
    await this.persistState();
    return result;
  }

  /** Renews every stored certificate with less than a third of its lifetime left. */
  async renewDue(): Promise<BatchResult> {
    const ari = new AriSources(this.options.logger);
    const schedule = new Map<string, number>();
    for (const cert of this.index.values()) schedule.set(cert.name, (await this.scheduler.schedule(cert, await ari.renewalInfo(issuerOf(this.options.state, this.router, cert)))).renewAt);
    await this.persistState();
    const now = this.options.clock.now();
    const plan = planRenewals([...this.index.values()], this.failed, now, schedule);
    for (const d of plan.deferred) {
      this.options.logger.warn(
        { domain: d.name, retryAt: new Date(d.until).toISOString(), lastError: d.lastError },
        'renewal postponed after an earlier failure',
      );
    }
    if (plan.renew.length > 0) {
      this.options.logger.info({ count: plan.renew.length, domains: plan.renew.map((c) => c.name) }, 'renewing certificates');
    }
    const jobs = [];
    for (const cert of plan.renew) jobs.push(await renewalJob(cert, issuerOf(this.options.state, this.router, cert), ari));
    return this.runBatch(jobs);
  }

  /**
   * Renews stored certificates now because an operator asked (`marathon-acme renew`; the rules are in
   * forced-renewal.ts): the names given, or every stored certificate, most urgent first. A name being
   * ordered already is not ordered again: that order answers for it.
   */
  async renewNow(names: readonly string[] | 'all'): Promise<ForcedRenewal[]> {
    const ari = new AriSources(this.options.logger);
    const now = this.options.clock.now();
    const list = names === 'all' ? [...this.index.values()].sort((a, b) => a.notAfter - b.notAfter).map((c) => c.name) : [...new Set(names)];
    if (list.length > 0) this.options.logger.info({ count: list.length, domains: list }, 'renewing certificates now, as asked');
    return Promise.all(
      list.map(async (name): Promise<ForcedRenewal> => {
        const cert = this.index.get(name);
        if (cert === undefined) return { name, outcome: 'not-managed' };
        const certificates = this.options.state.certificates;
        const refusal = caWaitRefusal(name, certificates.get(name)?.failure, now);
        if (refusal !== undefined) return refusal;
        const written = await this.obtain(await renewalJob(cert, issuerOf(this.options.state, this.router, cert), ari));
        return attemptOutcome(name, written, this.index.get(name)?.notAfter, certificates.get(name)?.failure);
      }),
    );
  }

  /**
   * Takes certificates no app has wanted for `graceMs` out of certs/ into retired-certs/ (they are no
   * longer renewed) and remembers when the others were last wanted. Call only with the result of a
   * successful read of Marathon. Returns the retired names.
   */
  async retireUnwanted(wanted: readonly WantedName[], graceMs: number): Promise<string[]> {
    const { retired, changed } = await retireUnwanted(this.retirement(), wanted, graceMs, this.options.clock.now());
    if (changed) await this.persistState();
    return retired;
  }

  private retirement(): RetirementContext {
    return {
      state: this.options.state,
      store: this.options.store,
      logger: this.options.logger,
      stored: this.index,
      fileNames: this.fileNames,
      busy: (name) => this.inFlight.has(name),
    };
  }

  /**
   * The earliest time a failed name is due again: `issueAt` for names without a certificate (a sync
   * orders them), `renewAt` for stored certificates (a renewal check renews them). Past times count:
   * the caller wakes at once.
   */
  nextRetries(): { issueAt: number | undefined; renewAt: number | undefined } {
    let issueAt: number | undefined;
    let renewAt: number | undefined;
    for (const [name, cert] of this.options.state.certificates) {
      const at = cert.failure?.nextAttemptAt;
      if (at === undefined || this.inFlight.has(name)) continue;
      if (this.index.has(name)) renewAt = Math.min(renewAt ?? at, at);
      else issueAt = Math.min(issueAt ?? at, at);
    }
    return { issueAt, renewAt };
  }

  /** Every name whose last order failed: new names (`issue`) and stored certificates (`renew`). */
  failing(): FailingName[] {
    const list: FailingName[] = [];
    for (const [name, cert] of this.options.state.certificates) {
      const f = cert.failure;
      if (f === undefined) continue;
      list.push({ name, kind: this.index.has(name) ? 'renew' : 'issue', failures: f.failures, problem: f.lastError, nextAttemptAt: f.nextAttemptAt, appId: cert.owner?.appId });
    }
    return list;
  }

  /** Names whose last attempt failed, with what went wrong and when to try again. */
  get failed(): ReadonlyMap<string, FailureRecord> {
    const failed = new Map<string, FailureRecord>();
    for (const [name, cert] of this.options.state.certificates) if (cert.failure !== undefined) failed.set(name, cert.failure);
    return failed;
  }

  /** Resolves when no order is in flight. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight.values()]);
  }

  private async runBatch(
    jobs: readonly OrderJob[],
  ): Promise<BatchResult> {
    const outcomes = await Promise.all(
      jobs.map(async (job) => ({ name: job.names[0] ?? '', ok: await this.obtain(job) })),
    );
    return {
      written: outcomes.filter((o) => o.ok).map((o) => o.name),
      failed: outcomes.filter((o) => !o.ok).map((o) => o.name),
    };
  }

  /** Resolves true when a new certificate was written. Never rejects: failures are logged and remembered. */
  private obtain(job: OrderJob): Promise<boolean> {
    const name = job.names[0] ?? '';
    const existing = this.inFlight.get(name);
    if (existing !== undefined) return existing;
    const run = this.limiter
      .run(() => this.obtainNow(job))
      .finally(() => this.inFlight.delete(name));
    this.inFlight.set(name, run);
    return run;
  }

  private async obtainNow(job: OrderJob): Promise<boolean> {
    const { names, reason, appId, notAfter, owner } = job;
    const { clock, logger, store } = this.options;
    const name = names[0] ?? '';
    const log = logger.child({ domain: name, ...(appId === undefined ? {} : { appId }) });
    let checked: PreflightPass | undefined;
    let release: (() => Promise<void>) | undefined;
    const previousFailure = this.options.state.certificates.get(name)?.failure;
    try {
      checked = await this.preflightStep.check(names, log);
      const orderNames = checked.names;
      // Let's Encrypt treats only an order for exactly the stored certificate's names as a renewal;
      // a renewal that dropped a name counts like any new certificate.
      const stored = this.index.get(name);
      const renewal = reason === 'renewal' && stored !== undefined && sameNameSet(orderNames, renewalNames(stored));
      // Before the rate budget, whose check and spending (in the router) must not be split by an await.
      if (this.options.fence !== undefined) release = await this.options.fence.admit(orderNames);
      const { issued, directory } = await this.router.order(
        { names: orderNames, reason, renewal, failure: previousFailure, validity: job.validity, replaces: job.replaces },
        log,
      );
      const text = formatBundle(issued.keyPem, issued.chainPem);
      const parsed = parseBundle(text);
      if (!parsed.ok) throw new Error(`the CA's answer does not make a usable bundle: ${parsed.reason}`);
      await store.write(name, text, this.fileNames.get(name));
      this.fileNames.delete(name);
      const leaf = parsed.bundle.leaf;
      this.index.set(name, summarizeBundle(name, parsed.bundle));
      this.writtenAt.set(name, ++this.writeSeq);
      const previous = this.options.state.certificates.get(name);
      const issuedBy = { directory, serial: leaf.serialHex };
      this.options.state.certificates.set(name, { ...previous, failure: undefined, issuedBy, ...(owner === undefined ? {} : { owner }) });
      this.forgetSecondaryFailures(orderNames.slice(1));
      await this.persistState();
      log.info({ notAfter: leaf.notAfter.toISOString(), file: `certs/${name}.pem` }, 'certificate stored');
      this.options.onWritten?.(name, reason);
      this.options.onAttempt?.({ kind: reason === 'renewal' ? 'renew' : 'issue', ok: true, problemType: undefined });
      return true;
    } catch (caught) {
      if (caught instanceof OrderFenced) {
        // Not the name's failure: whoever leads now orders it, so nothing is recorded against it.
        log.warn({ err: caught.message }, 'not ordering: this instance may not order now');
        return false;
      }
      const { record, problem, transport, message } = orderFailure(caught, { name, job, previous: previousFailure, checked, preflight: this.preflightStep, router: this.router, now: clock.now() });
      this.options.state.certificates.set(name, { ...this.options.state.certificates.get(name), failure: record });
      await this.persistState();
      // A CA that never answered leaves no problem type: the metrics name the failure instead.
      this.options.onAttempt?.({ kind: reason === 'renewal' ? 'renew' : 'issue', ok: false, problemType: transport ?? problem.type });
      const daysLeft = notAfter === undefined ? undefined : Math.floor((notAfter - clock.now()) / DAY);
      const elsewhere = record.directory !== undefined && this.router.all.length > 1 ? { ca: record.directory, failureKind: record.kind } : {};
      log.error(
        {
          err: message,
          problemType: problem.type,
          failures: record.failures,
          retryAt: new Date(record.nextAttemptAt).toISOString(),
          ...elsewhere,
          ...(daysLeft === undefined ? {} : { daysLeft }),
        },
        reason === 'renewal' ? 'renewing the certificate failed; will retry after a pause' : 'issuing the certificate failed; will retry after a pause',
      );
      return false;
    } finally {
      // Only once the outcome is stored: until then the order may still be in flight.
      await release?.().catch((err: unknown) => {
        log.debug({ err: err instanceof Error ? err.message : String(err) }, 'could not withdraw the order intent; it ages out');
      });
    }
  }

  /**
   * A secondary (san mode) name left out after a failed preflight and now in an issued certificate
   * is fine again: its failure record would otherwise linger as a failing name in status, metrics
   * and notifications. Names with a certificate of their own keep theirs.
   */
  private forgetSecondaryFailures(names: readonly string[]): void {
    const { certificates } = this.options.state;
    for (const n of names) {
      const entry = certificates.get(n);
      if (entry?.failure === undefined || this.index.has(n)) continue;
      const rest = { ...entry, failure: undefined };
      if (Object.values(rest).every((v) => v === undefined)) certificates.delete(n);
      else certificates.set(n, rest);
    }
  }

  /** A state file that cannot be written must not fail the order that has already succeeded. */
  private async persistState(): Promise<void> {
    try {
      await this.options.stateFile.save(this.options.state);
    } catch (err) {
      this.options.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'cannot write state.json; the next change tries again, and until then failure memory would be lost on a restart');
    }
  }
}
