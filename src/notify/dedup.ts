/**
 * Deduplication of notifications: a pure state machine over condition sets. A condition is told once
 * when it appears, once more whenever its kind changes (`expiring` → `expired`, `issue-failing` →
 * `renewal-failing`), and once when it clears (a recovery). Anything else (a higher failure count, a new
 * next attempt, a changed detail, the same snapshot fed again) stays silent.
 *
 * The memory lives in the process only: after a restart every active condition is told once more,
 * and a condition that cleared while the daemon was down is never told as recovered.
 */
import type { Condition } from './conditions.js';

export type EventState = 'firing' | 'resolved';

/** One change to tell. Times are epoch ms. */
export interface NotifyEvent {
  state: EventState;
  /** As last seen; for `resolved`, the condition that cleared. */
  condition: Condition;
  /** When the change was seen (the snapshot's time). */
  at: number;
  /** When the condition was first seen with its current kind. */
  since: number;
}

export interface Remembered {
  condition: Condition;
  since: number;
}

/** What was last told, by condition key. */
export type NotifyMemory = ReadonlyMap<string, Remembered>;

export const EMPTY_MEMORY: NotifyMemory = new Map();

/**
 * The events that take `memory` to `current`, and the memory after them. Pure: `memory` is not
 * changed. Firing events come in the order of `current`, recoveries in the order of `memory`.
 */
export function step(memory: NotifyMemory, current: ReadonlyMap<string, Condition>, now: number): { memory: NotifyMemory; events: NotifyEvent[] } {
  const next = new Map<string, Remembered>();
  const events: NotifyEvent[] = [];
  for (const [key, condition] of current) {
    const before = memory.get(key);
    if (before !== undefined && before.condition.kind === condition.kind) {
      // Still the same problem: keep the latest details, so that a recovery says what it was like.
      next.set(key, { condition, since: before.since });
      continue;
    }
    next.set(key, { condition, since: now });
    events.push({ state: 'firing', condition, at: now, since: now });
  }
  for (const [key, before] of memory) {
    if (current.has(key)) continue;
    events.push({ state: 'resolved', condition: before.condition, at: now, since: before.since });
  }
  return { memory: next, events };
}
