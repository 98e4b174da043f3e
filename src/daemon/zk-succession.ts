/**
 * With --zk: turns the election's verdicts into leader terms, one change at a time, so that two terms
 * never overlap in one process. Gaining the lead means: take the storage lock (from another instance
 * of the group at once; from anything else only once it lets go), confirm the lead with a fresh read
 * of the election, read the order intents the previous leaders left, then start a term. Losing it
 * (or the lock) stops the term at once; its orders in flight may finish within the grace.
 */
import type { Logger } from '../log.js';
import type { RoleChange } from '../ha/election.js';
import { namesHeldByOthers } from '../ha/order-intents.js';
import type { ZkLeadership } from '../ha/zk-leadership.js';
import type { StorageLock } from '../storage/lock.js';
import type { Clock } from '../util/clock.js';
import { LOCK_RETRY_MS, type LockAttempt } from './storage-leadership.js';
import { errorText } from '../util/error-text.js';

export interface ZkSuccessionOptions {
  zk: ZkLeadership;
  clock: Clock;
  logger: Logger;
  /** --zk-order-window. */
  orderWindowMs: number;
  /** Filled with the names previous leaders may still be ordering (see TermParts.handover). */
  handover: Map<string, number>;
  /** Tries the storage lock as an instance of the group. */
  takeLock: () => Promise<LockAttempt>;
  /** Starts a term holding `lock`. */
  lead: (lock: StorageLock) => Promise<void>;
  /** Stops the running term and releases its lock. */
  endTerm: () => Promise<void>;
  leading: () => boolean;
  stopping: AbortSignal;
  /** Who leads, as far as this instance knows, while it does not. */
  onLeaderText: (text: string | undefined) => void;
  reportFatal: (err: Error) => void;
}

export class ZkSuccession {
  /** Whether this instance should lead now: the election's last verdict. */
  private wantLead = false;
  private transitions: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ZkSuccessionOptions) {}

  electionChanged(change: RoleChange): void {
    const { options } = this;
    const lead = change.role === 'leader';
    if (!lead) options.onLeaderText(change.leader);
    if (lead !== this.wantLead) {
      this.wantLead = lead;
      this.queue(false);
    }
  }

  /** The term must end although the election still says we lead (e.g. the storage lock was taken over). */
  stepDown(reason: string): void {
    this.options.logger.warn({ reason }, 'stepping down: no more orders from this instance until it leads again');
    this.queue(true);
  }

  /** Waits for the change under way; none starts after `stopping` aborted. */
  async stop(): Promise<void> {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    await this.transitions;
  }

  private queue(forceStop: boolean): void {
    this.transitions = this.transitions
      .then(() => this.transition(forceStop))
      .catch((err: unknown) => {
        this.options.reportFatal(err instanceof Error ? err : new Error(String(err)));
      });
  }

  private async transition(forceStop: boolean): Promise<void> {
    const { options } = this;
    const { zk, logger } = options;
    const lead = this.wantLead && !options.stopping.aborted;
    if (options.leading() && (!lead || forceStop)) {
      await options.endTerm();
      logger.info({ role: zk.role }, 'stopped leading: followers answer challenges; only the leader syncs and orders');
    }
    if (!lead || options.leading()) return;
    const attempt = await options.takeLock().catch((err: unknown) => ({ kind: 'error' as const, err }));
    if (attempt.kind !== 'acquired') {
      const why = attempt.kind === 'held' ? attempt.by : errorText(attempt.err);
      logger.warn({ reason: why }, 'elected, but the storage directory is held by a process outside the ZooKeeper group; trying again shortly');
      options.onLeaderText(why);
      this.retryLater();
      return;
    }
    // The role we were told may be older than the lock we just took: lead only on a fresh read.
    if (!this.wantLead || !(await zk.confirmLead()) || !(await this.readHandover())) {
      await attempt.lock.release();
      if (this.wantLead) this.retryLater();
      return;
    }
    logger.info({ identity: zk.identity }, 'elected leader: opening the storage directory and taking up the work');
    await options.lead(attempt.lock);
  }

  private retryLater(): void {
    if (this.retryTimer !== undefined || this.options.stopping.aborted) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.queue(false);
    }, LOCK_RETRY_MS);
    this.retryTimer.unref();
  }

  /**
   * The names other instances recorded orders for shortly before we took the lead; false when the
   * intents cannot be read (then we could not record ours either, and try again shortly).
   */
  private async readHandover(): Promise<boolean> {
    const { zk, clock, orderWindowMs, handover, logger } = this.options;
    const now = clock.now();
    try {
      const intents = await zk.intents.read(now, 2 * orderWindowMs);
      for (const [name, until] of namesHeldByOthers(intents, zk.identity, now, orderWindowMs)) {
        handover.set(name, Math.max(handover.get(name) ?? 0, until));
      }
      return true;
    } catch (err) {
      logger.warn({ err: errorText(err) }, "cannot read the previous leaders' order intents from ZooKeeper; trying again shortly");
      return false;
    }
  }
}
