/**
 * Several instances on one storage directory without ZooKeeper: the storage lock (storage/lock.ts)
 * decides which one leads. The others run as followers: they answer the challenges the leader
 * publishes on the storage-directory board, report themselves healthy, and try the lock every few
 * seconds, taking over once its holder has given it up or gone stale (at once when the holder was a
 * process on this host that no longer exists, else after the lock's 60 s staleness).
 */
import type { Logger } from '../log.js';
import { StorageLock, StorageLockedError, type StorageLockOptions } from '../storage/lock.js';
import { isAborted, type Clock } from '../util/clock.js';
import { errorText } from '../util/error-text.js';

/** How often a follower tries the lock: a lock file read, so cheap even on NFS. */
export const LOCK_RETRY_MS = 2_000;

export type LockAttempt = { kind: 'acquired'; lock: StorageLock } | { kind: 'held'; by: string };

/** Takes the lock, or says why another instance has it; other failures (an unusable directory) throw. */
export async function tryStorageLock(options: StorageLockOptions): Promise<LockAttempt> {
  try {
    return { kind: 'acquired', lock: await StorageLock.acquire(options) };
  } catch (err) {
    if (err instanceof StorageLockedError) return { kind: 'held', by: err.message };
    throw err;
  }
}

export interface WaitOptions {
  lock: StorageLockOptions;
  clock: Clock;
  logger: Logger;
  signal: AbortSignal;
  retryMs?: number;
  /** Told each time the lock is found held, with who holds it (for /health and /status). */
  onHeld: (by: string) => void;
}

/** Tries the lock until it is ours; undefined when `signal` ends the wait first. */
export async function waitForStorageLock(options: WaitOptions): Promise<StorageLock | undefined> {
  const { clock, logger, signal } = options;
  while (!signal.aborted) {
    await clock.sleep(options.retryMs ?? LOCK_RETRY_MS, signal);
    if (isAborted(signal)) return undefined;
    try {
      const attempt = await tryStorageLock(options.lock);
      if (attempt.kind === 'acquired') {
        // Stopped while the lock was being taken: a stopping daemon must not start to lead.
        if (isAborted(signal)) {
          await attempt.lock.release();
          return undefined;
        }
        return attempt.lock;
      }
      options.onHeld(attempt.by);
    } catch (err) {
      logger.warn({ err: errorText(err) }, 'cannot try the storage lock; trying again shortly');
    }
  }
  return undefined;
}
