/**
 * Crash-safe file writes for the storage directory: the content goes to a temporary file that is
 * fsynced, then renamed (or hard-linked) into place, and the directory is fsynced, so that after a
 * crash a name holds either the old or the new content, never a mix. HAProxy refuses its whole
 * configuration over one unreadable file in certs/, and a half-written account key is an account lost.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, open, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errno, FileExistsError, StorageError, storageError } from './storage-errors.js';

/**
 * Writes `content` to a new file in `tmpDir`, synced, and returns its path. `recreateTmp` is called
 * once when the directory is missing (removed under us, or a write before the store's init).
 */
export async function writeTemporary(tmpDir: string, content: string, mode: number, recreateTmp: () => Promise<void>): Promise<string> {
  const path = join(tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
  const handle = await open(path, 'wx', mode).catch(async (err: unknown) => {
    if (errno(err) !== 'ENOENT') throw storageError(`cannot create a temporary file in ${tmpDir}`, err);
    await recreateTmp();
    return open(path, 'wx', mode).catch((retryErr: unknown) => {
      throw storageError(`cannot create a temporary file in ${tmpDir}`, retryErr);
    });
  });
  try {
    // open() applies the umask; the mode asked for is the mode wanted.
    await handle.chmod(mode);
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await rm(path, { force: true });
    throw storageError(`cannot write the temporary file ${path}`, err);
  }
  await handle.close();
  return path;
}

/** Renames the synced temporary file over `target` and syncs the target's directory. */
export async function replaceWith(temp: string, target: string): Promise<void> {
  try {
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw storageError(`cannot write ${target}`, err);
  }
  await fsyncDir(dirname(target));
}

/**
 * Puts the synced temporary file at `target` only if nothing is there: link(2) fails when the name
 * exists, so of two processes creating the same file, exactly one wins (the other gets FileExistsError).
 */
export async function createFrom(temp: string, target: string): Promise<void> {
  try {
    await link(temp, target);
  } catch (err) {
    const code = errno(err);
    if (code === 'EEXIST') {
      await rm(temp, { force: true });
      throw new FileExistsError(`${target} already exists; not replacing it`);
    }
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') {
      await rm(temp, { force: true });
      throw storageError(`cannot create ${target}`, err);
    }
    // No hard links on this filesystem (some network and FUSE ones). rename() cannot refuse to
    // replace, so check first: only two processes creating the file in the same instant can race.
    if (await exists(target)) {
      await rm(temp, { force: true });
      throw new FileExistsError(`${target} already exists; not replacing it`);
    }
    await rename(temp, target).catch(async (renameErr: unknown) => {
      await rm(temp, { force: true });
      throw storageError(`cannot create ${target}`, renameErr);
    });
    await fsyncDir(dirname(target));
    return;
  }
  // The target is complete and durable once the directory entry is; the temporary name is just extra.
  await fsyncDir(dirname(target));
  await unlink(temp).catch(() => undefined);
}

/** Directory entries are only durable once the directory itself is synced. */
export async function fsyncDir(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r');
    await handle.sync();
  } catch (err) {
    // Some filesystems cannot fsync a directory; they order metadata themselves.
    const code = errno(err);
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EISDIR') {
      throw new StorageError(`cannot sync directory ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  } finally {
    await handle?.close();
  }
}

/** Whether anything (a dangling link included) has this name. */
export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errno(err) === 'ENOENT') return false;
    throw err;
  }
}
