/**
 * How the signaller learns whether a signal took effect. The delivery check (src/delivery) looks at
 * the certificates the LB serves; without it, HAProxy's process list tells: a reload starts a new
 * HAProxy process, so a pid absent before the signal and present after it means the reload happened.
 * An LB that does not publish its pids gives no evidence either way, and the accepted signal is taken
 * as delivered, as it always was.
 */
import { isAborted, type Clock } from '../util/clock.js';
import type { MarathonLbApi } from './lb-api.js';
import type { ReloadOutcome } from './signal-cycle.js';

export interface ReloadCheck {
  /** The LB as displayed. */
  lb: string;
  signalledAt: number;
  /** Every name the current cycle is delivering. */
  names: readonly string[];
  /** Give up waiting at this time: the answer is then 'not-delivered' unless the evidence says otherwise. */
  until: number;
  /** Aborts the wait (a newer signal is due, or the daemon stops); the answer is then 'unknown'. */
  signal: AbortSignal;
}

/** Taken just before a signal goes out, so that "after" can be compared with "before". */
export interface ReloadWatch {
  outcome(check: ReloadCheck): Promise<ReloadOutcome>;
}

export interface ReloadEvidence {
  watch(signal: AbortSignal): Promise<ReloadWatch>;
}

const UNKNOWN: ReloadWatch = { outcome: () => Promise.resolve('unknown') };

export class PidEvidence implements ReloadEvidence {
  constructor(
    private readonly api: MarathonLbApi,
    private readonly clock: Clock,
    private readonly pollMs: number,
  ) {}

  async watch(signal: AbortSignal): Promise<ReloadWatch> {
    const before = await this.api.pids(signal);
    if (before.kind !== 'pids') return UNKNOWN;
    const known = new Set(before.pids);
    return { outcome: (check) => this.outcome(known, check) };
  }

  /** Looks at least once, even when `until` has passed already (a caller falling back to pids late). */
  private async outcome(before: ReadonlySet<string>, check: ReloadCheck): Promise<ReloadOutcome> {
    for (;;) {
      if (isAborted(check.signal)) return 'unknown';
      const now = this.clock.now();
      const answer = await this.api.pids(check.signal);
      if (isAborted(check.signal)) return 'unknown';
      if (answer.kind === 'absent') return 'unknown';
      if (answer.kind === 'pids' && answer.pids.some((pid) => !before.has(pid))) return 'delivered';
      // An error here is most likely the reload itself (the listener moving to the new process): look again.
      if (now >= check.until) return 'not-delivered';
      await this.clock.sleep(Math.min(this.pollMs, check.until - now), check.signal);
    }
  }
}
