/**
 * `<storage-dir>/marathon-acme.lock`: one process at a time works on a storage directory. Two daemons
 * on one directory would order every certificate twice, and the second one's start-up would delete
 * the first one's temporary files mid-write. The daemon holds the lock while it runs, and so does
 * `renew --offline`.
 *
 * The file is created exclusively (a complete temporary file hard-linked into place, so nobody ever
 * reads half of it) and its heartbeat rewritten every 10 s. Whoever finds it stale (lock-holder.ts)
 * takes it over; a holder that finds someone else's token in it at its next heartbeat has lost it and
 * is told to stop (`onLost`). So even two processes racing for a stale lock leave one working within
 * one heartbeat.
 */
import { randomBytes } from 'node:crypto';
import { link, open, readdir, readFile, readlink, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StorageError } from '../certs/store.js';
import type { Logger } from '../log.js';
import { isAborted, systemClock, type Clock } from '../util/clock.js';
import {
  describeHolder,
  HEARTBEAT_MS,
  judgeLock,
  LOCK_FILE,
  parseLockRecord,
  serializeLockRecord,
  STALE_MS,
  type LocalHost,
  type LockRecord,
  type LockVerdict,
} from './lock-holder.js';
import { errorText } from '../util/error-text.js';

/** Temporary files (the new lock before it is linked, a heartbeat before its rename) start with this. */
const TEMP_PREFIX = `.${LOCK_FILE}.`;
/** Tries to create the lock, each after finding it stale or gone, before giving up. */
const MAX_ATTEMPTS = 4;
/** The pid, host and times are no secret, and other users may want to see who holds the directory. */
const LOCK_MODE = 0o644;

/** Someone else holds the lock (or it could not be told whether they do); the message names them. */
export class StorageLockedError extends Error {
  override readonly name = 'StorageLockedError';
  constructor(message: string, readonly holder: LockRecord | undefined) {
    super(message);
  }
}

/** What is in the lock file right now, and whether it still counts. */
export type LockLook =
  | { kind: 'free' }
  | { kind: 'held'; record: LockRecord; verdict: LockVerdict; text: string }
  /** Not a lock record (being written, or damaged); `ageMs` since it last changed. */
  | { kind: 'unreadable'; ageMs: number; text: string };

export interface LockJudging {
  now: number;
  local: LocalHost;
  pidAlive?: ((pid: number) => boolean) | undefined;
  staleMs?: number | undefined;
}

export interface StorageLockOptions {
  dir: string;
  /** Shown to whoever is refused: `daemon` or `renew --offline`. */
  purpose: string;
  logger: Logger;
  clock?: Clock | undefined;
  /** This host as lock-holder.ts compares it; read from /proc by default. */
  local?: LocalHost | undefined;
  pidAlive?: ((pid: number) => boolean) | undefined;
  heartbeatMs?: number | undefined;
  staleMs?: number | undefined;
  /**
   * Whether a live holder may be displaced anyway: an instance elected by ZooKeeper takes the lock
   * from another instance of its group, which ZooKeeper has already deposed.
   */
  takeOverLive?: ((holder: LockRecord) => boolean) | undefined;
  /** Told once when another process turned out to hold the lock: stop working on the directory. */
  onLost?: ((err: Error) => void) | undefined;
}

export class StorageLock {
  private readonly stopping = new AbortController();
  private readonly heartbeat: Promise<void>;
  private lost = false;

  private constructor(
    private readonly options: StorageLockOptions & { clock: Clock; local: LocalHost },
    private record: LockRecord,
  ) {
    this.heartbeat = this.beat();
  }

  /** Another process took the lock over: whoever holds this object must stop working on the directory. */
  get isLost(): boolean {
    return this.lost;
  }

  get path(): string {
    return join(this.options.dir, LOCK_FILE);
  }

  /**
   * Takes the lock, taking over a stale one (logged with its holder). Throws StorageLockedError naming
   * the holder when a live process holds it, and StorageError when the directory cannot be used.
   */
  static async acquire(options: StorageLockOptions): Promise<StorageLock> {
    const clock = options.clock ?? systemClock;
    const local = options.local ?? (await localHost());
    const { dir, logger } = options;
    const path = join(dir, LOCK_FILE);
    const staleMs = options.staleMs ?? STALE_MS;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const now = clock.now();
      const record: LockRecord = {
        pid: process.pid,
        hostname: local.hostname,
        hostId: local.hostId,
        purpose: options.purpose,
        started: now,
        heartbeat: now,
        token: randomBytes(16).toString('hex'),
      };
      if (await createExclusive(dir, serializeLockRecord(record))) {
        await removeLeftovers(dir, clock.now(), staleMs);
        logger.info({ file: path, purpose: options.purpose }, 'locked the storage directory');
        return new StorageLock({ ...options, clock, local }, record);
      }
      const look = await lookAtLock(dir, { now: clock.now(), local, pidAlive: options.pidAlive, staleMs });
      if (look.kind === 'free') continue;
      if (look.kind === 'unreadable') {
        if (look.ageMs <= staleMs) {
          throw new StorageLockedError(`storage directory ${dir} is locked: ${path} is being written or is damaged (changed ${Math.round(look.ageMs / 1000)} s ago); try again in a minute`, undefined);
        }
        await takeOver(dir, look.text);
        logger.warn({ file: path, ageMs: look.ageMs }, 'took over an unreadable storage lock nobody had touched for a minute');
        continue;
      }
      const live = look.verdict.kind === 'live';
      if (live && options.takeOverLive?.(look.record) !== true) throw new StorageLockedError(lockedMessage(dir, look.record, clock.now(), staleMs), look.record);
      await takeOver(dir, look.text);
      logger.warn(
        { file: path, holder: { pid: look.record.pid, hostname: look.record.hostname, purpose: look.record.purpose }, reason: look.verdict.kind === 'live' ? 'deposed by the ZooKeeper election' : look.verdict.reason },
        live ? 'took the storage lock from an instance that no longer leads' : 'took over a stale storage lock',
      );
    }
    throw new StorageLockedError(`could not lock storage directory ${dir}: other processes keep taking ${path}`, undefined);
  }

  /** Stops the heartbeat and removes the lock file if it is still ours. Safe to call twice. */
  async release(): Promise<void> {
    this.stopping.abort();
    await this.heartbeat;
    if (this.lost) return;
    const text = await readFile(this.path, 'utf8').catch(() => undefined);
    if (text === undefined || parseLockRecord(text)?.token !== this.record.token) return;
    await unlink(this.path).catch((err: unknown) => {
      this.options.logger.warn({ file: this.path, err: errorText(err) }, 'cannot remove the storage lock; the next start takes it over once it is stale');
    });
  }

  private async beat(): Promise<void> {
    const { clock, logger } = this.options;
    const every = this.options.heartbeatMs ?? HEARTBEAT_MS;
    while (!this.stopping.signal.aborted) {
      await clock.sleep(every, this.stopping.signal);
      if (isAborted(this.stopping.signal)) return;
      try {
        await this.refresh();
      } catch (err) {
        if (!(err instanceof StorageLockedError)) {
          // A passing NFS hiccup; if it lasts a minute another process may take over, and the next
          // refresh that gets through finds out.
          logger.warn({ file: this.path, err: errorText(err) }, 'cannot refresh the storage lock; trying again at the next heartbeat');
          continue;
        }
        this.lost = true;
        logger.error({ file: this.path, err: err.message }, 'lost the storage lock');
        this.options.onLost?.(err);
        return;
      }
    }
  }

  private async refresh(): Promise<void> {
    const { dir, clock } = this.options;
    let text = await readFile(this.path, 'utf8').catch((err: unknown) => {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    });
    if (text === undefined) {
      // Removed by hand: it is still ours unless someone else has created it since.
      const record = { ...this.record, heartbeat: clock.now() };
      if (await createExclusive(dir, serializeLockRecord(record))) {
        this.record = record;
        this.options.logger.warn({ file: this.path }, 'the storage lock file had been removed while held; created it again');
        return;
      }
      text = await readFile(this.path, 'utf8');
    }
    const current = parseLockRecord(text);
    if (current?.token !== this.record.token) {
      const holder = current === undefined ? 'an unreadable lock record' : describeHolder(current, clock.now());
      throw new StorageLockedError(`another process took over the lock on storage directory ${dir} (${holder}); stopping work on it, as two processes on one directory would order the same certificates twice`, current);
    }
    const next = { ...this.record, heartbeat: clock.now() };
    const temp = tempPath(dir);
    try {
      await writeFile(temp, serializeLockRecord(next), { mode: LOCK_MODE, flag: 'wx' });
      await rename(temp, this.path);
    } finally {
      await rm(temp, { force: true });
    }
    this.record = next;
  }
}

/** The lock as it is now, judged; `free` when there is no lock file. */
export async function lookAtLock(dir: string, judging: LockJudging): Promise<LockLook> {
  const path = join(dir, LOCK_FILE);
  let text: string;
  let changedAt: number;
  try {
    [text, changedAt] = await Promise.all([readFile(path, 'utf8'), stat(path).then((s) => s.mtimeMs)]);
  } catch (err) {
    if (errno(err) === 'ENOENT') return { kind: 'free' };
    throw lockError(dir, err);
  }
  const record = parseLockRecord(text);
  if (record === undefined) return { kind: 'unreadable', ageMs: Math.max(0, judging.now - changedAt), text };
  const verdict = judgeLock(record, judging.now, judging.local, judging.pidAlive ?? processExists, judging.staleMs ?? STALE_MS);
  return { kind: 'held', record, verdict, text };
}

/** What a refused process prints: who holds the directory, and how the lock ends if they are gone. */
export function lockedMessage(dir: string, holder: LockRecord, now: number, staleMs = STALE_MS): string {
  return (
    `storage directory ${dir} is locked by ${describeHolder(holder, now)}; only one marathon-acme may work on a ` +
    `storage directory. If that process is gone for good, its lock is taken over once the heartbeat is ` +
    `${Math.round(staleMs / 1000)} s old (or remove ${join(dir, LOCK_FILE)})`
  );
}

/** This host as the lock compares it: the kernel's boot id and our pid namespace, where Linux shows them. */
export async function localHost(): Promise<LocalHost> {
  const [bootId, pidNamespace] = await Promise.all([
    readFile('/proc/sys/kernel/random/boot_id', 'utf8').then((t) => t.trim(), () => undefined),
    readlink('/proc/self/ns/pid').catch(() => undefined),
  ]);
  const hostId = bootId === undefined || bootId === '' || pidNamespace === undefined ? undefined : `${bootId} ${pidNamespace}`;
  return { hostname: hostname(), hostId };
}

/** kill(pid, 0): ESRCH means no such process; EPERM means one that belongs to another user. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errno(err) === 'EPERM';
  }
}

/** Creates the lock file with `content` unless it exists: true when created. */
async function createExclusive(dir: string, content: string): Promise<boolean> {
  const path = join(dir, LOCK_FILE);
  const temp = tempPath(dir);
  try {
    await writeFile(temp, content, { mode: LOCK_MODE, flag: 'wx' });
  } catch (err) {
    throw lockError(dir, err);
  }
  try {
    await link(temp, path);
    return true;
  } catch (err) {
    const code = errno(err);
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw lockError(dir, err);
    // No hard links here (some network and FUSE filesystems): O_EXCL, which a reader may catch
    // before the content is in; such a young unreadable lock counts as held.
    return await createWithExclusiveOpen(dir, content);
  } finally {
    await rm(temp, { force: true });
  }
}

async function createWithExclusiveOpen(dir: string, content: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(join(dir, LOCK_FILE), 'wx', LOCK_MODE);
  } catch (err) {
    if (errno(err) === 'EEXIST') return false;
    throw lockError(dir, err);
  }
  try {
    await handle.writeFile(content, 'utf8');
  } finally {
    await handle.close();
  }
  return true;
}

/**
 * Moves the stale lock aside and removes it. When the file moved is not the one judged stale, another
 * process replaced it in between: it is put back (and the caller looks again).
 */
async function takeOver(dir: string, judgedText: string): Promise<void> {
  const path = join(dir, LOCK_FILE);
  const aside = `${tempPath(dir)}.stale`;
  try {
    await rename(path, aside);
  } catch (err) {
    if (errno(err) === 'ENOENT') return;
    throw lockError(dir, err);
  }
  try {
    const moved = await readFile(aside, 'utf8').catch(() => undefined);
    if (moved !== judgedText) await link(aside, path).catch(() => undefined);
  } finally {
    await rm(aside, { force: true });
  }
}

/** Temporary files of crashed lock writers; young ones may belong to a process creating the lock now. */
async function removeLeftovers(dir: string, now: number, staleMs: number): Promise<void> {
  const entries = await readdir(dir).catch(() => []);
  for (const entry of entries.filter((e) => e.startsWith(TEMP_PREFIX))) {
    const path = join(dir, entry);
    const info = await stat(path).catch(() => undefined);
    if (info !== undefined && now - info.mtimeMs > staleMs) await rm(path, { force: true }).catch(() => undefined);
  }
}

function tempPath(dir: string): string {
  return join(dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** The same wording as the store's start-up checks, which the lock now runs before. */
function lockError(dir: string, err: unknown): StorageError {
  const code = errno(err);
  if (code === 'ENOENT' || code === 'ENOTDIR') return new StorageError(`storage directory ${dir} does not exist`, { cause: err });
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new StorageError(`storage directory ${dir} is not writable (cannot create ${LOCK_FILE})`, { cause: err });
  }
  return new StorageError(`cannot lock storage directory ${dir}: ${errorText(err)}`, { cause: err });
}

function errno(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
