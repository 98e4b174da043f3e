/**
 * The storage directory shared with marathon-lb, in the original's layout:
 *
 *   <root>/certs/<name>.pem   managed bundles; HAProxy loads EVERY file in here (a file serves its
 *                             name in lower case, see file-names.ts)
 *   <root>/default.pem        fallback certificate; HAProxy needs it before any real certificate exists
 *   <root>/unmanaged-certs/   the operator's own certificates; created, never touched
 *   <root>/client.key         the ACME account key
 *   <root>/.tmp/              ours: temporary files, on the same filesystem so rename is atomic
 *   <root>/corrupt-certs/     ours: unusable bundles moved out of certs/, never deleted
 *
 * This class is the only writer. Every write goes through a temporary file in .tmp/ that is fsynced and
 * then renamed (or hard-linked) into place, so a crash or a concurrent HAProxy reload never sees a
 * partial file: HAProxy refuses its whole configuration over one unreadable file in certs/.
 */
import { constants } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import type { Bundle } from './bundle.js';
import { loadBundleFile, type FileIdentity, type Loaded } from './bundle-file.js';
import { createFallbackCertificate } from './default-cert.js';
import { createFrom, exists, fsyncDir, replaceWith, writeTemporary } from './durable-files.js';
import { servedName, splitDuplicates } from './file-names.js';
import { errno, FileExistsError, StorageError, storageError, TMP } from './storage-errors.js';
import { Limiter } from '../util/limiter.js';

export { sameFile, type FileIdentity } from './bundle-file.js';
export { FileExistsError, StorageError } from './storage-errors.js';

export interface StoredCert {
  /** The name the file serves: its file name without `.pem`, in lower case. */
  name: string;
  /** The file name without `.pem`; differs from `name` in letter case only (files named by the original). */
  file: string;
  path: string;
  bundle: Bundle;
  /**
   * The file this bundle was read from; undefined when it had changed too recently for a later change
   * to be told from it (see TIMESTAMP_GRANULARITY_MS).
   */
  identity: FileIdentity | undefined;
}

export interface ListOptions {
  /**
   * Asked for each file once it is known to be there (with the name it serves); true skips reading
   * and parsing it, and lists its name in `unchanged` instead. Not asked for files that share their
   * name with another file: choosing between them takes their contents.
   */
  unchanged?: ((name: string, identity: FileIdentity) => boolean) | undefined;
}

/** A usable file in certs/ serving the same name as another one, which is kept (see file-names.ts). */
export interface DuplicateCert extends StoredCert {
  /** The file (without `.pem`) kept for the name. */
  kept: string;
}

export interface Listing {
  /** One file per name. */
  certs: StoredCert[];
  corrupt: CorruptCert[];
  /** Names whose file `unchanged` vouched for. */
  unchanged: string[];
  /** The other usable files of names served by more than one file. */
  duplicates: DuplicateCert[];
}

export interface CorruptCert {
  /** The name the file serves (lower case). */
  name: string;
  /** The file name without `.pem`. */
  file: string;
  path: string;
  reason: string;
}

export interface StoreLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface CertStoreOptions {
  logger?: StoreLogger;
  /** The wall clock the filesystem's timestamps are compared with; tests move it. */
  now?: (() => number) | undefined;
}

const CERTS = 'certs';
/** Hand-kept certificates marathon-lb also loads; never touched by the daemon. */
export const UNMANAGED = 'unmanaged-certs';
const CORRUPT = 'corrupt-certs';
/** Certificates no app wants any more, moved out of certs/ (never deleted). */
export const RETIRED = 'retired-certs';
const DEFAULT_PEM = 'default.pem';
const CLIENT_KEY = 'client.key';
const PRIVATE = 0o600;
/** 255 bytes per file name on common filesystems, minus `.pem`. */
const MAX_NAME_LENGTH = 251;
const CONTROL = /[\u0000-\u001f\u007f]/;
const LIST_CONCURRENCY = 8;

export class CertStore {
  readonly root: string;
  private readonly logger: StoreLogger | undefined;
  private readonly now: () => number;

  constructor(root: string, options?: CertStoreOptions) {
    this.root = root;
    this.logger = options?.logger;
    this.now = options?.now ?? Date.now;
  }

  /**
   * Prepares the directory for marathon-lb and for us. Only the root must exist already (as in the
   * original): creating it would hide a wrong path or a volume that failed to mount.
   */
  async init(now: Date): Promise<void> {
    await this.checkRoot();
    await this.ensureDir(TMP, 0o700);
    await this.removeStaleTemporaries();
    await this.ensureDir(CERTS, 0o755);
    await this.ensureDir(UNMANAGED, 0o755);
    await this.ensureDefaultCertificate(now);
  }

  /**
   * Every `*.pem` file in certs/ (dot-files and other names skipped), sorted by file name, each under
   * the name it serves. Files that `options.unchanged` vouches for are only named in `unchanged`, not
   * read.
   */
  async list(options: ListOptions = {}): Promise<Listing> {
    const dir = join(this.root, CERTS);
    const files = await this.certFiles();
    const seen = new Set<string>();
    const shared = new Set<string>();
    for (const file of files) {
      const name = servedName(file);
      if (seen.has(name)) shared.add(name);
      seen.add(name);
    }
    const isUnchanged = options.unchanged;
    // Read one at a time, each file waits on five round trips to libuv's threads (1.8 s of the 3.8 s
    // that 5,000 took); with a few in flight, parsing one overlaps reading the next.
    const limiter = new Limiter(LIST_CONCURRENCY);
    const listed = await Promise.all(
      files.map((file) =>
        limiter.run(async () => {
          const name = servedName(file);
          const path = join(dir, `${file}.pem`);
          const check = isUnchanged === undefined || shared.has(name) ? undefined : (identity: FileIdentity) => isUnchanged(name, identity);
          return { name, file, path, loaded: await this.load(path, false, check) };
        }),
      ),
    );
    const usable: StoredCert[] = [];
    const corrupt: CorruptCert[] = [];
    const unchanged: string[] = [];
    for (const { name, file, path, loaded } of listed) {
      if (loaded === 'skip') continue;
      if (loaded === 'unchanged') unchanged.push(name);
      else if (loaded.ok) usable.push({ name, file, path, bundle: loaded.bundle, identity: loaded.identity });
      else corrupt.push({ name, file, path, reason: loaded.reason });
    }
    const { kept, shadowed } = splitDuplicates(usable, (c) => ({ name: c.name, file: c.file, notAfter: c.bundle.leaf.notAfter.getTime() }));
    return { certs: kept, corrupt, unchanged, duplicates: shadowed.map(({ item, keptFile }) => ({ ...item, kept: keptFile })) };
  }

  /** The names served by the `*.pem` files in certs/, without reading them; empty when there is no certs/. */
  async servedNames(): Promise<Set<string>> {
    try {
      return new Set((await this.certFiles()).map(servedName));
    } catch (err) {
      if (err instanceof StorageError && errno(err.cause) === 'ENOENT') return new Set();
      throw err;
    }
  }

  /** The file names in certs/ (without `.pem`) that are bundles to manage, sorted. */
  private async certFiles(): Promise<string[]> {
    const dir = join(this.root, CERTS);
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch (err) {
      throw this.error(`cannot list ${dir}`, err);
    }
    const present = new Set(entries);
    return entries
      .sort()
      .filter((file) => !file.startsWith('.') && file.endsWith('.pem') && file !== '.pem')
      // HAProxy pairs `x.pem` with a side file `x.pem.key`; such a pair is someone's hand-made setup
      // that HAProxy accepts, not a bundle of ours, so it is neither managed nor moved.
      .filter((file) => !present.has(`${file}.key`))
      .map((file) => file.slice(0, -'.pem'.length));
  }

  /**
   * certs/<file>.pem; undefined when there is no such file; throws StorageError when the file is there
   * but unusable.
   */
  async read(file: string): Promise<StoredCert | undefined> {
    assertCertName(file);
    const path = this.certPath(file);
    const loaded = await this.load(path);
    if (loaded === 'skip') return undefined;
    if (!loaded.ok) throw new StorageError(`${path} is not a usable certificate bundle: ${loaded.reason}`);
    return { name: servedName(file), file, path, bundle: loaded.bundle, identity: loaded.identity };
  }

  /**
   * `current`: the file (without `.pem`) that serves `name` now, when it is named in other letter
   * case. It is renamed to `<name>.pem` first and then replaced like any other: two atomic renames in
   * certs/, so that at every moment (a crash or an HAProxy reload included) exactly one file there
   * serves the name. Writing `<name>.pem` beside it and then moving it out would leave a moment, or
   * after a crash a lasting state, where HAProxy holds two certificates for one name and presents
   * either. Its content is replaced, as every renewal replaces the one before.
   */
  async write(name: string, bundleText: string, current?: string): Promise<void> {
    assertCertName(name);
    if (current !== undefined && current !== name) await this.renameToServedName(current, name);
    await this.writeFileAtomic(`${CERTS}/${name}.pem`, bundleText, PRIVATE);
  }

  /** Needs no directory sync of its own: the write that follows syncs certs/, which holds both names. */
  private async renameToServedName(file: string, name: string): Promise<void> {
    assertPlainFileName(file);
    const from = this.certPath(file);
    const to = this.certPath(name);
    try {
      await rename(from, to);
    } catch (err) {
      // Gone already (moved by hand, or an earlier attempt renamed it and then failed to write).
      if (errno(err) === 'ENOENT') return;
      throw this.error(`cannot rename ${from} to ${to}`, err);
    }
    this.logger?.info({ file: `${CERTS}/${file}.pem`, renamedTo: `${CERTS}/${name}.pem` }, 'renamed a certificate file to the lower-case name it serves, to write its new certificate there');
  }

  /**
   * Takes a bad file out of HAProxy's sight without losing it: it may be the operator's only copy of
   * something, and the reason it failed is worth a look.
   */
  async moveAside(file: string, reason: string): Promise<string> {
    const to = await this.moveOut(file, CORRUPT, `${file}.pem.${fileTimestamp(new Date())}`);
    this.logger?.warn({ file: `${CERTS}/${file}.pem`, movedTo: to, reason }, 'moved an unusable certificate file out of certs/');
    return to;
  }

  /**
   * Takes a certificate nobody wants any more out of HAProxy's directory into retired-certs/, where
   * it stays (never deleted) in case it is wanted back or needed for revocation. `file`: the file
   * serving `name`, when it is named in other letter case; it is retired under `name`.
   */
  async retire(name: string, file: string = name): Promise<string> {
    assertPlainFileName(name);
    return this.moveOut(file, RETIRED, `${name}.pem`);
  }

  private async moveOut(file: string, dirName: string, fileName: string): Promise<string> {
    assertPlainFileName(file);
    const from = this.certPath(file);
    const dir = join(this.root, dirName);
    await this.ensureDir(dirName, 0o700);
    const base = join(dir, fileName);
    let to = base;
    for (let n = 1; await exists(to); n++) to = `${base}.${n}`;
    try {
      await rename(from, to);
    } catch (err) {
      throw this.error(`cannot move ${from} to ${to}`, err);
    }
    await fsyncDir(dirname(from));
    await fsyncDir(dir);
    return to;
  }

  async readAccountKey(): Promise<string | undefined> {
    return this.readText(CLIENT_KEY);
  }

  /** A file of ours under the root, as text; undefined when it does not exist. */
  async readText(relativePath: string): Promise<string | undefined> {
    const path = this.resolve(relativePath);
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw this.error(`cannot read ${path}`, err);
    }
  }

  /**
   * Create-only. Two processes starting on an empty directory must not both create an account key, as
   * the loser's ACME account would be silently abandoned: the complete file is hard-linked into place,
   * and link(2) fails when the name exists (throws FileExistsError here).
   */
  async writeAccountKey(pem: string): Promise<void> {
    await this.createFileAtomic(CLIENT_KEY, pem, PRIVATE);
  }

  /**
   * Create-only, like writeAccountKey, for a private file under directories of ours that are made
   * (owner-only) when missing: another CA's account key in accounts/<host>/.
   */
  async createPrivateFile(relativePath: string, content: string): Promise<void> {
    const parts = normalize(relativePath).split(sep).slice(0, -1);
    for (let i = 1; i <= parts.length; i++) await this.ensureDir(parts.slice(0, i).join(sep), 0o700);
    await this.createFileAtomic(relativePath, content, PRIVATE);
  }

  /**
   * Replaces `relativePath` (inside the root, its directory existing) with `content`: temporary file in
   * .tmp/, fsync, rename over the target, fsync the target's directory, so that after a crash the name
   * holds either the old or the new content, never a mix, and the new content once this resolves.
   */
  async writeFileAtomic(relativePath: string, content: string, mode: number): Promise<void> {
    const target = this.resolve(relativePath);
    await replaceWith(await this.writeTemporary(content, mode), target);
  }

  /** Like writeFileAtomic, but fails with FileExistsError instead of replacing an existing file. */
  private async createFileAtomic(relativePath: string, content: string, mode: number): Promise<void> {
    const target = this.resolve(relativePath);
    await createFrom(await this.writeTemporary(content, mode), target);
  }

  private writeTemporary(content: string, mode: number): Promise<string> {
    // Missing when written before init() ran, or when the directory was removed under us.
    return writeTemporary(join(this.root, TMP), content, mode, () => this.ensureDir(TMP, 0o700));
  }

  private async checkRoot(): Promise<void> {
    let info;
    try {
      info = await stat(this.root);
    } catch (err) {
      const code = errno(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new StorageError(`storage directory ${this.root} does not exist`);
      throw this.error(`storage directory ${this.root} cannot be accessed`, err);
    }
    if (!info.isDirectory()) throw new StorageError(`storage directory ${this.root} is not a directory`);
    try {
      // W_OK also reports a read-only filesystem (EROFS), which is the case that catches root.
      await access(this.root, constants.W_OK | constants.X_OK);
    } catch {
      throw new StorageError(`storage directory ${this.root} is not writable`);
    }
  }

  private async ensureDir(relativePath: string, mode: number): Promise<void> {
    const path = join(this.root, relativePath);
    const created = await mkdir(path, { mode }).then(
      () => true,
      (err: unknown) => {
        const code = errno(err);
        if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
          throw new StorageError(`storage directory ${this.root} is not writable (cannot create ${relativePath}/)`);
        }
        if (code !== 'EEXIST') throw this.error(`cannot create ${path}`, err);
        return false;
      },
    );
    if (created) {
      await fsyncDir(this.root);
      return;
    }
    const info = await stat(path).catch((err: unknown) => {
      throw this.error(`cannot access ${path}`, err);
    });
    if (!info.isDirectory()) throw new StorageError(`${path} exists but is not a directory`);
  }

  /**
   * A crash between creating a temporary file and renaming it leaves the file behind. Everything in
   * .tmp/ at start-up is such a leftover: one daemon per storage directory is the supported setup (two
   * would order and renew the same certificates), and a half-written key is of no use to anyone.
   */
  private async removeStaleTemporaries(): Promise<void> {
    const dir = join(this.root, TMP);
    const entries = await readdir(dir).catch((err: unknown) => {
      throw this.error(`cannot list ${dir}`, err);
    });
    for (const entry of entries) {
      await rm(join(dir, entry), { recursive: true, force: true }).catch((err: unknown) => {
        throw this.error(`cannot remove the leftover temporary file ${join(dir, entry)}`, err);
      });
    }
    if (entries.length > 0) {
      this.logger?.info({ dir, count: entries.length }, 'removed temporary files left by an earlier run');
    }
  }

  /** Never replaces an existing default.pem, even a broken one: an operator may have put their own there. */
  private async ensureDefaultCertificate(now: Date): Promise<void> {
    const path = join(this.root, DEFAULT_PEM);
    const existing = await this.load(path, true);
    if (existing === 'skip') {
      try {
        await this.createFileAtomic(DEFAULT_PEM, await createFallbackCertificate(now), PRIVATE);
        this.logger?.info({ file: path }, 'created the fallback certificate default.pem');
      } catch (err) {
        if (!(err instanceof FileExistsError)) throw err;
      }
      return;
    }
    if (!existing.ok) {
      this.logger?.warn(
        { file: path, reason: existing.reason },
        'default.pem is not a usable certificate bundle, so HAProxy will refuse its configuration; it is left as it is',
      );
    }
  }

  private load(path: string, reportNonFiles?: boolean): Promise<Loaded>;
  private load(path: string, reportNonFiles: boolean, unchanged: ((identity: FileIdentity) => boolean) | undefined): Promise<Loaded | 'unchanged'>;
  private load(path: string, reportNonFiles = false, unchanged?: (identity: FileIdentity) => boolean): Promise<Loaded | 'unchanged'> {
    return loadBundleFile(path, this.now(), reportNonFiles, unchanged);
  }

  private certPath(name: string): string {
    return join(this.root, CERTS, `${name}.pem`);
  }

  /** Keeps callers inside the root and out of .tmp/, whatever string they pass. */
  private resolve(relativePath: string): string {
    const normal = normalize(relativePath);
    const parts = normal.split(sep);
    if (
      relativePath === '' ||
      isAbsolute(relativePath) ||
      CONTROL.test(relativePath) ||
      normal !== relativePath ||
      parts.some((p) => p === '..' || p === '.' || p === '') ||
      parts[0] === TMP
    ) {
      throw new StorageError(`refusing to write "${relativePath}": not a plain path inside the storage directory`);
    }
    return join(this.root, normal);
  }

  private error(what: string, err: unknown): StorageError {
    return storageError(what, err);
  }
}

/**
 * Names come from host names the daemon normalised, but they end up in a path, so check anyway: no
 * separators, no `..`, no leading dot (HAProxy skips dot-files, and .tmp/.pem tricks stay impossible).
 */
function assertCertName(name: string): void {
  assertPlainFileName(name);
  if (name.includes('..')) throw new StorageError(`unsafe certificate name "${name}": it contains ".."`);
}

/** The weaker check for names read back from certs/, which may hold anything an operator dropped in. */
function assertPlainFileName(name: string): void {
  if (name === '' || name.length > MAX_NAME_LENGTH) {
    throw new StorageError(`unsafe certificate name "${name}": it must have 1 to ${MAX_NAME_LENGTH} characters`);
  }
  if (name.includes('/') || name.includes('\\') || CONTROL.test(name)) {
    throw new StorageError(`unsafe certificate name ${JSON.stringify(name)}: it contains a path separator or control character`);
  }
  if (name.startsWith('.')) throw new StorageError(`unsafe certificate name "${name}": it starts with "."`);
}

/** 2026-11-28T15:10:08.123Z → 20261128T151008.123Z: sortable, and no colons for tools that mind them. */
function fileTimestamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '');
}

