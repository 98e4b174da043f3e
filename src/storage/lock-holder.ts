/**
 * Who holds the storage directory's lock, and whether that holder still counts: pure functions of the
 * lock file's content, the time and what this process knows about its own host. The I/O is in
 * lock.ts.
 *
 * The directory is usually a networked volume shared by several hosts, so a process id alone says
 * nothing about a holder on another host (or in another container of this one): there the heartbeat
 * decides. A process id is trusted only when the holder ran under the same kernel (boot id) in the
 * same pid namespace, where "no such process" really means the holder is gone.
 */

export const LOCK_FILE = 'marathon-acme.lock';
/** How often the holder rewrites its heartbeat. */
export const HEARTBEAT_MS = 10_000;
/**
 * A heartbeat older than this belongs to a holder that is gone (or stuck for a minute, which is as
 * bad): six missed refreshes, and far more than the clock difference of hosts kept by NTP.
 */
export const STALE_MS = 60_000;

export interface LockRecord {
  pid: number;
  hostname: string;
  /** Kernel boot id and pid namespace (Linux), when readable: where `pid` means something. */
  hostId: string | undefined;
  /** `daemon` or `renew --offline`: shown to whoever is refused. */
  purpose: string;
  /** Epoch ms. */
  started: number;
  /** Epoch ms of the last refresh. */
  heartbeat: number;
  /** Tells this holder from any later one, whatever its pid and host. */
  token: string;
}

/** This process's view of its host, to tell whether a holder's pid can be checked from here. */
export interface LocalHost {
  hostname: string;
  hostId: string | undefined;
}

export type LockVerdict = { kind: 'live' } | { kind: 'stale'; reason: string };

export function serializeLockRecord(record: LockRecord): string {
  return `${JSON.stringify({
    pid: record.pid,
    hostname: record.hostname,
    hostId: record.hostId ?? null,
    purpose: record.purpose,
    started: new Date(record.started).toISOString(),
    heartbeat: new Date(record.heartbeat).toISOString(),
    token: record.token,
  }, null, 2)}\n`;
}

/** undefined when the text is not a complete lock record (a file being written, or damaged). */
export function parseLockRecord(text: string): LockRecord | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const started = typeof r['started'] === 'string' ? Date.parse(r['started']) : NaN;
  const heartbeat = typeof r['heartbeat'] === 'string' ? Date.parse(r['heartbeat']) : NaN;
  if (
    typeof r['pid'] !== 'number' || !Number.isSafeInteger(r['pid']) ||
    typeof r['hostname'] !== 'string' ||
    (r['hostId'] !== null && r['hostId'] !== undefined && typeof r['hostId'] !== 'string') ||
    typeof r['purpose'] !== 'string' ||
    typeof r['token'] !== 'string' || r['token'] === '' ||
    !Number.isFinite(started) || !Number.isFinite(heartbeat)
  ) {
    return undefined;
  }
  return {
    pid: r['pid'],
    hostname: r['hostname'],
    hostId: typeof r['hostId'] === 'string' ? r['hostId'] : undefined,
    purpose: r['purpose'],
    started,
    heartbeat,
    token: r['token'],
  };
}

/** Whether the holder's pid can be checked from here: the same kernel and pid namespace. */
export function sameHost(record: Pick<LockRecord, 'hostname' | 'hostId'>, local: LocalHost): boolean {
  // Where either side knows its kernel and namespace, only those count: two containers may share a
  // host name (host networking) while each has its own pid 1.
  if (record.hostId !== undefined || local.hostId !== undefined) return record.hostId === local.hostId;
  return record.hostname === local.hostname;
}

/**
 * Stale when the heartbeat is older than `staleMs`, or when the holder ran where its pid can be
 * checked and that process is gone (a SIGKILLed daemon restarted on the same host goes on at once).
 * A heartbeat from the future (another host's clock ahead of ours) counts as fresh.
 */
export function judgeLock(record: LockRecord, now: number, local: LocalHost, pidAlive: (pid: number) => boolean, staleMs = STALE_MS): LockVerdict {
  const age = now - record.heartbeat;
  if (age > staleMs) return { kind: 'stale', reason: `its last heartbeat is ${seconds(age)} s old (stale after ${seconds(staleMs)} s)` };
  if (sameHost(record, local) && !pidAlive(record.pid)) return { kind: 'stale', reason: `process ${record.pid} on this host is gone` };
  return { kind: 'live' };
}

/** "marathon-acme daemon, pid 42 on host lb-3, since 2026-…Z, last heartbeat 4 s ago" */
export function describeHolder(record: LockRecord, now: number): string {
  const age = Math.max(0, now - record.heartbeat);
  return `marathon-acme ${record.purpose}, pid ${record.pid} on host ${record.hostname}, since ${new Date(record.started).toISOString()}, last heartbeat ${seconds(age)} s ago`;
}

function seconds(ms: number): number {
  return Math.round(ms / 1000);
}
