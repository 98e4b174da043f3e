import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { Agent } from 'undici';
import { loadOrCreateAccountKey } from './acme/account-key.js';
import { ChallengeResponder } from './acme/challenges.js';
import { AcmeCertificateAuthority, AcmeConfigError, type CertificateAuthority } from './acme/issuer.js';
import { CertStore } from './certs/store.js';
import type { Config } from './config.js';
import { closeServer, createHttpServer, listen, type HealthReport } from './http/server.js';
import { LbSignaller } from './lb/marathon-lb.js';
import type { Logger } from './log.js';
import { NameSelector } from './marathon/apps.js';
import { MarathonClient } from './marathon/client.js';
import { EventWatcher, type StreamState } from './marathon/events.js';
import { Metrics } from './metrics/metrics.js';
import { countStoredFiles } from './metrics/stored-files.js';
import { StateFile } from './state/state-file.js';
import { readStatus } from './status/command.js';
import { accountState, lbState, marathonState, type LbResult, type SyncStatus } from './status/components.js';
import type { StatusView } from './status/page.js';
import { parseEndpoint } from './util/endpoint.js';
import type { DaemonState } from './state/state.js';
import { CertificateManager } from './sync/certificates.js';
import { Coalescer } from './sync/coalescer.js';
import { backoffDelay } from './util/backoff.js';
import { isAborted, systemClock, type Clock } from './util/clock.js';

export interface DaemonDeps {
  config: Config;
  logger: Logger;
  clock?: Clock;
  random?: () => number;
  /** Resolves names for the preflight check (tests map test names to 127.0.0.1); default: the system resolver. */
  lookup?: (hostname: string) => Promise<string[]>;
  /** Shown on /status. */
  version?: string;
  /** Replaces the ACME CA (tests of failure paths); by default the configured directory is used. */
  ca?: (accountKeyPem: string, responder: ChallengeResponder) => CertificateAuthority;
}

/**
 * A deployment of many apps posts one Marathon event per app, and each event asks for a full sync.
 * The first event is acted on at once; the rest of a burst costs at most one sync per second.
 */
const MIN_SYNC_INTERVAL_MS = 1_000;

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
  private acmeAgent: Agent | undefined;
  private readonly responder = new ChallengeResponder();
  private readonly store: CertStore;
  private readonly marathon: MarathonClient;
  private readonly lb: LbSignaller;
  private readonly syncs: Coalescer;
  private readonly renewals: Coalescer;
  /** Served at /metrics; the parts report into it through the hooks wired below. */
  readonly metrics = new Metrics();
  private server: Server | undefined;
  private manager: CertificateManager | undefined;
  private accountReady = false;
  private accountError: string | undefined;
  private streamState: StreamState = 'disconnected';
  /** The last signal outcome per marathon-lb (by its display URL), for /status. */
  private readonly lbResults = new Map<string, LbResult>();
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
    this.marathon = new MarathonClient({
      urls: config.marathonUrls,
      timeoutMs: config.marathonTimeoutMs,
      dispatcher: this.dispatcher,
      logger: this.logger,
    });
    this.lb = new LbSignaller({
      urls: config.lbUrls,
      dispatcher: this.dispatcher,
      clock: this.clock,
      logger: this.logger,
      backoff: { baseMs: 1_000, capMs: 5 * 60_000 },
      timeoutMs: 5_000,
      random: this.random,
      onResult: (lb, ok, error) => {
        this.metrics.lbSignal(lb, ok ? 'success' : 'failure');
        this.lbResults.set(lb, { ok, at: this.clock.now(), error });
      },
    });
    // Syncs and renewal checks are where certificates come and go, so the gauges follow each one.
    this.syncs = new Coalescer(async (reasons) => {
      let changed = true;
      try {
        changed = await this.sync(reasons);
      } finally {
        await this.reportCertificates({ gauges: changed });
      }
    }, {
      clock: this.clock,
      minIntervalMs: MIN_SYNC_INTERVAL_MS,
    });
    this.renewals = new Coalescer(() => this.renew().finally(() => this.reportCertificates()));
  }

  /** The port the HTTP server is bound to (useful when the configured port was 0). */
  get port(): number {
    return this.boundPort;
  }

  /**
   * Storage first (marathon-lb's HAProxy needs certs/ and default.pem before anything else), then the
   * listener, then everything that talks to the network runs in the background and never gives up.
   */
  async start(): Promise<void> {
    const { config } = this.deps;
    try {
      await this.store.init(new Date(this.clock.now()));
    } catch (err) {
      throw new StartupError(errorMessage(err), { cause: err });
    }
    let accountKeyPem: string;
    try {
      const key = await loadOrCreateAccountKey(this.store);
      accountKeyPem = key.pem;
      this.logger.info({ file: 'client.key', created: key.created }, key.created ? 'created a new ACME account key' : 'using the existing ACME account key');
    } catch (err) {
      throw new StartupError(errorMessage(err), { cause: err });
    }
    const ca =
      this.deps.ca?.(accountKeyPem, this.responder) ??
      new AcmeCertificateAuthority({
        directoryUrl: config.acmeDirectoryUrl,
        accountKeyPem,
        email: config.email,
        responder: this.responder,
        logger: this.logger,
        caFile: config.acmeCaFile,
        requestTimeoutMs: config.acmeTimeoutMs,
        keyType: config.keyType,
        eab: config.eab,
        profile: config.acmeProfile,
        onRequest: (endpoint, seconds) => {
          this.metrics.observeAcmeRequest(endpoint, seconds);
        },
      });
    const stateFile = new StateFile(this.store, this.logger);
    let state: DaemonState;
    try {
      state = await stateFile.load(new Date(this.clock.now()));
    } catch (err) {
      throw new StartupError(errorMessage(err), { cause: err });
    }
    this.manager = new CertificateManager({
      store: this.store,
      ca,
      clock: this.clock,
      logger: this.logger,
      maxConcurrentOrders: config.maxConcurrentOrders,
      state,
      stateFile,
      dispatcher: await this.acmeHttp(),
      ariTimeoutMs: config.acmeTimeoutMs,
      random: this.random,
      onAttempt: (attempt) => {
        this.metrics.certificateAttempt(attempt.kind, attempt.ok ? 'success' : 'failure', attempt.problemType);
      },
      onAriRequest: (seconds) => {
        this.metrics.observeAcmeRequest('renewalInfo', seconds);
      },
      preflight: config.preflight
        ? {
            port: config.preflightPort,
            timeoutMs: 10_000,
            responder: this.responder,
            ...(this.deps.lookup === undefined ? {} : { lookup: this.deps.lookup }),
          }
        : undefined,
    });
    await this.manager.refresh();
    this.logger.info({ count: this.manager.managed.size }, 'loaded stored certificates');
    await this.reportCertificates();

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

    this.background.push(this.registerAccount(ca));
    this.background.push(this.watchEvents());
    if (config.syncIntervalMs > 0) this.background.push(this.every(config.syncIntervalMs, () => { this.syncs.request('periodic sync'); }));
    this.background.push(this.every(config.renewalIntervalMs, () => { this.renewals.request('renewal check'); }));
  }

  /**
   * ARI requests go to the CA outside the ACME library, so they get their own agent with the same
   * trust as the library's (the system roots plus --acme-ca-file) and the same --acme-timeout, which
   * here also bounds the TCP and TLS connect (undici's own default is 10 s whatever the option says).
   */
  private async acmeHttp(): Promise<Agent> {
    const caFile = this.deps.config.acmeCaFile;
    // Built once: a `ca` list would make every new TLS connection rebuild the whole trust store.
    let secureContext: SecureContext | undefined;
    if (caFile !== undefined) {
      try {
        secureContext = createSecureContext({ ca: [...rootCertificates, await readFile(caFile, 'utf8')] });
      } catch (err) {
        throw new StartupError(`cannot read --acme-ca-file ${caFile}: ${errorMessage(err)}`, { cause: err });
      }
    }
    this.acmeAgent = new Agent({
      keepAliveTimeout: 4_000,
      connect: { timeout: this.deps.config.acmeTimeoutMs, ...(secureContext === undefined ? {} : { secureContext }) },
    });
    return this.acmeAgent;
  }

  /** Stops taking new work, waits (up to `graceMs`) for orders and writes in flight, then closes. */
  async stop(graceMs = 10_000): Promise<void> {
    this.logger.info('stopping: no new work is taken; waiting for work in flight');
    this.stopping.abort();
    this.lb.stop();
    // Writes are atomic, so work abandoned after the grace period leaves nothing half-written.
    const inFlight = Promise.allSettled([this.syncs.stop(), this.renewals.stop(), this.manager?.drain(), ...this.background]);
    const timer = new AbortController();
    await Promise.race([inFlight, this.clock.sleep(graceMs, timer.signal)]);
    timer.abort();
    if (this.server !== undefined) await closeServer(this.server);
    await this.dispatcher.destroy().catch(() => undefined);
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
    const problems: string[] = [];
    const now = this.clock.now();
    const { syncIntervalMs } = this.deps.config;
    if (this.server === undefined) problems.push('not listening');
    if (!this.accountReady) {
      problems.push(this.accountError === undefined ? 'ACME account not registered yet' : `ACME account not registered: ${this.accountError}`);
    }
    const s = this.syncStatus;
    if (s.lastSuccessAt === undefined) {
      problems.push(s.lastError === undefined ? 'no sync with Marathon has completed yet' : `last sync with Marathon failed: ${s.lastError}`);
    } else if (s.lastError !== undefined && (s.lastAttemptAt ?? 0) > s.lastSuccessAt) {
      problems.push(`last sync with Marathon failed: ${s.lastError}`);
    } else if (syncIntervalMs > 0 && now - s.lastSuccessAt > Math.max(3 * syncIntervalMs, 60_000)) {
      problems.push(`no successful sync with Marathon for ${Math.round((now - s.lastSuccessAt) / 1000)} s`);
    }
    return {
      healthy: problems.length === 0,
      problems,
      details: {
        accountReady: this.accountReady,
        eventStream: this.streamState,
        lastSyncAt: s.lastSuccessAt === undefined ? null : new Date(s.lastSuccessAt).toISOString(),
        managedCertificates: this.manager?.managed.size ?? 0,
        pendingLbSignals: this.lb.pending.length,
      },
    };
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

  private async buildStatusView(now: number): Promise<StatusView> {
    const { config } = this.deps;
    const report = await readStatus(config.storageDir, now);
    const s = this.syncStatus;
    const owed = new Set(this.lb.pending);
    const lbs = config.lbUrls.map((raw) => {
      const url = parseEndpoint(raw).display;
      return lbState(url, owed.has(url), this.lbResults.get(url));
    });
    return {
      generatedAt: new Date(now).toISOString(),
      version: this.deps.version ?? 'unknown',
      marathon: {
        ...marathonState(s, this.streamState),
        urls: this.marathon.displayUrls,
        eventStream: this.streamState,
        lastSyncAt: s.lastSuccessAt === undefined ? null : new Date(s.lastSuccessAt).toISOString(),
      },
      account: { ...accountState(this.accountReady, this.accountError), directory: config.acmeDirectoryUrl },
      lbs,
      certificates: report.certificates,
    };
  }

  private async registerAccount(ca: CertificateAuthority): Promise<void> {
    let attempt = 0;
    while (!this.stopping.signal.aborted) {
      try {
        await ca.ensureAccount();
        this.accountReady = true;
        // Anything a sync skipped while the account was missing is picked up now.
        this.syncs.request('ACME account ready', { skipInterval: true });
        this.renewals.request('start-up renewal check');
        return;
      } catch (err) {
        if (err instanceof AcmeConfigError) {
          this.logger.fatal({ err: err.message }, 'the CA cannot serve this configuration; stopping');
          this.reportFatal(err);
          return;
        }
        this.accountError = errorMessage(err);
        const delay = backoffDelay({ baseMs: 2_000, capMs: 5 * 60_000 }, attempt++, this.random);
        this.logger.error({ err: errorMessage(err), retryInMs: delay }, 'ACME account is not ready; retrying after a pause');
        await this.clock.sleep(delay, this.stopping.signal);
      }
    }
  }

  private async watchEvents(): Promise<void> {
    const watcher = new EventWatcher({
      client: this.marathon,
      clock: this.clock,
      logger: this.logger,
      idleTimeoutMs: this.deps.config.sseTimeoutMs,
      backoff: { baseMs: 1_000, capMs: 60_000 },
      healthyAfterMs: 30_000,
      random: this.random,
      onStateChange: (state) => {
        this.streamState = state;
        this.metrics.setStreamState(state);
      },
      onEvent: () => {
        this.metrics.marathonEvent(this.clock.now());
      },
      onAttached: (info) => {
        this.logger.info({ remoteAddress: info.remoteAddress, timestamp: info.timestamp }, 'attached to the Marathon event stream; running a full sync');
        this.syncs.request('event stream attached');
      },
      onApiPost: (info) => {
        // A deployment posts one event per app; at info level a burst would flood the log, while
        // the sync it triggers logs its reasons anyway.
        this.logger.debug({ uri: info.uri, timestamp: info.timestamp }, 'api_post_event received; triggering a sync');
        this.syncs.request(typeof info.uri === 'string' ? `api_post_event ${info.uri}` : 'api_post_event');
      },
    });
    await watcher.run(this.stopping.signal);
  }

  private async every(intervalMs: number, tick: () => void): Promise<void> {
    while (!this.stopping.signal.aborted) {
      await this.clock.sleep(intervalMs, this.stopping.signal);
      if (!isAborted(this.stopping.signal)) tick();
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
    for (const w of selection.warnings) {
      this.logger.warn({ appId: w.appId, portIndex: w.portIndex, label: w.label }, w.message);
    }
    this.syncStatus.lastSuccessAt = this.clock.now();
    this.syncStatus.lastError = undefined;
    this.metrics.syncSucceeded(this.syncStatus.lastSuccessAt);
    this.logger.debug({ count: selection.names.length, domains: selection.names.map((n) => n.name) }, 'domains wanted by apps');
    if (!this.accountReady) {
      this.logger.info('ACME account not ready yet; new certificates are ordered as soon as it is');
      return false;
    }
    const result = await manager.issueMissing(selection.names);
    const retired = await manager.retireUnwanted(selection.names, this.deps.config.retireAfterMs);
    if (result.written.length + retired.length > 0) {
      this.lb.signalAll([...result.written.map((n) => `new ${n}`), ...retired.map((n) => `retired ${n}`)].join(', '));
    }
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
    if (result.written.length > 0) this.lb.signalAll(`renewed certificates: ${result.written.join(', ')}`);
    if (result.written.length + result.failed.length > 0) {
      this.logger.info({ renewed: result.written.length, failed: result.failed.length }, 'renewal check completed');
    }
  }

  /**
   * Brings the certificate gauges up to date; a storage directory that cannot be listed only costs the
   * counts. `gauges: false` after a sync that changed no certificate: rebuilding thousands of
   * per-certificate series then costs more than the rest of a no-op sync, for the same values.
   */
  private async reportCertificates(options: { gauges: boolean } = { gauges: true }): Promise<void> {
    const manager = this.manager;
    if (manager === undefined) return;
    if (options.gauges) this.metrics.setCertificates(manager.certificates().map((c) => ({ domain: c.name, appId: c.appId, notAfter: c.notAfter, renewAt: c.renewAt })));
    try {
      const files = await countStoredFiles(this.deps.config.storageDir);
      this.metrics.setStoredCounts({ managed: manager.managed.size, ...files });
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, 'cannot count the retired and unmanaged certificates for the metrics; the counts are tried again after the next sync');
    }
  }

  /** For tests: waits until every owed LB signal was delivered. */
  async lbSettled(): Promise<void> {
    await this.lb.settled();
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
