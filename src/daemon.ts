import type { Server } from 'node:http';
import { Agent } from 'undici';
import { ChallengeResponder } from './acme/challenges.js';
import type { CertificateAuthority } from './acme/issuer.js';
import { registerAccountUntilReady } from './daemon/account-registration.js';
import { CertStore } from './certs/store.js';
import type { Config } from './config.js';
import { closeServer, createHttpServer, listen, type HealthReport } from './http/server.js';
import { judgeHealth } from './daemon/health.js';
import { Reporting } from './daemon/reporting.js';
import { DeliveryController, type DeliveryTiming } from './delivery/controller.js';
import type { TlsTarget } from './delivery/checker.js';
import type { LbHandle } from './lb/marathon-lb.js';
import { defaultFingerprint, storedLeaves } from './delivery/expected.js';
import { accountLookup } from './acme/account-lookup.js';
import { createAcmeAgent } from './acme/acme-agent.js';
import { probeDirectory } from './acme/directory-probe.js';
import type { Logger } from './log.js';
import { NameSelector } from './marathon/apps.js';
import { MarathonClient } from './marathon/client.js';
import { AppWarningLog } from './marathon/warning-log.js';
import type { StreamState } from './marathon/events.js';
import { watchMarathonEvents } from './daemon/event-triggers.js';
import { Metrics } from './metrics/metrics.js';
import { Notifier } from './notify/notifier.js';
import { budgetUsage, LETS_ENCRYPT_LIMITS } from './acme/rate-budget.js';
import type { LbResult, SyncStatus } from './status/components.js';
import type { StatusView } from './status/page.js';
import { buildDaemonStatusView } from './daemon/status-view.js';
import type { CertificateManager } from './sync/certificates.js';
import { createCertificateAuthority, createCertificateManager, openStorage, type OpenedStorage } from './daemon/components.js';
import { watchRenewRequests } from './renew/request-watcher.js';
import type { StorageLock, StorageLockOptions } from './storage/lock.js';
import { followerHealth, tryStorageLock, waitForStorageLock, type LockAttempt } from './daemon/storage-leadership.js';
import { FileChallengeBoard } from './ha/file-challenge-board.js';
import type { ForcedRenewal } from './sync/forced-renewal.js';
import { Coalescer } from './sync/coalescer.js';
import { RetryTimer } from './sync/retry-timer.js';
import type { WantedName } from './marathon/apps.js';
import { isAborted, systemClock, type Clock } from './util/clock.js';
import { createMarathonAgent } from './util/trust-store.js';

export interface DaemonDeps {
  config: Config;
  logger: Logger;
  clock?: Clock;
  random?: () => number;
  /** Resolves names for the preflight check (tests map test names to 127.0.0.1); default: the system resolver. */
  lookup?: (hostname: string) => Promise<string[]>;
  /** Shown on /status. */
  version?: string;
  /** Shortens the delivery check's waits (tests); by default its production timing. */
  deliveryTiming?: Partial<DeliveryTiming>;
  /**
   * Where each LB's TLS listener is, by its displayed --lb URL (tests run several LBs on 127.0.0.1,
   * each on its own port); by default the --lb URL's host at --delivery-check-port.
   */
  deliveryTarget?: (lb: string) => TlsTarget;
  /** Replaces the ACME CA (tests of failure paths); by default the configured directory is used. */
  ca?: (accountKeyPem: string, responder: ChallengeResponder) => CertificateAuthority;
}

/**
 * A deployment of many apps posts one Marathon event per app, and each event asks for a full sync.
 * The first event is acted on at once; the rest of a burst costs at most one sync per second.
 */
const MIN_SYNC_INTERVAL_MS = 1_000;

/** Challenge files older than this on the board at takeover are a dead leader's: validations last seconds. */
const STALE_CHALLENGE_MS = 10 * 60_000;

/** How long one /status view is served again before the storage directory is read anew. */
const STATUS_CACHE_MS = 2_000;

/** Why the daemon could not start; the CLI prints it and exits non-zero. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/**
 * Wires the parts together and owns the triggers: the Marathon event stream, the periodic sync, the
 * renewal timer and the account registration retries. Everything else is a module with one job.
 */
export class Daemon {
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly logger: Logger;
  private readonly stopping = new AbortController();
  private readonly dispatcher = new Agent({ keepAliveTimeout: 4_000, connections: 16 });
  /** Marathon and marathon-lb's HTTP API: Node's roots, the system store and --marathon-ca-file. */
  private readonly marathonAgent: Agent;
  /** A start-up error found by the constructor (which cannot report it): start() throws it. */
  private setupError: Error | undefined;
  private acmeAgent: Agent | undefined;
  /** Where the leader publishes its pending challenges, so that a follower on the directory can answer them. */
  private readonly board: FileChallengeBoard;
  private readonly responder: ChallengeResponder;
  private readonly store: CertStore;
  private readonly marathon: MarathonClient;
  private readonly delivery: DeliveryController;
  private readonly notifier: Notifier;
  private readonly reporting: Reporting;
  /** Warns about an app's label problem when it appears, not at every sync. */
  private readonly labelWarnings: AppWarningLog;
  private readonly syncs: Coalescer;
  private readonly renewals: Coalescer;
  /** Failed names are retried at their own time, not at the next periodic sync or renewal check. */
  private readonly issueRetry: RetryTimer;
  private readonly renewRetry: RetryTimer;
  /** What apps wanted at the last successful sync; undefined before the first. */
  private wanted: readonly WantedName[] | undefined;
  private wantedNames: ReadonlySet<string> | undefined;
  /** default.pem's leaf, so the delivery check can tell "the LB's fallback" from anything else. */
  private defaultFingerprint: string | undefined;
  /** Served at /metrics; the parts report into it through the hooks wired below. */
  readonly metrics = new Metrics();
  private server: Server | undefined;
  /** The storage directory's lock, held from start to stop: one process works on it at a time. */
  private lock: StorageLock | undefined;
  /** Who holds the storage lock while this instance follows (as the lock describes them); undefined while leading. */
  private heldBy: string | undefined;
  private manager: CertificateManager | undefined;
  private accountReady = false;
  private accountError: string | undefined;
  private streamState: StreamState = 'disconnected';
  /** The last answer each marathon-lb gave to a reload signal (by its display URL), for /status. */
  private readonly lastSignals = new Map<string, LbResult>();
  private statusCache: { at: number; view: Promise<StatusView> } | undefined;
  private readonly syncStatus: SyncStatus = { lastAttemptAt: undefined, lastSuccessAt: undefined, lastError: undefined };
  private readonly background: Promise<void>[] = [];
  private boundPort = 0;
  private reportFatal: (err: Error) => void = () => undefined;
  /** Settles when the daemon hits an error that waiting will not fix (e.g. a profile the CA lacks). */
  readonly fatal = new Promise<Error>((resolve) => {
    this.reportFatal = resolve;
  });

  constructor(private readonly deps: DaemonDeps) {
    const { config } = deps;
    this.clock = deps.clock ?? systemClock;
    this.random = deps.random ?? Math.random;
    this.logger = deps.logger;
    this.store = new CertStore(config.storageDir, { logger: this.logger });
    this.board = new FileChallengeBoard(config.storageDir);
    this.responder = new ChallengeResponder(this.board);
    this.marathonAgent = this.createMarathonAgent(config.marathonCaFile);
    this.marathon = new MarathonClient({
      urls: config.marathonUrls,
      timeoutMs: config.marathonTimeoutMs,
      dispatcher: this.marathonAgent,
      logger: this.logger,
    });
    this.notifier = new Notifier({
      urls: config.notifyUrls,
      failureThreshold: config.notifyAfterFailures,
      clock: this.clock,
      logger: this.logger,
      dispatcher: this.dispatcher,
      random: this.random,
      onSent: (outcome) => {
        this.metrics.notification(outcome);
      },
    });
    const target = deps.deliveryTarget;
    this.delivery = new DeliveryController({
      lbUrls: config.lbUrls,
      checkPort: config.deliveryCheckPort,
      checkIntervalMs: config.deliveryCheckIntervalMs,
      dispatcher: this.marathonAgent,
      clock: this.clock,
      logger: this.logger,
      random: this.random,
      expected: () => storedLeaves(this.manager?.managed.values() ?? []),
      defaultFingerprint: () => this.defaultFingerprint,
      store: this.store,
      ...(deps.deliveryTiming === undefined ? {} : { timing: deps.deliveryTiming }),
      ...(target === undefined ? {} : { tlsTarget: (lb: LbHandle) => target(lb.display) }),
      onSignalResult: (lb, ok, error) => {
        this.metrics.lbSignal(lb, ok ? 'success' : 'failure');
        this.lastSignals.set(lb, { ok, at: this.clock.now(), error });
      },
      onRecords: (records) => {
        this.reporting.deliveryChanged(this.manager, records);
      },
    });
    this.labelWarnings = new AppWarningLog({
      logger: this.logger,
      onCounts: (perApp) => {
        this.metrics.setLabelProblems(perApp);
      },
      onWarned: (count) => {
        this.metrics.labelWarningsLogged(count);
      },
    });
    this.reporting = new Reporting({
      metrics: this.metrics,
      notifier: this.notifier,
      clock: this.clock,
      logger: this.logger,
      storageDir: config.storageDir,
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
    }, {
      clock: this.clock,
      minIntervalMs: MIN_SYNC_INTERVAL_MS,
    });
    this.renewals = new Coalescer(() => this.renew().finally(() => this.report()));
    this.issueRetry = new RetryTimer({
      clock: this.clock,
      onDue: () => {
        this.syncs.request('a failed order is due again', { skipInterval: true });
      },
    });
    this.renewRetry = new RetryTimer({
      clock: this.clock,
      onDue: () => {
        this.renewals.request('a failed renewal is due again');
      },
    });
  }

  /** The port the HTTP server is bound to (useful when the configured port was 0). */
  get port(): number {
    return this.boundPort;
  }

  /**
   * Storage first (marathon-lb's HAProxy needs certs/ and default.pem before anything else), then the
   * listener, then everything that talks to the network runs in the background and never gives up.
   * When another instance holds the storage directory, this one follows: it listens at once, answers
   * the challenges the leader publishes, and leads once the lock is given up or goes stale.
   */
  async start(): Promise<void> {
    if (this.setupError !== undefined) throw new StartupError(this.setupError.message, { cause: this.setupError });
    let attempt: LockAttempt;
    try {
      // Before anything touches the directory: a second daemon's start-up would remove the first one's temporary files.
      attempt = await tryStorageLock(this.lockOptions());
    } catch (err) {
      throw new StartupError(errorMessage(err), { cause: err });
    }
    if (attempt.kind === 'held') {
      await this.follow(attempt.by);
      return;
    }
    this.lock = attempt.lock;
    await this.lead();
  }

  private lockOptions(): StorageLockOptions {
    return { dir: this.deps.config.storageDir, purpose: 'daemon', clock: this.clock, logger: this.logger, onLost: (err) => { this.reportFatal(err); } };
  }

  private async follow(heldBy: string): Promise<void> {
    this.heldBy = heldBy;
    this.metrics.setRole('follower', this.clock.now());
    await this.listenHttp();
    this.logger.info(
      { holder: heldBy },
      'another marathon-acme holds the storage directory: following it (answering the challenges it publishes) and leading once its lock is given up or goes stale',
    );
    this.background.push(
      (async () => {
        const lock = await waitForStorageLock({
          lock: this.lockOptions(),
          clock: this.clock,
          logger: this.logger,
          signal: this.stopping.signal,
          onHeld: (by) => {
            this.heldBy = by;
          },
        });
        if (lock === undefined) return;
        this.lock = lock;
        this.heldBy = undefined;
        this.logger.info('took the storage directory over: leading from now on');
        try {
          await this.lead();
        } catch (err) {
          this.reportFatal(err instanceof Error ? err : new Error(String(err)));
        }
      })(),
    );
  }

  /** Everything the instance holding the storage lock does: open the storage, order, sync, signal. */
  private async lead(): Promise<void> {
    const { config } = this.deps;
    this.metrics.setRole('leader', this.clock.now());
    let opened: OpenedStorage;
    try {
      opened = await openStorage(this.store, this.clock, this.logger, accountLookup(config, { clock: this.clock, logger: this.logger }));
    } catch (err) {
      throw new StartupError(errorMessage(err), { cause: err });
    }
    // A leader that died mid-validation left its tokens on the board; they answer nothing any more.
    await this.board.sweep(this.clock.now(), STALE_CHALLENGE_MS);
    const { accountKeyPem, state } = opened;
    const acmeAgent = await this.openAcmeAgent();
    const ca =
      this.deps.ca?.(accountKeyPem, this.responder) ??
      createCertificateAuthority(config, accountKeyPem, this.responder, this.logger, {
        dispatcher: acmeAgent,
        clock: this.clock,
        onRequest: (endpoint, seconds) => {
          this.metrics.observeAcmeRequest(endpoint, seconds);
        },
      });
    const parts = { store: this.store, ca, clock: this.clock, logger: this.logger, random: this.random, opened, lbDispatcher: this.marathonAgent, responder: this.responder, lookup: this.deps.lookup };
    this.manager = createCertificateManager(config, parts, {
      onAttempt: (attempt) => {
        this.metrics.certificateAttempt(attempt.kind, attempt.ok ? 'success' : 'failure', attempt.problemType);
      },
      onWritten: (name, reason) => {
        this.delivery.changed([name], reason === 'renewal' ? `renewed ${name}` : `new ${name}`);
      },
    });
    this.metrics.setRateBudgetSource(() => budgetUsage(state.budget, this.clock.now(), LETS_ENCRYPT_LIMITS));
    await this.manager.refresh();
    this.logger.info({ count: this.manager.managed.size }, 'loaded stored certificates');
    this.defaultFingerprint = await defaultFingerprint(this.store);
    await this.report();
    if (this.server === undefined) await this.listenHttp();

    // The first round of delivery checks shows, right after a restart, which LB serves what.
    this.delivery.start();
    this.background.push(
      registerAccountUntilReady({
        ca,
        checkDirectory: this.deps.ca === undefined
          ? () => probeDirectory(config.acmeDirectoryUrl, {
              dispatcher: acmeAgent,
              timeoutMs: config.acmeTimeoutMs,
              onDuration: (seconds) => { this.metrics.observeAcmeRequest('directory', seconds); },
            })
          : undefined,
        clock: this.clock,
        logger: this.logger,
        random: this.random,
        signal: this.stopping.signal,
        onError: (message) => {
          this.accountError = message;
        },
        onReady: () => {
          this.accountReady = true;
          // Anything a sync skipped while the account was missing is picked up now.
          this.syncs.request('ACME account ready', { skipInterval: true });
          this.renewals.request('start-up renewal check');
        },
        onFatal: (err) => {
          this.reportFatal(err);
        },
      }),
    );
    this.background.push(
      watchMarathonEvents({
        client: this.marathon,
        clock: this.clock,
        logger: this.logger,
        metrics: this.metrics,
        random: this.random,
        idleTimeoutMs: config.sseTimeoutMs,
        signal: this.stopping.signal,
        onStateChange: (state) => {
          this.streamState = state;
        },
        requestSync: (reason) => {
          this.syncs.request(reason);
        },
      }),
    );
    if (config.syncIntervalMs > 0) this.background.push(this.every(config.syncIntervalMs, () => { this.syncs.request('periodic sync'); }));
    this.background.push(this.every(config.renewalIntervalMs, () => { this.renewals.request('renewal check'); }));
    this.background.push(
      watchRenewRequests({
        storageDir: config.storageDir,
        clock: this.clock,
        logger: this.logger,
        signal: this.stopping.signal,
        renew: (request) => this.renewAsked(request.all ? 'all' : request.names),
      }),
    );
  }

  private async listenHttp(): Promise<void> {
    const { config } = this.deps;
    const server = createHttpServer({
      responder: this.responder,
      health: () => this.health(),
      metrics: this.metrics,
      status: { view: () => this.statusView() },
      logger: this.logger,
    });
    try {
      const address = await listen(server, config.listen.host, config.listen.port);
      this.boundPort = address.port;
    } catch (err) {
      throw new StartupError(errorMessage(err), { cause: err });
    }
    this.server = server;
    this.logger.info({ listen: `${config.listen.host}:${this.boundPort}` }, 'serving HTTP-01 challenges, ping, health, metrics and status');
  }

  private createMarathonAgent(caFile: string | undefined): Agent {
    try {
      return createMarathonAgent(caFile, { keepAliveTimeout: 4_000, connections: 16 });
    } catch (err) {
      this.setupError = err instanceof Error ? err : new Error(String(err));
      // Never used: start() refuses to go on.
      return new Agent();
    }
  }

  private async openAcmeAgent(): Promise<Agent> {
    try {
      this.acmeAgent = await createAcmeAgent({ caFile: this.deps.config.acmeCaFile, timeoutMs: this.deps.config.acmeTimeoutMs });
      return this.acmeAgent;
    } catch (err) {
      throw new StartupError(errorMessage(err), { cause: err });
    }
  }

  /** Stops taking new work, waits (up to `graceMs`) for orders and writes in flight, then closes. */
  async stop(graceMs = 10_000): Promise<void> {
    this.logger.info('stopping: no new work is taken; waiting for work in flight');
    this.stopping.abort();
    // Writes are atomic, so work abandoned after the grace period leaves nothing half-written.
    const inFlight = Promise.allSettled([
      this.syncs.stop(),
      this.renewals.stop(),
      this.issueRetry.stop(),
      this.renewRetry.stop(),
      this.manager?.drain(),
      this.delivery.stop(),
      this.notifier.stop(),
      ...this.background,
    ]);
    const timer = new AbortController();
    await Promise.race([inFlight, this.clock.sleep(graceMs, timer.signal)]);
    timer.abort();
    if (this.server !== undefined) await closeServer(this.server);
    await this.lock?.release();
    await this.dispatcher.destroy().catch(() => undefined);
    await this.marathonAgent.destroy().catch(() => undefined);
    await this.acmeAgent?.destroy().catch(() => undefined);
    this.logger.info('stopped');
  }

  /** Asks for a full sync now (coalesced with any in flight). */
  requestSync(reason: string): void {
    this.syncs.request(reason);
  }

  requestRenewalCheck(reason: string): void {
    this.renewals.request(reason);
  }

  /** Resolves when no sync or renewal check is running or queued. */
  async whenIdle(): Promise<void> {
    await this.syncs.whenIdle();
    await this.renewals.whenIdle();
  }

  health(): HealthReport {
    if (this.heldBy !== undefined) return followerHealth(this.heldBy);
    const report = judgeHealth({
      now: this.clock.now(),
      listening: this.server !== undefined,
      accountReady: this.accountReady,
      accountError: this.accountError,
      sync: this.syncStatus,
      syncIntervalMs: this.deps.config.syncIntervalMs,
      eventStream: this.streamState,
      managedCertificates: this.manager?.managed.size ?? 0,
      pendingLbSignals: this.delivery.pendingSignals.length,
      deliveryFailures: this.delivery.records().filter((r) => r.failing).length,
    });
    return { ...report, details: { role: 'leader', ...report.details } };
  }

  /**
   * What /status shows. The certificates are read from the storage directory (the same rows as
   * `marathon-acme status`); a view is reused for a couple of seconds so that a page reloaded in a
   * loop cannot make the daemon parse every stored certificate again and again.
   */
  statusView(): Promise<StatusView> {
    const now = this.clock.now();
    if (this.statusCache !== undefined && now - this.statusCache.at < STATUS_CACHE_MS) return this.statusCache.view;
    const view = this.buildStatusView(now);
    this.statusCache = { at: now, view };
    view.catch(() => {
      this.statusCache = undefined;
    });
    return view;
  }

  private buildStatusView(now: number): Promise<StatusView> {
    const { config } = this.deps;
    return buildDaemonStatusView({
      now,
      storageDir: config.storageDir,
      version: this.deps.version ?? 'unknown',
      acmeDirectoryUrl: config.acmeDirectoryUrl,
      sync: this.syncStatus,
      eventStream: this.streamState,
      marathonUrls: this.marathon.displayUrls,
      accountReady: this.accountReady,
      accountError: this.accountError,
      wanted: this.wanted,
      lbs: this.delivery.lbSummaries(),
      lastSignals: this.lastSignals,
      checkPort: config.deliveryCheckPort,
      delivery: this.delivery.records(),
    });
  }

  private async every(intervalMs: number, tick: () => void): Promise<void> {
    while (!this.stopping.signal.aborted) {
      await this.clock.sleep(intervalMs, this.stopping.signal);
      if (!isAborted(this.stopping.signal)) tick();
    }
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
    if (manager === undefined || this.stopping.signal.aborted) return false;
    const started = this.clock.now();
    this.syncStatus.lastAttemptAt = started;
    this.logger.info({ reasons }, 'starting a sync');
    const { group, multipleDomains, allowedDomains, maxNamesPerApp } = this.deps.config;
    let selector: NameSelector;
    try {
      // App by app as the list arrives: a 10,000-app cluster's list is never held whole.
      selector = await this.marathon.readApps(() => new NameSelector({ group, multipleDomains, allowedDomains, maxNamesPerApp }), this.stopping.signal);
    } catch (err) {
      this.syncStatus.lastError = errorMessage(err);
      this.logger.error({ err: errorMessage(err) }, 'sync failed: could not read the apps from Marathon; the next event, reconnect or periodic sync tries again');
      return false;
    }
    const selection = selector.result();
    this.labelWarnings.report(selection.warnings);
    this.syncStatus.lastSuccessAt = this.clock.now();
    this.syncStatus.lastError = undefined;
    this.metrics.syncSucceeded(this.syncStatus.lastSuccessAt);
    this.wanted = selection.names;
    this.wantedNames = new Set(selection.names.map((n) => n.name));
    this.logger.debug({ count: selection.names.length, domains: selection.names.map((n) => n.name) }, 'domains wanted by apps');
    if (!this.accountReady) {
      this.logger.info('ACME account not ready yet; new certificates are ordered as soon as it is');
      return false;
    }
    const result = await manager.issueMissing(selection.names);
    const retired = await manager.retireUnwanted(selection.names, this.deps.config.retireAfterMs);
    // Written certificates were signalled one by one as they were stored (onWritten).
    if (retired.length > 0) this.delivery.changed(retired, `retired ${retired.join(', ')}`);
    this.logger.info(
      {
        apps: selector.appCount,
        wanted: selection.names.length,
        issued: result.written.length,
        failed: result.failed.length,
        retired: retired.length,
        durationMs: this.clock.now() - started,
      },
      'sync completed',
    );
    return result.written.length + retired.length > 0;
  }

  private async renew(): Promise<void> {
    const manager = this.manager;
    if (manager === undefined || !this.accountReady || this.stopping.signal.aborted) return;
    this.logger.info('checking stored certificates for renewal');
    await manager.refresh();
    const result = await manager.renewDue();
    if (result.written.length + result.failed.length > 0) {
      this.logger.info({ renewed: result.written.length, failed: result.failed.length }, 'renewal check completed');
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

  /** For tests: waits until every owed LB signal was delivered. */
  async lbSettled(): Promise<void> {
    await this.delivery.settled();
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
