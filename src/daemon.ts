import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { Agent } from 'undici';
import { ChallengeResponder } from './acme/challenges.js';
import { CertStore } from './certs/store.js';
import { closeServer, createHttpServer, listen, type HealthReport } from './http/server.js';
import { LeaderTerm, StartupError, type TermParts } from './daemon/leader-term.js';
import type { DaemonDeps } from './daemon/deps.js';
import type { Logger } from './log.js';
import { MarathonClient } from './marathon/client.js';
import { AppWarningLog } from './marathon/warning-log.js';
import { Metrics } from './metrics/metrics.js';
import { Notifier } from './notify/notifier.js';
import type { LbResult } from './status/components.js';
import type { InstanceView, StatusView } from './status/page.js';
import type { Role } from './ha/election.js';
import type { StorageLock, StorageLockOptions } from './storage/lock.js';
import { tryStorageLock, waitForStorageLock } from './daemon/storage-leadership.js';
import { ZkSuccession } from './daemon/zk-succession.js';
import { ViewCache } from './daemon/view-cache.js';
import { followerHealth, followerStatusView } from './daemon/follower.js';
import { FileChallengeBoard } from './ha/file-challenge-board.js';
import type { ChallengeBoard } from './ha/challenge-board.js';
import { MirroredChallengeBoard } from './ha/mirrored-challenge-board.js';
import { ZkLeadership } from './ha/zk-leadership.js';
import { ZkOrderFence } from './ha/zk-order-fence.js';
import { OrderFenced, type OrderFence } from './sync/order-fence.js';
import { systemClock, type Clock } from './util/clock.js';
import { createMarathonAgent } from './util/trust-store.js';
import { errorText } from './util/error-text.js';

export type { DaemonDeps } from './daemon/deps.js';
export { StartupError } from './daemon/leader-term.js';

/** Challenge files older than this on the board at takeover are a dead leader's: validations last seconds. */
const STALE_CHALLENGE_MS = 10 * 60_000;

/** How long one /status view is served again before the storage directory is read anew. */
const STATUS_CACHE_MS = 2_000;

/** How long a term that lost the lead may finish the orders and writes it has in flight. */
const STEP_DOWN_GRACE_MS = 10_000;

/** The storage lock's purpose for instances led through ZooKeeper: they may take it from each other. */
const ZK_LOCK_PURPOSE = 'daemon --zk';

/**
 * Wires the parts together. What every instance does lives here: the HTTP server (challenges, ping,
 * health, metrics, status) and the choice of who leads. What only the leader does is a LeaderTerm,
 * started when this instance gains the lead and stopped when it loses it. Who leads is decided by the
 * storage directory's lock, or with --zk by a ZooKeeper election (then the lock only keeps instances
 * outside the group, and `renew --offline`, off the directory).
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
  /** Where the leader publishes its pending challenges, so that every instance can answer them. */
  private readonly board: ChallengeBoard;
  private readonly fileBoard: FileChallengeBoard;
  private readonly responder: ChallengeResponder;
  private readonly store: CertStore;
  private readonly marathon: MarathonClient;
  private readonly notifier: Notifier;
  /** Warns about an app's label problem when it appears, not at every sync. */
  private readonly labelWarnings: AppWarningLog;
  private readonly zk: ZkLeadership | undefined;
  private readonly succession: ZkSuccession | undefined;
  private readonly fence: OrderFence | undefined;
  /** Names a previous leader may still be ordering (see TermParts.handover). */
  private readonly handover = new Map<string, number>();
  /** Served at /metrics; the parts report into it through the hooks wired below. */
  readonly metrics = new Metrics();
  private server: Server | undefined;
  /** The storage directory's lock, held while leading: one process works on it at a time. */
  private lock: StorageLock | undefined;
  /** Who leads while this instance does not (as the lock or the election describes them). */
  private leaderText: string | undefined;
  private term: LeaderTerm | undefined;
  /** The last answer each marathon-lb gave to a reload signal (by its display URL), for /status. */
  private readonly lastSignals = new Map<string, LbResult>();
  private readonly statusCache: ViewCache<StatusView>;
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
    this.statusCache = new ViewCache(this.clock, STATUS_CACHE_MS, (now) => this.buildStatusView(now));
    this.store = new CertStore(config.storageDir, { logger: this.logger });
    this.fileBoard = new FileChallengeBoard(config.storageDir);
    if (config.zk === undefined) {
      this.board = this.fileBoard;
      this.fence = { admit: () => this.admitWithLock() };
    } else {
      const zk = new ZkLeadership({
        target: config.zk,
        sessionTimeoutMs: config.zkSessionTimeoutMs,
        identity: `${hostname()} pid ${process.pid} listen ${config.listen.host}:${config.listen.port}`,
        logger: this.logger,
        random: this.random,
        onRole: (change) => {
          this.succession?.electionChanged(change);
          this.roleChanged();
        },
        onState: (state) => {
          this.metrics.setZkState(state);
        },
      });
      this.zk = zk;
      this.board = new MirroredChallengeBoard(zk.board, this.fileBoard);
      this.fence = new ZkOrderFence({ intents: zk.intents, leaderNode: () => zk.leaderNode, clock: this.clock, held: () => this.handover });
      this.succession = new ZkSuccession({
        zk,
        clock: this.clock,
        logger: this.logger,
        orderWindowMs: config.zkOrderWindowMs,
        handover: this.handover,
        takeLock: () => tryStorageLock(this.lockOptions(ZK_LOCK_PURPOSE)),
        lead: async (lock) => {
          this.lock = lock;
          await this.lead();
        },
        endTerm: () => this.endTerm(),
        leading: () => this.term !== undefined,
        stopping: this.stopping.signal,
        onLeaderText: (text) => {
          this.leaderText = text;
        },
        reportFatal: (err) => {
          this.reportFatal(err);
        },
      });
    }
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
    this.labelWarnings = new AppWarningLog({
      logger: this.logger,
      onCounts: (perApp) => {
        this.metrics.setLabelProblems(perApp);
      },
      onWarned: (count) => {
        this.metrics.labelWarningsLogged(count);
      },
    });
  }

  /** The port the HTTP server is bound to (useful when the configured port was 0). */
  get port(): number {
    return this.boundPort;
  }

  /**
   * Without --zk: the storage lock first (a second daemon's start-up would remove the first one's
   * temporary files), then the leader's storage and listener; when another instance holds the lock,
   * this one follows: it listens at once, answers the challenges the leader publishes, and leads once
   * the lock is given up or goes stale. With --zk: the listener, then the election in the background;
   * an unreachable ZooKeeper is waited for, never a reason to exit.
   */
  async start(): Promise<void> {
    if (this.setupError !== undefined) throw new StartupError(this.setupError.message, { cause: this.setupError });
    if (this.zk !== undefined) {
      this.roleChanged();
      await this.listenHttp();
      this.logger.info({ zk: this.deps.config.zk?.display, identity: this.zk.identity }, 'standing for election in ZooKeeper; answering challenges meanwhile');
      this.zk.start();
      return;
    }
    let attempt;
    try {
      attempt = await tryStorageLock(this.lockOptions('daemon'));
    } catch (err) {
      throw new StartupError(errorText(err), { cause: err });
    }
    if (attempt.kind === 'held') {
      await this.follow(attempt.by);
      return;
    }
    this.lock = attempt.lock;
    await this.lead();
  }

  private lockOptions(purpose: string): StorageLockOptions {
    const zkMode = this.zk !== undefined;
    return {
      dir: this.deps.config.storageDir,
      purpose,
      clock: this.clock,
      logger: this.logger,
      ...(zkMode ? { takeOverLive: (holder: { purpose: string }) => holder.purpose === ZK_LOCK_PURPOSE } : {}),
      onLost: (err) => {
        if (zkMode) this.succession?.stepDown(`lost the storage lock: ${err.message}`);
        else this.reportFatal(err);
      },
    };
  }

  /** Without --zk, while another instance holds the storage lock. */
  private async follow(heldBy: string): Promise<void> {
    this.leaderText = heldBy;
    this.roleChanged();
    await this.listenHttp();
    this.logger.info(
      { holder: heldBy },
      'another marathon-acme holds the storage directory: following it (answering the challenges it publishes) and leading once its lock is given up or goes stale',
    );
    this.background.push(
      (async () => {
        const lock = await waitForStorageLock({
          lock: this.lockOptions('daemon'),
          clock: this.clock,
          logger: this.logger,
          signal: this.stopping.signal,
          onHeld: (by) => {
            this.leaderText = by;
          },
        });
        if (lock === undefined) return;
        this.lock = lock;
        this.logger.info('took the storage directory over: leading from now on');
        try {
          await this.lead();
        } catch (err) {
          this.reportFatal(err instanceof Error ? err : new Error(String(err)));
        }
      })(),
    );
  }

  /** Starts a term; the storage lock is held. Throws StartupError for what the operator must fix. */
  private async lead(): Promise<void> {
    // A leader that died mid-validation left its tokens on the board; they answer nothing any more.
    await this.fileBoard.sweep(this.clock.now(), STALE_CHALLENGE_MS);
    const parts: TermParts = {
      deps: this.deps,
      clock: this.clock,
      random: this.random,
      logger: this.logger,
      metrics: this.metrics,
      store: this.store,
      responder: this.responder,
      marathon: this.marathon,
      marathonAgent: this.marathonAgent,
      notifier: this.notifier,
      labelWarnings: this.labelWarnings,
      lastSignals: this.lastSignals,
      fence: this.fence,
      handover: this.handover,
      reportFatal: (err) => {
        this.reportFatal(err);
      },
    };
    const term = new LeaderTerm(parts);
    this.term = term;
    this.leaderText = undefined;
    this.roleChanged();
    try {
      // Storage first (marathon-lb's HAProxy needs certs/ and default.pem before anything else), then
      // the listener, before anything can order.
      await term.start(() => (this.server === undefined ? this.listenHttp() : Promise.resolve()));
    } catch (err) {
      this.term = undefined;
      await term.stop(0);
      throw err;
    }
  }

  /** Without --zk the lock is the fence: a daemon whose lock was taken over orders nothing more. */
  private admitWithLock(): Promise<() => Promise<void>> {
    if (this.lock === undefined || this.lock.isLost) return Promise.reject(new OrderFenced('the storage lock is not held by this instance'));
    return Promise.resolve(() => Promise.resolve());
  }

  /** With --zk: the running term ends; the lock goes with it. */
  private async endTerm(): Promise<void> {
    const term = this.term;
    this.term = undefined;
    this.roleChanged();
    await term?.stop(STEP_DOWN_GRACE_MS);
    this.metrics.leaderStopped();
    await this.lock?.release();
    this.lock = undefined;
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
      throw new StartupError(errorText(err), { cause: err });
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

  /** Stops taking new work, waits (up to `graceMs`) for orders and writes in flight, then closes. */
  async stop(graceMs = 10_000): Promise<void> {
    this.logger.info('stopping: no new work is taken; waiting for work in flight');
    this.stopping.abort();
    await this.succession?.stop();
    const term = this.term;
    this.term = undefined;
    const timer = new AbortController();
    await Promise.race([
      Promise.allSettled([term?.stop(graceMs), this.notifier.stop(), ...this.background]),
      this.clock.sleep(graceMs, timer.signal),
    ]);
    timer.abort();
    // After the work in flight: its intents are withdrawn, and the next leader is elected at once.
    await this.zk?.stop();
    if (this.server !== undefined) await closeServer(this.server);
    await this.lock?.release();
    await this.dispatcher.destroy().catch(() => undefined);
    await this.marathonAgent.destroy().catch(() => undefined);
    this.logger.info('stopped');
  }

  /** Asks for a full sync now (coalesced with any in flight); nothing while this instance does not lead. */
  requestSync(reason: string): void {
    this.term?.requestSync(reason);
  }

  requestRenewalCheck(reason: string): void {
    this.term?.requestRenewalCheck(reason);
  }

  /** Resolves when no sync or renewal check is running or queued. */
  async whenIdle(): Promise<void> {
    await this.term?.whenIdle();
  }

  /** The role /health, /status and the metrics report: leader only while a term runs (elected is not yet leading). */
  get role(): Role {
    if (this.term !== undefined) return 'leader';
    if (this.zk === undefined) return 'follower';
    return this.zk.role === 'follower' ? 'follower' : 'candidate';
  }

  private roleChanged(): void {
    this.metrics.setRole(this.role, this.clock.now());
  }

  /** What /health and /status say of this instance's part. */
  private instanceView(): InstanceView {
    const leading = this.term !== undefined;
    return {
      role: this.role,
      leader: leading ? this.zk?.identity ?? 'this instance' : this.leaderText ?? null,
      zookeeper: this.zk?.state ?? null,
    };
  }

  health(): HealthReport {
    const listening = this.server !== undefined;
    const instance = this.instanceView();
    const term = this.term;
    if (term === undefined) return followerHealth(instance, listening);
    const report = term.health(listening);
    const zk = instance.zookeeper === null ? {} : { zookeeper: instance.zookeeper, leader: instance.leader };
    return { ...report, details: { role: 'leader', ...zk, ...report.details } };
  }

  /**
   * What /status shows: the certificates as the storage directory has them (the same rows as
   * `marathon-acme status`), with what this instance knows; reused for a couple of seconds.
   */
  statusView(): Promise<StatusView> {
    return this.statusCache.get();
  }

  private async buildStatusView(now: number): Promise<StatusView> {
    const version = this.deps.version ?? 'unknown';
    const instance = this.instanceView();
    const term = this.term;
    if (term !== undefined) return { ...(await term.statusView(now, version)), instance };
    return followerStatusView({ now, version, storageDir: this.deps.config.storageDir, marathonUrls: this.marathon.displayUrls, acmeDirectoryUrl: this.deps.config.acmeDirectoryUrl, instance });
  }

  /** For tests: waits until every owed LB signal was delivered. */
  async lbSettled(): Promise<void> {
    await this.term?.lbSettled();
  }
}
