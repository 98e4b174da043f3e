import type { Clock } from '../util/clock.js';

/**
 * A name whose order failed is due again at its own time (1 min, 10 min, ... after the failure), and
 * waiting for the next periodic sync instead would add up to --sync-interval to every retry. This
 * wakes the daemon at the earliest retry time; each call to `schedule` replaces the previous one.
 */
export class RetryTimer {
  private at: number | undefined;
  private current: AbortController | undefined;
  private waiting: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly options: {
      clock: Clock;
      onDue: () => void;
      /** Fire this long after the retry time, so the decision made then sees it as due. */
      marginMs?: number;
    },
  ) {}

  /** The wake-up set now, if any (epoch ms). */
  get nextAt(): number | undefined {
    return this.at;
  }

  /** Wakes at `at` (epoch ms); undefined cancels. A time in the past wakes at once. */
  schedule(at: number | undefined): void {
    if (this.stopped || at === this.at) return;
    this.current?.abort();
    this.current = undefined;
    this.at = at;
    if (at === undefined) return;
    const controller = new AbortController();
    this.current = controller;
    const delay = Math.max(0, at - this.options.clock.now()) + (this.options.marginMs ?? 100);
    this.waiting = this.options.clock.sleep(delay, controller.signal).then(() => {
      if (controller.signal.aborted) return;
      this.at = undefined;
      this.current = undefined;
      this.options.onDue();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.abort();
    await this.waiting;
  }
}
