/**
 * Everything only the leading instance does, for as long as it leads: open the storage directory,
 * register the account, follow Marathon, order, renew, retire, signal marathon-lb and check delivery.
 * A term starts when the instance gains the lead and is stopped when it loses it; a later lead starts
 * a new term that reads the storage directory afresh (another leader may have written it meanwhile).
 */
import type { Agent } from 'undici';
import { accountLookup } from '../acme/account-lookup.js';
import { createAcmeAgent } from '../acme/acme-agent.js';
import type { ChallengeResponder } from '../acme/challenges.js';
import type { AcmeEndpoint } from '../acme/protocol/endpoints.js';
import { AccountGate } from '../ca/account-gate.js';
import { configuredFallbacks, type FallbackCas } from '../ca/fallback-cas.js';
import { caMetrics } from '../metrics/ca-metrics.js';
import { adoptCaStates } from '../state/ca-state.js';
import type { CertStore } from '../certs/store.js';
import type { Config } from '../config.js';
import { DeliveryController } from '../delivery/controller.js';
import { runtimeLinks } from '../lb/runtime/runtime-links.js';
import { defaultFingerprint, storedLeaves } from '../delivery/expected.js';
import type { LbHandle } from '../lb/marathon-lb.js';
import type { HealthReport } from '../http/server.js';
import type { Logger } from '../log.js';
import { NameSelector, type WantedName } from '../marathon/apps.js';
import type { MarathonClient } from '../marathon/client.js';
import type { StreamState } from '../marathon/events.js';
import type { AppWarningLog } from '../marathon/warning-log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Notifier } from '../notify/notifier.js';
import type { LbResult, SyncStatus } from '../status/components.js';
import type { StatusView } from '../status/page.js';
import type { CertificateManager } from '../sync/certificates.js';
import { Coalescer } from '../sync/coalescer.js';
import type { ForcedRenewal } from '../sync/forced-renewal.js';
import type { OrderFence } from '../sync/order-fence.js';
import { RetryTimer } from '../sync/retry-timer.js';
import type { Clock } from '../util/clock.js';
import { createCertificateAuthority, createCertificateManager, openStorage, type OpenedStorage } from './components.js';
import type { DaemonDeps } from './deps.js';
import { awaitHandover, endHandoverWaits } from './handover-waits.js';
import { startLeaderTriggers } from './leader-triggers.js';
import { judgeHealth } from './health.js';
import { Reporting } from './reporting.js';
import { buildDaemonStatusView } from './status-view.js';
import { errorText } from '../util/error-text.js';

/**
 * A deployment of many apps posts one Marathon event per app, and each event asks for a full sync.
 * The first event is acted on at once; the rest of a burst costs at most one sync per second.
 */
const MIN_SYNC_INTERVAL_MS = 1_000;

/** What lives as long as the process and is lent to each term. */
export interface TermParts {
  deps: DaemonDeps;
  clock: Clock;
  random: () => number;
  logger: Logger;
  metrics: Metrics;
  store: CertStore;
  responder: ChallengeResponder;
  marathon: MarathonClient;
  /** Marathon and marathon-lb's HTTP API agent. */
  marathonAgent: Agent;
  notifier: Notifier;
  labelWarnings: AppWarningLog;
  /** The last answer each marathon-lb gave to a reload signal (by its display URL), for /status. */
  lastSignals: Map<string, LbResult>;
  /** Asked before each order: may this instance still order? */
  fence: OrderFence | undefined;
  /**
   * Names a previous leader may still be ordering, with the time until which they are left alone;
   * the term looks at the storage directory again once that time has passed, before ordering them.
   */
  handover: Map<string, number>;
  /** An error that waiting will not fix (e.g. a profile the CA lacks): the process exits. */
  reportFatal: (err: Error) => void;
}

/** Why the leader could not start; the CLI prints it and exits non-zero. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

export class LeaderTerm {
  private readonly stopping = new AbortController();
  private readonly config: Config;
  private readonly delivery: DeliveryController;
  private readonly reporting: Reporting;
  private readonly syncs: Coalescer;
  private readonly renewals: Coalescer;
  /** Failed names are retried at their own time, not at the next periodic sync or renewal check. */
  private readonly issueRetry: RetryTimer;
  private readonly renewRetry: RetryTimer;
  private readonly background: Promise<void>[] = [];
  private acmeAgent: Agent | undefined;
  /** The CAs after the primary, whose agents are closed with the term. */
  private fallbacks: FallbackCas | undefined;
  private manager: CertificateManager | undefined;
  /** What apps wanted at the last successful sync; undefined before the first. */
  private wanted: readonly WantedName[] | undefined;
  private wantedNames: ReadonlySet<string> | undefined;
  /** default.pem's leaf, so the delivery check can tell "the LB's fallback" from anything else. */
  private defaultFingerprint: string | undefined;
  private accountReady = false;
  private accountError: string | undefined;
  private streamState: StreamState = 'disconnected';
  private readonly syncStatus: SyncStatus = { lastAttemptAt: undefined, lastSuccessAt: undefined, lastError: undefined };

  constructor(private readonly parts: TermParts) {
    const { deps, clock, logger, metrics, random } = parts;
    this.config = deps.config;
    const target = deps.deliveryTarget;
    const runtime = runtimeLinks(this.config, parts.store, logger);
    for (const lb of runtime.keys()) metrics.lbRuntimeConfigured(lb);
    this.delivery = new DeliveryController({
      lbUrls: this.config.lbUrls,
      checkPort: this.config.deliveryCheckPort,
      checkIntervalMs: this.config.deliveryCheckIntervalMs,
      dispatcher: parts.marathonAgent,
      clock,
      logger,
      random,
      expected: () => storedLeaves(this.manager?.managed.values() ?? []),
      defaultFingerprint: () => this.defaultFingerprint,
      store: parts.store,
      ...(deps.deliveryTiming === undefined ? {} : { timing: deps.deliveryTiming }),
      ...(target === undefined ? {} : { tlsTarget: (lb: LbHandle) => target(lb.display) }),
      onSignalResult: (lb, ok, error) => {
        metrics.lbSignal(lb, ok ? 'success' : 'failure');
        parts.lastSignals.set(lb, { ok, at: clock.now(), error });
      },
      onRecords: (records) => {
        this.reporting.deliveryChanged(this.manager, records);
      },
      runtime,
      onRuntimeResult: (lb, result) => {
        metrics.lbRuntimeUpdates(lb, result.done.filter((d) => d.change !== 'absent').length, result.failed.length);
      },
    });
    this.reporting = new Reporting({
      metrics,
      notifier: parts.notifier,
      clock,
      logger,
      storageDir: this.config.storageDir,
      wanted: () => this.wantedNames,
      delivery: () => this.delivery.records(),
    });
    // Syncs and renewal checks are where certificates come and go, so the gauges follow each one.
    this.syncs = new Coalescer(async (reasons) => {
      let changed = true;
      try {
        changed = await this.sync(reasons);
      } finally {
        await this.report({ gauges: changed });
      }
    }, { clock, minIntervalMs: MIN_SYNC_INTERVAL_MS });
    this.renewals = new Coalescer(() => this.renew().finally(() => this.report()));
    this.issueRetry = new RetryTimer({
      clock,
      onDue: () => {
        this.syncs.request('a failed order is due again', { skipInterval: true });
      },
    });
    this.renewRetry = new RetryTimer({
      clock,
      onDue: () => {
        this.renewals.request('a failed renewal is due again');
      },
    });
  }

  /**
   * Opens the storage and starts everything the leader runs; `onStorageReady` runs between the two.
   * Throws StartupError for what the operator must fix.
   */
  async start(onStorageReady: () => Promise<void>): Promise<void> {
    const { config } = this;
    const { clock, logger, metrics, store, responder, deps } = this.parts;
    let opened: OpenedStorage;
    try {
      opened = await openStorage(store, clock, logger, accountLookup(config, { clock, logger }));
    } catch (err) {
      throw new StartupError(errorText(err), { cause: err });
    }
    const { accountKeyPem, state } = opened;
    // The CAs in the configured order, each with its ledger and health from before and the limits in
    // force now (kept in state.json at its next write for `marathon-acme status`, which takes no options).
    state.cas = adoptCaStates(state.cas, config.cas);
    const acmeAgent = await this.openAcmeAgent();
    const onRequest = (endpoint: AcmeEndpoint, seconds: number): void => {
      metrics.observeAcmeRequest(endpoint, seconds);
    };
    const ca =
      deps.ca?.(accountKeyPem, responder) ??
      createCertificateAuthority(config, accountKeyPem, responder, logger, { dispatcher: acmeAgent, clock, onRequest });
    this.fallbacks = configuredFallbacks(config, accountKeyPem, { store, responder, logger, clock, onRequest });
    const componentParts = {
      store,
      ca,
      clock,
      logger,
      random: this.parts.random,
      opened,
      lbDispatcher: this.parts.marathonAgent,
      responder,
      lookup: deps.lookup,
      fence: this.parts.fence,
      fallbacks: this.fallbacks.entries,
    };
    this.manager = createCertificateManager(config, componentParts, {
      onAttempt: (attempt) => {
        metrics.certificateAttempt(attempt.kind, attempt.ok ? 'success' : 'failure', attempt.problemType);
      },
      onWritten: (name, reason) => {
        this.delivery.changed([name], reason === 'renewal' ? `renewed ${name}` : `new ${name}`);
      },
    });
    metrics.setCaSource(() => caMetrics(state.cas, clock.now()));
    await this.manager.refresh();
    logger.info({ count: this.manager.managed.size }, 'loaded stored certificates');
    this.defaultFingerprint = await defaultFingerprint(store);
    await this.report();
    await onStorageReady();
    this.background.push(
      awaitHandover(this.parts.handover, clock, logger, this.stopping.signal, () => {
        this.syncs.request('the hand-over wait is over', { skipInterval: true });
      }),
    );
    // The first round of delivery checks shows, right after a restart, which LB serves what.
    this.delivery.start();
    this.background.push(
      ...startLeaderTriggers(this.parts, new AccountGate(this.manager.router, logger), acmeAgent, this.stopping.signal, {
        onAccountError: (message) => {
          this.accountError = message;
        },
        onAccountReady: () => {
          this.accountReady = true;
          // Anything a sync skipped while the account was missing is picked up now.
          this.syncs.request('ACME account ready', { skipInterval: true });
          this.renewals.request('start-up renewal check');
        },
        onStreamState: (state) => {
          this.streamState = state;
        },
        requestSync: (reason) => {
          this.syncs.request(reason);
        },
        requestRenewalCheck: (reason) => {
          this.renewals.request(reason);
        },
        renewAsked: (names) => this.renewAsked(names),
      }),
    );
  }

  private async openAcmeAgent(): Promise<Agent> {
    try {
      this.acmeAgent = await createAcmeAgent({ caFile: this.config.acmeCaFile, timeoutMs: this.config.acmeTimeoutMs });
      return this.acmeAgent;
    } catch (err) {
      throw new StartupError(errorText(err), { cause: err });
    }
  }

  /** Stops taking new work, waits (up to `graceMs`) for orders and writes in flight, then lets go. */
  async stop(graceMs: number): Promise<void> {
    this.stopping.abort();
    const { clock } = this.parts;
    // Writes are atomic, so work abandoned after the grace period leaves nothing half-written.
    const inFlight = Promise.allSettled([
      this.syncs.stop(),
      this.renewals.stop(),
      this.issueRetry.stop(),
      this.renewRetry.stop(),
      this.manager?.drain(),
      this.delivery.stop(),
      ...this.background,
    ]);
    const timer = new AbortController();
    await Promise.race([inFlight, clock.sleep(graceMs, timer.signal)]);
    timer.abort();
    await this.acmeAgent?.destroy().catch(() => undefined);
    await this.fallbacks?.close();
  }

  requestSync(reason: string): void {
    this.syncs.request(reason);
  }

  requestRenewalCheck(reason: string): void {
    this.renewals.request(reason);
  }

  async whenIdle(): Promise<void> {
    await this.syncs.whenIdle();
    await this.renewals.whenIdle();
  }

  async lbSettled(): Promise<void> {
    await this.delivery.settled();
  }

  health(listening: boolean): HealthReport {
    return judgeHealth({
      now: this.parts.clock.now(),
      listening,
      accountReady: this.accountReady,
      accountError: this.accountError,
      sync: this.syncStatus,
      syncIntervalMs: this.config.syncIntervalMs,
      eventStream: this.streamState,
      managedCertificates: this.manager?.managed.size ?? 0,
      pendingLbSignals: this.delivery.pendingSignals.length,
      deliveryFailures: this.delivery.records().filter((r) => r.failing).length,
    });
  }

  statusView(now: number, version: string): Promise<StatusView> {
    const { config } = this;
    return buildDaemonStatusView({
      now,
      storageDir: config.storageDir,
      version,
      acmeDirectoryUrl: config.acmeDirectoryUrl,
      sync: this.syncStatus,
      eventStream: this.streamState,
      marathonUrls: this.parts.marathon.displayUrls,
      accountReady: this.accountReady,
      accountError: this.accountError,
      wanted: this.wanted,
      lbs: this.delivery.lbSummaries(),
      lastSignals: this.parts.lastSignals,
      checkPort: config.deliveryCheckPort,
      delivery: this.delivery.records(),
    });
  }

  /** `marathon-acme renew`, asked through the storage directory (renew/request-watcher.ts). */
  private async renewAsked(names: readonly string[] | 'all'): Promise<ForcedRenewal[]> {
    const manager = this.manager;
    if (manager === undefined || !this.accountReady) {
      const detail = `the ACME account is not ready yet${this.accountError === undefined ? '' : `: ${this.accountError}`}`;
      const asked = names === 'all' ? [...(manager?.managed.keys() ?? [])] : names;
      return asked.map((name) => ({ name, outcome: 'failed', problem: { type: undefined, detail, status: undefined }, retryAt: undefined }));
    }
    try {
      return await manager.renewNow(names);
    } finally {
      await this.report();
    }
  }

  /** Resolves true when certificates were written or retired. */
  private async sync(reasons: readonly string[]): Promise<boolean> {
    const manager = this.manager;
    const signal = this.stopping.signal;
    if (manager === undefined || signal.aborted) return false;
    const { clock, logger, metrics } = this.parts;
    const started = clock.now();
    this.syncStatus.lastAttemptAt = started;
    logger.info({ reasons }, 'starting a sync');
    const { group, multipleDomains, allowedDomains, maxNamesPerApp } = this.config;
    let selector: NameSelector;
    try {
      // App by app as the list arrives: a 10,000-app cluster's list is never held whole.
      selector = await this.parts.marathon.readApps(() => new NameSelector({ group, multipleDomains, allowedDomains, maxNamesPerApp }), signal);
    } catch (err) {
      this.syncStatus.lastError = errorText(err);
      logger.error({ err: errorText(err) }, 'sync failed: could not read the apps from Marathon; the next event, reconnect or periodic sync tries again');
      return false;
    }
    const selection = selector.result();
    this.parts.labelWarnings.report(selection.warnings);
    this.syncStatus.lastSuccessAt = clock.now();
    this.syncStatus.lastError = undefined;
    metrics.syncSucceeded(this.syncStatus.lastSuccessAt);
    this.wanted = selection.names;
    this.wantedNames = new Set(selection.names.map((n) => n.name));
    logger.debug({ count: selection.names.length, domains: selection.names.map((n) => n.name) }, 'domains wanted by apps');
    if (!this.accountReady) {
      logger.info('ACME account not ready yet; new certificates are ordered as soon as it is');
      return false;
    }
    await endHandoverWaits(this.parts.handover, manager, clock.now(), logger);
    const result = await manager.issueMissing(selection.names);
    const retired = await manager.retireUnwanted(selection.names, this.config.retireAfterMs);
    // Written certificates were signalled one by one as they were stored (onWritten).
    if (retired.length > 0) this.delivery.changed(retired, `retired ${retired.join(', ')}`);
    logger.info(
      {
        apps: selector.appCount,
        wanted: selection.names.length,
        issued: result.written.length,
        failed: result.failed.length,
        retired: retired.length,
        durationMs: clock.now() - started,
      },
      'sync completed',
    );
    return result.written.length + retired.length > 0;
  }

  private async renew(): Promise<void> {
    const manager = this.manager;
    if (manager === undefined || !this.accountReady || this.stopping.signal.aborted) return;
    this.parts.logger.info('checking stored certificates for renewal');
    await manager.refresh();
    const result = await manager.renewDue();
    if (result.written.length + result.failed.length > 0) {
      this.parts.logger.info({ renewed: result.written.length, failed: result.failed.length }, 'renewal check completed');
    }
  }

  /** Gauges and notifications up to date, and a wake-up set for the earliest failed name. */
  private async report(options: { gauges: boolean } = { gauges: true }): Promise<void> {
    const manager = this.manager;
    if (manager === undefined) return;
    await this.reporting.update(manager, options);
    const next = manager.nextRetries();
    this.issueRetry.schedule(next.issueAt);
    this.renewRetry.schedule(next.renewAt);
  }
}
