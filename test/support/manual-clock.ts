import type { Clock } from '../../src/util/clock.js';

/**
 * A clock that only moves when the test says so: sleepers wake when `advance` passes their time (or
 * their signal aborts), so time-driven code is tested without waiting.
 */
export class ManualClock implements Clock {
  private sleepers: Array<{ until: number; wake: () => void }> = [];

  constructor(private current = 0) {}

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted === true) {
        resolve();
        return;
      }
      const sleeper = { until: this.current + ms, wake: resolve };
      this.sleepers.push(sleeper);
      signal?.addEventListener('abort', () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        resolve();
      }, { once: true });
    });
  }

  /** How many sleeps are waiting (tests check that something is scheduled). */
  get pending(): number {
    return this.sleepers.length;
  }

  /** Moves time forward, wakes every sleeper that is due, and lets their continuations run. */
  async advance(ms: number): Promise<void> {
    this.current += ms;
    const due = this.sleepers.filter((s) => s.until <= this.current);
    this.sleepers = this.sleepers.filter((s) => s.until > this.current);
    for (const s of due) s.wake();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * A clock whose sleeps return at once and move the time on by what was asked, so a bounded wait is
 * walked through at full speed; the sleeps asked for are recorded.
 */
export class JumpingClock implements Clock {
  readonly sleeps: number[] = [];

  constructor(private current = 0) {}

  now(): number {
    return this.current;
  }

  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.current += ms;
    return Promise.resolve();
  }
}
