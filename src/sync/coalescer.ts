import { systemClock, type Clock } from '../util/clock.js';

export interface CoalescerOptions {
  clock?: Clock;
  /**
   * A run starts at least this long after the previous one started. A request after a quiet spell
   * still runs at once; only a burst is slowed down, to one run per interval.
   */
  minIntervalMs?: number;
}

/** Reasons kept per queued run, for the log; a burst of thousands needs only its first few named. */
const MAX_REASONS = 20;

/**
 * Runs a job on request with at most one run in flight and at most one queued behind it. A burst of
 * requests while a run is in flight (or waiting out the minimum interval) collapses into the single
 * queued run, which starts after the current one and sees every change the burst announced. The
 * reasons of the collapsed requests are kept so the log can say why the queued run happened.
 */
export class Coalescer {
  private readonly clock: Clock;
  private readonly minIntervalMs: number;
  private running: Promise<void> | undefined;
  private queuedReasons: string[] | undefined;
  private lastStartedAt: number | undefined;
  /** Set by a request that must not wait out the interval; the wait in progress is cut short. */
  private urgent = false;
  private cutWait: AbortController | undefined;
  private idleWaiters: Array<() => void> = [];
  private readonly stopping = new AbortController();

  constructor(
    private readonly job: (reasons: readonly string[]) => Promise<void>,
    options: CoalescerOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.minIntervalMs = options.minIntervalMs ?? 0;
  }

  /**
   * `skipInterval` is for a request that unblocks work the previous run could not do (an account
   * that just became ready): waiting out the interval would only delay it.
   */
  request(reason: string, options?: { skipInterval?: boolean }): void {
    if (this.stopping.signal.aborted) return;
    if (options?.skipInterval === true) {
      this.urgent = true;
      this.cutWait?.abort();
    }
    this.queuedReasons ??= [];
    if (this.queuedReasons.length < MAX_REASONS) this.queuedReasons.push(reason);
    if (this.running === undefined) this.run();
  }

  /** Resolves once nothing is running or queued. */
  whenIdle(): Promise<void> {
    if (this.running === undefined) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** No new runs start, a run waiting for its turn is dropped; the one in flight is left to finish. */
  stop(): Promise<void> {
    this.stopping.abort();
    this.queuedReasons = undefined;
    return this.whenIdle();
  }

  private run(): void {
    // The job reports its own failures; a rejection here must not become an unhandled one.
    this.running = this.waitAndRun()
      .catch(() => undefined)
      .finally(() => {
        this.running = undefined;
        if (this.queuedReasons !== undefined && !this.stopping.signal.aborted) {
          this.run();
          return;
        }
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const resolve of waiters) resolve();
      });
  }

  private async waitAndRun(): Promise<void> {
    if (this.lastStartedAt !== undefined && !this.urgent) {
      const wait = this.lastStartedAt + this.minIntervalMs - this.clock.now();
      if (wait > 0) {
        this.cutWait = new AbortController();
        await this.clock.sleep(wait, AbortSignal.any([this.stopping.signal, this.cutWait.signal]));
        this.cutWait = undefined;
      }
    }
    // Requests that arrived during the wait joined this run's reasons.
    const reasons = this.queuedReasons;
    this.queuedReasons = undefined;
    this.urgent = false;
    if (reasons === undefined || this.stopping.signal.aborted) return;
    this.lastStartedAt = this.clock.now();
    await this.job(reasons);
  }
}
