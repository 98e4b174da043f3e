/**
 * Runs a job on request with at most one run in flight and at most one queued behind it. A burst of
 * requests while a run is in flight collapses into the single queued run, which starts after the
 * current one and sees every change the burst announced. The reasons of the collapsed requests are
 * kept so the log can say why the queued run happened.
 */
export class Coalescer {
  private running: Promise<void> | undefined;
  private queuedReasons: string[] | undefined;
  private idleWaiters: Array<() => void> = [];
  private stopped = false;

  constructor(private readonly job: (reasons: readonly string[]) => Promise<void>) {}

  request(reason: string): void {
    if (this.stopped) return;
    if (this.running === undefined) {
      this.start([reason]);
      return;
    }
    if (this.queuedReasons === undefined) this.queuedReasons = [];
    if (this.queuedReasons.length < 20) this.queuedReasons.push(reason);
  }

  /** Resolves once nothing is running or queued. */
  whenIdle(): Promise<void> {
    if (this.running === undefined) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** No new runs start; the one in flight (if any) is left to finish. */
  stop(): Promise<void> {
    this.stopped = true;
    this.queuedReasons = undefined;
    return this.whenIdle();
  }

  private start(reasons: string[]): void {
    // The job reports its own failures; a rejection here must not become an unhandled one.
    this.running = this.job(reasons)
      .catch(() => undefined)
      .finally(() => {
        const next = this.queuedReasons;
        this.queuedReasons = undefined;
        this.running = undefined;
        if (next !== undefined && !this.stopped) {
          this.start(next);
          return;
        }
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const resolve of waiters) resolve();
      });
  }
}
