/**
 * Time as the daemon sees it. Everything that decides "is it time yet" takes a Clock, so tests move time
 * forward instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Resolves after `ms` milliseconds, or as soon as `signal` aborts (without rejecting). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted === true) {
        resolve();
        return;
      }
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/** A clock whose "now" is the real time shifted by an adjustable offset; sleeping stays real. */
export class OffsetClock implements Clock {
  private offsetMs = 0;

  now(): number {
    return Date.now() + this.offsetMs;
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return systemClock.sleep(ms, signal);
  }
}

/**
 * `signal.aborted` read through a call: TypeScript narrows a property read across an `await` as if
 * it could not have changed, which is exactly wrong for an abort flag.
 */
export function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}
