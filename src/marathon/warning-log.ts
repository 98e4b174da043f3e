/**
 * What the daemon says about apps' unusable labels. Every sync selects the names anew and finds the
 * same problems again; logging each at every sync made one bad label about 300 warnings a day. So a
 * problem is a warning when it appears or changes, an info line when it goes away (the label was
 * fixed, or the app removed), and a debug line while it merely persists.
 */
import type { Logger } from '../log.js';
import type { AppWarning } from './apps.js';

/**
 * Where a problem is: the app, port, label and kind. Two problems in the same place (two invalid
 * names in one label) differ by their message, which names the offending value.
 */
function placeOf(w: AppWarning): string {
  return JSON.stringify([w.appId, w.portIndex ?? null, w.label ?? null, w.reason]);
}

function identityOf(w: AppWarning): string {
  return JSON.stringify([placeOf(w), w.message]);
}

export interface WarningChanges {
  /** In a place that had no problem before. */
  appeared: AppWarning[];
  /** In a place that had a problem before, but not this one (the label's value changed, say). */
  changed: AppWarning[];
  /** Exactly as at the last sync. */
  repeated: AppWarning[];
  /** Problems of the last sync whose place has none now. */
  resolved: AppWarning[];
}

/** How the problems of this sync differ from those of the last one. Pure. */
export function compareWarnings(previous: readonly AppWarning[], current: readonly AppWarning[]): WarningChanges {
  const before = new Set(previous.map(identityOf));
  const placesBefore = new Set(previous.map(placeOf));
  const placesNow = new Set(current.map(placeOf));
  const changes: WarningChanges = { appeared: [], changed: [], repeated: [], resolved: [] };
  for (const w of current) {
    if (before.has(identityOf(w))) changes.repeated.push(w);
    else if (placesBefore.has(placeOf(w))) changes.changed.push(w);
    else changes.appeared.push(w);
  }
  for (const w of previous) if (!placesNow.has(placeOf(w))) changes.resolved.push(w);
  return changes;
}

/** The number of problems per app, for the gauge (apps without any are left out). */
export function countByApp(warnings: readonly AppWarning[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const w of warnings) counts.set(w.appId, (counts.get(w.appId) ?? 0) + 1);
  return counts;
}

export interface WarningLogOptions {
  logger: Logger;
  /** The current problems per app, after every sync that read the apps. */
  onCounts: (perApp: ReadonlyMap<string, number>) => void;
  /** How many warnings this sync logged (new or changed problems). */
  onWarned: (count: number) => void;
}

/** The logging edge: remembers the last sync's problems. Call once per successful read of the apps. */
export class AppWarningLog {
  private previous: readonly AppWarning[] = [];

  constructor(private readonly options: WarningLogOptions) {}

  report(current: readonly AppWarning[]): void {
    const { logger } = this.options;
    const changes = compareWarnings(this.previous, current);
    this.previous = [...current];
    const fields = (w: AppWarning): Record<string, unknown> => ({ appId: w.appId, portIndex: w.portIndex, label: w.label, reason: w.reason });
    for (const w of changes.appeared) logger.warn(fields(w), w.message);
    for (const w of changes.changed) logger.warn({ ...fields(w), changed: true }, w.message);
    for (const w of changes.repeated) logger.debug({ ...fields(w), repeated: true }, w.message);
    for (const w of changes.resolved) logger.info({ ...fields(w), was: w.message }, 'an app label problem is gone: the label was fixed or the app removed');
    this.options.onWarned(changes.appeared.length + changes.changed.length);
    this.options.onCounts(countByApp(current));
  }
}
