/**
 * How a one-shot command that changes the storage directory (`account rollover`, `revoke`) runs:
 * as the directory's owner, with the directory's lock held from start to end, so that no daemon
 * works on it meanwhile. A daemon holding it is not waited for: the command says to stop it.
 */
import { stat } from 'node:fs/promises';
import { StorageError } from '../certs/store.js';
import type { Logger } from '../log.js';
import type { Clock } from '../util/clock.js';
import { StorageLock, StorageLockedError } from './lock.js';
import { ownershipRefusal } from './ownership.js';

/** `text` goes to stdout whatever the outcome; `code` is the exit status. */
export interface CommandOutcome {
  code: number;
  text: string;
}

export interface LockedRunOptions {
  dir: string;
  /** Shown to whoever is refused the lock meanwhile, e.g. `account rollover`. */
  purpose: string;
  /**
   * A refusal found without the lock (a name with no file in certs/, say): a usage mistake is
   * reported as such even while a daemon runs.
   */
  precheck?: (() => Promise<CommandOutcome | undefined>) | undefined;
  clock: Clock;
  logger: Logger;
}

export async function runWithStorageLock(options: LockedRunOptions, work: () => Promise<CommandOutcome>): Promise<CommandOutcome> {
  const { dir } = options;
  const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
  if (!isDir) return { code: 1, text: `storage directory ${dir} does not exist\n` };
  const refusal = await ownershipRefusal(dir);
  if (refusal !== undefined) return { code: 1, text: `${refusal}\n` };
  const early = await options.precheck?.();
  if (early !== undefined) return early;
  let lost: Error | undefined;
  let lock: StorageLock;
  try {
    lock = await StorageLock.acquire({ dir, purpose: options.purpose, clock: options.clock, logger: options.logger, onLost: (err) => { lost = err; } });
  } catch (err) {
    if (err instanceof StorageLockedError) return { code: 1, text: `${err.message}\n${advice(err, options.purpose)}\n` };
    if (err instanceof StorageError) return { code: 1, text: `${err.message}\n` };
    throw err;
  }
  try {
    const outcome = await work();
    // Set by the heartbeat: another process took the directory over while this one worked.
    return lost === undefined ? outcome : { code: 1, text: `${outcome.text}${lost.message}\n` };
  } finally {
    await lock.release();
  }
}

/**
 * A running daemon holds what these commands change (the account key in memory, certs/ on disk), so
 * they do not go around it: the daemon stops, the command runs, the daemon starts again.
 */
function advice(err: StorageLockedError, purpose: string): string {
  if (err.holder?.purpose === 'daemon') return `Stop the daemon first (or run \`marathon-acme ${purpose}\` in its place), then start it again afterwards.`;
  return 'Try again when that process is done.';
}
