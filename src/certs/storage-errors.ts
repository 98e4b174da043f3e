/** The errors of the storage directory, with messages meant for the operator as they are. */

/** The storage directory cannot be used; the message is meant for the operator as is. */
export class StorageError extends Error {
  override readonly name: string = 'StorageError';
}

/** A create-only write found the file already there. */
export class FileExistsError extends StorageError {
  override readonly name: string = 'FileExistsError';
}

/** The temporary directory under the root; every write passes through it. */
export const TMP = '.tmp';

/** `what` failed because of `err`, said so that the operator can act (EXDEV gets its own advice). */
export function storageError(what: string, err: unknown): StorageError {
  if (errno(err) === 'EXDEV') {
    return new StorageError(`${what}: ${TMP}/ and the target are on different filesystems; keep the storage directory on one`, { cause: err });
  }
  return new StorageError(`${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

export function errno(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
