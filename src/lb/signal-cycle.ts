/**
 * One delivery to one LB, from the first accepted signal until the reload shows (or time is up). A
 * signal marathon-lb accepted can still be lost (it drops a USR1 that arrives while it handles a
 * Marathon event), so when no reload shows within a wait the signal is sent again; each wait is twice
 * the one before, and the cycle ends `graceMs` after the last signal that brought new names. Pure:
 * the caller passes the time.
 */
export interface CycleTiming {
  /** How long the first signal has to show before it is sent again. */
  firstWaitMs: number;
  /** The longest wait between two signals of a cycle. */
  maxWaitMs: number;
  /** How long after a name's first signal the cycle gives up on it. */
  graceMs: number;
}

export const DEFAULT_CYCLE_TIMING: CycleTiming = { firstWaitMs: 10_000, maxWaitMs: 80_000, graceMs: 5 * 60_000 };

/** What the evidence said about the reload of the last signal. */
export type ReloadOutcome = 'delivered' | 'not-delivered' | 'unknown';

export type CycleStep = 'done' | 'resend' | 'give-up';

export class SignalCycle {
  readonly names = new Set<string>();
  private count = 0;
  private deadlineAt: number;

  constructor(
    private readonly timing: CycleTiming,
    startedAt: number,
  ) {
    this.deadlineAt = startedAt + timing.graceMs;
  }

  get signals(): number {
    return this.count;
  }

  get deadline(): number {
    return this.deadlineAt;
  }

  /** A signal carrying `names` was accepted at `at`. Names new to the cycle get a full grace. */
  accepted(names: Iterable<string>, at: number): void {
    this.count++;
    for (const name of names) {
      if (this.names.has(name)) continue;
      this.names.add(name);
      this.deadlineAt = Math.max(this.deadlineAt, at + this.timing.graceMs);
    }
  }

  /** Until when the signal accepted at `signalledAt` is given to show. */
  waitUntil(signalledAt: number): number {
    const wait = Math.min(this.timing.maxWaitMs, this.timing.firstWaitMs * 2 ** Math.max(0, this.count - 1));
    return Math.min(signalledAt + wait, this.deadlineAt);
  }

  /** `unknown` ends the cycle too: nothing says the signal failed, and guessing would mean reloading for nothing. */
  next(outcome: ReloadOutcome, at: number): CycleStep {
    if (outcome !== 'not-delivered') return 'done';
    return at < this.deadlineAt ? 'resend' : 'give-up';
  }
}
