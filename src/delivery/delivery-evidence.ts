/**
 * The delivery check as the signaller's evidence: after a signal, the LB is looked at for the names
 * the signal is delivering, on the tracker's retry schedule, until every one is served (the reload
 * happened) or the wait is over. When the LB's TLS port tells nothing (every answer unreachable),
 * HAProxy's pids are asked instead.
 */
import type { ReloadCheck, ReloadEvidence, ReloadWatch } from '../lb/reload-evidence.js';
import type { ReloadOutcome } from '../lb/signal-cycle.js';
import { isAborted, type Clock } from '../util/clock.js';
import type { DeliveryTracker } from './tracker.js';

const MIN_LOOK_GAP_MS = 250;

export interface DeliveryLooks {
  /** Probes `names` on `lb` now and records the answers in the tracker. */
  look(lb: string, names: readonly string[], signal: AbortSignal): Promise<void>;
}

export interface DeliveryEvidenceDeps {
  lb: string;
  pids: ReloadEvidence;
  tracker: DeliveryTracker;
  looks: DeliveryLooks;
  clock: Clock;
}

export class DeliveryEvidence implements ReloadEvidence {
  constructor(private readonly deps: DeliveryEvidenceDeps) {}

  async watch(signal: AbortSignal): Promise<ReloadWatch> {
    const pids = await this.deps.pids.watch(signal);
    return { outcome: (check) => this.outcome(check, pids) };
  }

  private async outcome(check: ReloadCheck, pids: ReloadWatch): Promise<ReloadOutcome> {
    const { lb, tracker, looks, clock } = this.deps;
    tracker.signalled(lb, check.names, check.signalledAt);
    // Retired names have no stored leaf to look for: only the pids can tell about those.
    if (!check.names.some((name) => tracker.status(lb, name) !== undefined)) return pids.outcome(check);
    let earliest = -Infinity;
    for (;;) {
      const remaining = tracker.undelivered(lb, check.names);
      if (remaining.length === 0) return 'delivered';
      const now = clock.now();
      const due = Math.max(earliest, Math.min(tracker.nextDueAt(lb, remaining) ?? check.until, check.until));
      if (due > now) await clock.sleep(due - now, check.signal);
      if (isAborted(check.signal)) return 'unknown';
      await looks.look(lb, remaining, check.signal);
      if (isAborted(check.signal)) return 'unknown';
      // A look that recorded nothing (names skipped or gone) leaves the schedule where it was.
      earliest = clock.now() + MIN_LOOK_GAP_MS;
      const left = tracker.undelivered(lb, remaining);
      if (left.length === 0) return 'delivered';
      const statuses = left.map((name) => tracker.status(lb, name));
      const wrong = statuses.some((s) => s === 'stale' || s === 'other');
      if (!wrong && statuses.every((s) => s === 'unreachable')) return pids.outcome(check);
      if (clock.now() >= check.until) return wrong ? 'not-delivered' : 'unknown';
    }
  }
}
