/**
 * The files of protocol.ts in `<storage-dir>/requests/`: written whole (a temporary dot-file in the
 * same directory, renamed into place, so neither side ever reads half a file), taken by rename,
 * removed by whoever is done with them.
 */
import { randomBytes } from 'node:crypto';
import { chown, mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { REQUESTS_DIR, requestFileName } from './protocol.js';
import { errorText } from '../util/error-text.js';

/** Only the daemon's user (and root) may ask it for anything. */
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
/** A request or an answer is a few KiB even for thousands of names; a larger file is not one of ours. */
const MAX_FILE_BYTES = 8 * 1024 * 1024;

export interface ListedFile {
  fileName: string;
  /** When the file was last written, by the filesystem's clock. */
  mtimeMs: number;
}

export class RequestFiles {
  readonly dir: string;

  constructor(storageDir: string) {
    this.dir = join(storageDir, REQUESTS_DIR);
  }

  /** Creates requests/ unless it exists; `owner` gives a directory root created to the daemon's user. */
  async ensureDir(owner?: { uid: number; gid: number }): Promise<void> {
    try {
      await mkdir(this.dir, { mode: DIR_MODE });
    } catch (err) {
      if (errno(err) === 'EEXIST') return;
      throw new Error(`cannot create ${this.dir}: ${errorText(err)}`, { cause: err });
    }
    if (owner !== undefined) await chown(this.dir, owner.uid, owner.gid);
  }

  /** Who owns requests/: the daemon's user, since the daemon creates it at start. */
  async owner(): Promise<{ uid: number; gid: number }> {
    const info = await stat(this.dir);
    return { uid: info.uid, gid: info.gid };
  }

  /**
   * Writes `fileName` whole, mode 0600. `owner`: the file's owner, for a root process writing for the
   * daemon's user (who must be able to rename and read it).
   */
  async write(fileName: string, content: string, owner?: { uid: number; gid: number }): Promise<void> {
    const target = join(this.dir, fileName);
    const temp = join(this.dir, `.${fileName}.${randomBytes(6).toString('hex')}`);
    try {
      const handle = await open(temp, 'wx', FILE_MODE);
      try {
        await handle.chmod(FILE_MODE);
        if (owner !== undefined) await handle.chown(owner.uid, owner.gid);
        await handle.writeFile(content, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw new Error(`cannot write ${target}: ${errorText(err)}`, { cause: err });
    }
  }

  /** Every file in requests/, dot-files included; none when the directory does not exist. */
  async list(): Promise<ListedFile[]> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch (err) {
      if (errno(err) === 'ENOENT') return [];
      throw new Error(`cannot list ${this.dir}: ${errorText(err)}`, { cause: err });
    }
    const listed: ListedFile[] = [];
    for (const fileName of entries.sort()) {
      const info = await stat(join(this.dir, fileName)).catch(() => undefined);
      if (info?.isFile() === true) listed.push({ fileName, mtimeMs: info.mtimeMs });
    }
    return listed;
  }

  /** The file's text; undefined when it is not there (any more). */
  async read(fileName: string): Promise<string | undefined> {
    const path = join(this.dir, fileName);
    try {
      const info = await stat(path);
      if (info.size > MAX_FILE_BYTES) throw new Error(`${path} is ${info.size} bytes, too large for a renew request or answer`);
      return await readFile(path, 'utf8');
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * Renames the request to its `.taken` name: true when this call took it, false when it was gone
   * (withdrawn by the command that wrote it, or taken already).
   */
  async take(id: string): Promise<boolean> {
    try {
      await rename(join(this.dir, requestFileName(id, 'request')), join(this.dir, requestFileName(id, 'taken')));
      return true;
    } catch (err) {
      if (errno(err) === 'ENOENT') return false;
      throw new Error(`cannot take the renew request ${id} in ${this.dir}: ${errorText(err)}`, { cause: err });
    }
  }

  /** true when this call removed the file, false when it was not there. */
  async remove(fileName: string): Promise<boolean> {
    try {
      await unlink(join(this.dir, fileName));
      return true;
    } catch (err) {
      if (errno(err) === 'ENOENT') return false;
      throw new Error(`cannot remove ${join(this.dir, fileName)}: ${errorText(err)}`, { cause: err });
    }
  }
}

function errno(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
