/**
 * What the daemon does with each file in requests/ at one look: pure, from the listing, the time and
 * the requests it is working on.
 */
import { classifyRequestFile, requestFileName } from './protocol.js';
import type { ListedFile } from './request-files.js';

/** A request older than this is not acted on: whoever asked has given up long ago. */
export const MAX_REQUEST_AGE_MS = 3_600_000;

export interface SweepPlan {
  /** Ids of new requests to take and act on. */
  take: string[];
  /** Ids of requests taken by an earlier run that stopped before answering: acted on again. */
  resume: string[];
  /** Requests nobody acted on within the age limit: removed, with a warning. */
  expire: string[];
  /** Answers nobody collected, and leftovers: removed quietly. */
  discard: string[];
  /** Files that are none of ours: left alone (and mentioned once). */
  unknown: string[];
}

export function planSweep(files: readonly ListedFile[], now: number, busy: ReadonlySet<string>, maxAgeMs = MAX_REQUEST_AGE_MS): SweepPlan {
  const plan: SweepPlan = { take: [], resume: [], expire: [], discard: [], unknown: [] };
  const names = new Set(files.map((f) => f.fileName));
  for (const { fileName, mtimeMs } of files) {
    const old = now - mtimeMs > maxAgeMs;
    if (fileName.startsWith('.')) {
      // A temporary file of a writer that crashed (a young one may be being written now).
      if (fileName.startsWith('.renew-') && old) plan.discard.push(fileName);
      continue;
    }
    const file = classifyRequestFile(fileName);
    if (file === undefined) {
      plan.unknown.push(fileName);
      continue;
    }
    if (busy.has(file.id)) continue;
    if (file.kind === 'result') {
      if (old) plan.discard.push(fileName);
    } else if (file.kind === 'taken' && names.has(requestFileName(file.id, 'result'))) {
      // Answered, then stopped before removing this.
      plan.discard.push(fileName);
    } else if (old) {
      plan.expire.push(fileName);
    } else if (file.kind === 'request') {
      plan.take.push(file.id);
    } else {
      plan.resume.push(file.id);
    }
  }
  return plan;
}
