/**
 * Reading one bundle file from the storage directory, and telling one version of a file from the next
 * without reading it (so that a refresh of 5,000 bundles only parses the ones that changed).
 */
import { lstat, readFile, stat } from 'node:fs/promises';
import { parseBundle, type Bundle } from './bundle.js';
import { errno, storageError } from './storage-errors.js';

/**
 * What tells one version of a file from the next without reading it: every write of ours renames a
 * new inode into place, and any other write changes the size or the timestamps.
 */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

export type Loaded = 'skip' | { ok: true; bundle: Bundle; identity: FileIdentity | undefined } | { ok: false; reason: string };

/** A bundle is a few KiB; anything this large is not one, and is not worth reading into memory. */
const MAX_BUNDLE_BYTES = 1024 * 1024;
/**
 * A write in the same timestamp tick as the one before leaves the timestamps as they were, and a
 * same-size rewrite in place then leaves the whole identity unchanged. So an identity counts only
 * once the file's ctime is this far in the past: more than Linux filesystems' tick (at most 10 ms),
 * and than the one second of filesystems that keep whole seconds.
 */
const TIMESTAMP_GRANULARITY_MS = 1000;

export function sameFile(a: FileIdentity | undefined, b: FileIdentity): boolean {
  return a !== undefined && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

/**
 * 'skip' when there is nothing to read: no file, or a directory or other non-file (reported as
 * unusable instead with `reportNonFiles`); 'unchanged' when `unchanged` says so of the file's identity.
 * `now` decides whether the identity has settled (see TIMESTAMP_GRANULARITY_MS).
 */
export async function loadBundleFile(
  path: string,
  now: number,
  reportNonFiles: boolean,
  unchanged?: (identity: FileIdentity) => boolean,
): Promise<Loaded | 'unchanged'> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    if (errno(err) !== 'ENOENT') throw storageError(`cannot access ${path}`, err);
    // stat() follows symbolic links; a dangling one still breaks HAProxy and so is reported.
    const isLink = await lstat(path).then((l) => l.isSymbolicLink(), () => false);
    return isLink ? { ok: false, reason: 'it is a symbolic link to a file that does not exist' } : 'skip';
  }
  if (!info.isFile()) return reportNonFiles ? { ok: false, reason: 'it is not a regular file' } : 'skip';
  const identity: FileIdentity = { dev: info.dev, ino: info.ino, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs };
  if (unchanged?.(identity) === true) return 'unchanged';
  // The content read below is at least as new as `identity`; a change after it shows as another identity.
  const settled = now - info.ctimeMs >= TIMESTAMP_GRANULARITY_MS;
  if (info.size > MAX_BUNDLE_BYTES) return { ok: false, reason: `it is ${info.size} bytes, far too large for a certificate bundle` };
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (errno(err) === 'ENOENT') return 'skip';
    throw storageError(`cannot read ${path}`, err);
  }
  const parsed = parseBundle(text);
  return parsed.ok ? { ok: true, bundle: parsed.bundle, identity: settled ? identity : undefined } : parsed;
}
