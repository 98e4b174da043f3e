/**
 * What the delivery check knows per (load balancer, name), and what follows from each answer. Pure:
 * the caller passes the time of every event, so the grace and the retry schedule are tested without
 * waiting.
 *
 * A reload takes a while (marathon-lb validates the new configuration first), so right after a signal
 * an answer that is not the stored certificate only schedules another look, sooner at first and then
 * less often. Only a stale or other answer that is still there `graceMs` after the signal (or after
 * it was first seen, when no signal went out) is a delivery failure. A failure holds until the stored
 * certificate is seen served; an unreachable TLS port neither makes nor clears one, as it says nothing
 * about what HAProxy holds.
 */
import { normaliseFingerprint } from './probe.js';
import type { DeliveryRecord, DeliveryStatus } from './types.js';
import type { StoredLeaf, Verdict } from './verdict.js';

export interface TrackerTiming {
  graceMs: number;
  /** The first look after a signal, then doubling up to `retryCapMs`. */
  retryBaseMs: number;
  retryCapMs: number;
}

export const DEFAULT_TRACKER_TIMING: TrackerTiming = { graceMs: 5 * 60_000, retryBaseMs: 250, retryCapMs: 15_000 };

export type Transition = 'failed' | 'recovered';

interface Pair {
  fingerprint: string;
  status: DeliveryStatus;
  failing: boolean;
  checkedAt: number | undefined;
  lastServedAt: number | undefined;
  detail: string | undefined;
  /** The stored leaf changed and no signal has been accepted since. */
  awaitingSignal: boolean;
  /** Where the grace runs from: the first signal after the change, or the first wrong answer. */
  graceFrom: number | undefined;
  /** The last signal accepted for this leaf. */
  signalledAt: number | undefined;
  /** Looks taken since the last signal, for the retry schedule. */
  retries: number;
  /** When the next look is due; undefined when no early look is owed (the periodic round covers it). */
  dueAt: number | undefined;
}

const WRONG: ReadonlySet<DeliveryStatus> = new Set(['stale', 'other']);

export class DeliveryTracker {
  private readonly lbs = new Map<string, Map<string, Pair>>();
  private readonly timing: TrackerTiming;

  constructor(lbs: readonly string[], timing: Partial<TrackerTiming> = {}) {
    this.timing = { ...DEFAULT_TRACKER_TIMING, ...timing };
    for (const lb of lbs) this.lbs.set(lb, new Map());
  }

  get graceMs(): number {
    return this.timing.graceMs;
  }

  /**
   * Brings the pairs in line with what is stored: new names appear unchecked, names no longer
   * stored are dropped, and a name whose leaf changed starts over as if `changed` had been called.
   */
  reconcile(expected: ReadonlyMap<string, StoredLeaf>): void {
    for (const pairs of this.lbs.values()) {
      for (const name of pairs.keys()) if (!expected.has(name)) pairs.delete(name);
      for (const [name, leaf] of expected) {
        const fingerprint = normaliseFingerprint(leaf.fingerprint256);
        const pair = pairs.get(name);
        if (pair === undefined) pairs.set(name, freshPair(fingerprint));
        else if (pair.fingerprint !== fingerprint) restart(pair, fingerprint);
      }
    }
  }

  /** A new leaf was written for `name` (or it was retired: `leaf` undefined drops it). */
  changed(name: string, leaf: StoredLeaf | undefined): void {
    for (const pairs of this.lbs.values()) {
      if (leaf === undefined) {
        pairs.delete(name);
        continue;
      }
      const fingerprint = normaliseFingerprint(leaf.fingerprint256);
      const pair = pairs.get(name);
      if (pair === undefined) pairs.set(name, freshPair(fingerprint));
      else restart(pair, fingerprint);
    }
  }

  /** `lb` accepted a signal at `at` meant to deliver `names`: their grace starts, and early looks are due. */
  signalled(lb: string, names: Iterable<string>, at: number): void {
    const pairs = this.lbs.get(lb);
    if (pairs === undefined) return;
    for (const name of names) {
      const pair = pairs.get(name);
      if (pair === undefined || (pair.status === 'served' && !pair.awaitingSignal)) continue;
      pair.awaitingSignal = false;
      pair.graceFrom ??= at;
      pair.signalledAt = at;
      pair.retries = 0;
      pair.dueAt = at + this.timing.retryBaseMs;
    }
  }

  /** Records one answer; returns the change in failure state it causes, if any. */
  observe(lb: string, name: string, verdict: Verdict, at: number): Transition | undefined {
    const pair = this.lbs.get(lb)?.get(name);
    if (pair === undefined) return undefined;
    pair.status = verdict.status;
    pair.detail = verdict.detail;
    pair.checkedAt = at;
    if (verdict.status === 'served') {
      const recovered = pair.failing;
      pair.failing = false;
      pair.lastServedAt = at;
      pair.awaitingSignal = false;
      pair.graceFrom = undefined;
      pair.signalledAt = undefined;
      pair.retries = 0;
      pair.dueAt = undefined;
      return recovered ? 'recovered' : undefined;
    }
    let transition: Transition | undefined;
    if (WRONG.has(verdict.status)) {
      pair.graceFrom ??= at;
      if (!pair.failing && at - pair.graceFrom >= this.timing.graceMs) {
        pair.failing = true;
        transition = 'failed';
      }
    }
    // Early looks only while a signal is being waited on; a failure is left to the periodic round.
    const waiting = pair.graceFrom !== undefined && !pair.failing && at - pair.graceFrom < this.timing.graceMs;
    pair.dueAt = waiting ? at + Math.min(this.timing.retryCapMs, this.timing.retryBaseMs * 2 ** pair.retries) : undefined;
    if (waiting) pair.retries++;
    return transition;
  }

  /** The names among `names` that still wait to be seen served on `lb`. */
  undelivered(lb: string, names: Iterable<string>): string[] {
    const pairs = this.lbs.get(lb);
    if (pairs === undefined) return [];
    const out: string[] = [];
    for (const name of names) {
      const pair = pairs.get(name);
      if (pair !== undefined && (pair.status !== 'served' || pair.awaitingSignal)) out.push(name);
    }
    return out;
  }

  /** When the earliest early look among `names` on `lb` is due (undefined: none is). */
  nextDueAt(lb: string, names: Iterable<string>): number | undefined {
    const pairs = this.lbs.get(lb);
    let next: number | undefined;
    for (const name of names) {
      const due = pairs?.get(name)?.dueAt;
      if (due !== undefined && (next === undefined || due < next)) next = due;
    }
    return next;
  }

  /**
   * The names on `lb` last seen stale or other that no recent signal is still working on (none was
   * sent for the leaf, or the last one is older than the grace): a signal should go out for them.
   */
  toResignal(lb: string, now: number): string[] {
    const out: string[] = [];
    for (const [name, pair] of this.lbs.get(lb) ?? []) {
      if (!WRONG.has(pair.status)) continue;
      if (pair.signalledAt === undefined || now - pair.signalledAt >= this.timing.graceMs) out.push(name);
    }
    return out;
  }

  status(lb: string, name: string): DeliveryStatus | undefined {
    return this.lbs.get(lb)?.get(name)?.status;
  }

  /** Every pair, load balancer by load balancer in configured order, names sorted. */
  records(): DeliveryRecord[] {
    const out: DeliveryRecord[] = [];
    for (const [lb, pairs] of this.lbs) {
      for (const name of [...pairs.keys()].sort()) {
        const p = pairs.get(name);
        if (p === undefined) continue;
        out.push({ lb, name, status: p.status, failing: p.failing, checkedAt: p.checkedAt, lastServedAt: p.lastServedAt, detail: p.detail });
      }
    }
    return out;
  }
}

function freshPair(fingerprint: string): Pair {
  return {
    fingerprint,
    status: 'unchecked',
    failing: false,
    checkedAt: undefined,
    lastServedAt: undefined,
    detail: undefined,
    awaitingSignal: true,
    graceFrom: undefined,
    signalledAt: undefined,
    retries: 0,
    dueAt: undefined,
  };
}

/**
 * A new leaf to deliver. A failure stands until the new leaf is seen served (a broken LB stays
 * reported broken across renewals); the last time the previous one was served is kept too.
 */
function restart(pair: Pair, fingerprint: string): void {
  pair.fingerprint = fingerprint;
  pair.status = 'unchecked';
  pair.detail = undefined;
  pair.awaitingSignal = true;
  pair.graceFrom = undefined;
  pair.signalledAt = undefined;
  pair.retries = 0;
  pair.dueAt = undefined;
}
