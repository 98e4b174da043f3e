/**
 * `marathon-acme status <storage-dir>`: reads the storage directory and prints what is stored, as a
 * table or as JSON. Read-only: unlike the daemon's start it creates nothing, moves no unusable file
 * and writes no state.json, so it is safe next to a running daemon and on a volume mounted read-only.
 */
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseBundle, type BundleResult } from '../certs/bundle.js';
import { CertStore, RETIRED, StorageError, UNMANAGED } from '../certs/store.js';
import { escapeControl } from '../log-format.js';
import { parseState, STATE_FILE, type DaemonState } from '../state/state.js';
import { buildStatus, type StatusLocation, type StatusRow, type StoredFile } from './report.js';

export interface StatusReport {
  storageDir: string;
  generatedAt: string;
  certificates: StatusRow[];
  /** What could not be taken into account (a damaged state.json); for stderr, not part of the report. */
  warnings: string[];
}

/** Far larger than any bundle (a few KiB); such a file is not read into memory. */
const MAX_FILE_BYTES = 1024 * 1024;
/** Files HAProxy reads next to a certificate, not as certificates. */
const SIDE_FILE = /\.(key|ocsp|issuer|sctl)$/;

/** Throws StorageError, with a message for the operator, when the directory cannot be read. */
export async function readStatus(storageDir: string, now: number): Promise<StatusReport> {
  await checkRoot(storageDir);
  const store = new CertStore(storageDir);
  const files: StoredFile[] = [];
  // A directory the daemon never started on has no certs/ yet: nothing is stored, which is no error.
  if (await isDirectory(join(storageDir, 'certs'))) {
    const { certs, corrupt } = await store.list();
    for (const cert of certs) files.push({ location: 'certs', file: `certs/${cert.name}.pem`, name: cert.name, content: { ok: true, bundle: cert.bundle } });
    for (const bad of corrupt) files.push({ location: 'certs', file: `certs/${bad.name}.pem`, name: bad.name, content: { ok: false, reason: bad.reason } });
  }
  files.push(...(await readLooseFiles(storageDir, UNMANAGED)), ...(await readLooseFiles(storageDir, RETIRED)));

  const warnings: string[] = [];
  let state: DaemonState | undefined;
  try {
    const text = await store.readText(STATE_FILE);
    if (text !== undefined) {
      const parsed = parseState(text);
      state = parsed.state;
      for (const problem of parsed.problems) warnings.push(`${STATE_FILE}: ${problem}; shown without it`);
    }
  } catch (err) {
    // The certificates themselves can still be shown; only app ports, failures and renewal times are missing.
    warnings.push(`${message(err)}; renewal times, failures and app ports are not shown`);
  }
  return { storageDir, generatedAt: new Date(now).toISOString(), certificates: buildStatus({ files, state, now }), warnings };
}

async function checkRoot(dir: string): Promise<void> {
  let info;
  try {
    info = await stat(dir);
  } catch (err) {
    if (errno(err) === 'ENOENT') throw new StorageError(`the storage directory ${dir} does not exist`, { cause: err });
    throw new StorageError(`cannot read the storage directory ${dir}: ${message(err)}`, { cause: err });
  }
  if (!info.isDirectory()) throw new StorageError(`the storage directory ${dir} is not a directory`);
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    if (errno(err) === 'ENOENT') return false;
    throw new StorageError(`cannot read ${path}: ${message(err)}`, { cause: err });
  }
}

/**
 * unmanaged-certs/ (the operator's own files, any name, the key possibly in a `<file>.key` side file
 * as HAProxy allows) and retired-certs/ (`<name>.pem`, `<name>.pem.1`... when a name was retired
 * more than once). A file that cannot be read is reported as unusable rather than failing the report.
 */
async function readLooseFiles(root: string, dir: Exclude<StatusLocation, 'certs'>): Promise<StoredFile[]> {
  const path = join(root, dir);
  let entries: string[];
  try {
    entries = await readdir(path);
  } catch (err) {
    if (errno(err) === 'ENOENT') return [];
    throw new StorageError(`cannot list ${path}: ${message(err)}`, { cause: err });
  }
  const present = new Set(entries);
  const files: StoredFile[] = [];
  for (const entry of entries.sort()) {
    if (entry.startsWith('.') || SIDE_FILE.test(entry)) continue;
    const name = dir === RETIRED ? entry.replace(/\.pem(\.\d+)?$/, '') : entry.replace(/\.pem$/, '');
    const sideKey = dir === UNMANAGED && present.has(`${entry}.key`) ? join(path, `${entry}.key`) : undefined;
    const content = await readBundle(join(path, entry), sideKey);
    if (content !== 'skip') files.push({ location: dir, file: `${dir}/${entry}`, name, content });
  }
  return files;
}

async function readBundle(path: string, sideKey: string | undefined): Promise<BundleResult | 'skip'> {
  try {
    let info;
    try {
      info = await stat(path);
    } catch (err) {
      // stat() follows symbolic links; a dangling one is worth reporting, anything else that vanished is not.
      if (errno(err) === 'ENOENT' && (await lstat(path).then((l) => l.isSymbolicLink(), () => false))) {
        return { ok: false, reason: 'it is a symbolic link to a file that does not exist' };
      }
      throw err;
    }
    if (!info.isFile()) return 'skip';
    if (info.size > MAX_FILE_BYTES) return { ok: false, reason: `it is ${info.size} bytes, far too large for a certificate bundle` };
    const text = await readFile(path, 'utf8');
    return parseBundle(sideKey === undefined ? text : `${text}\n${await readFile(sideKey, 'utf8')}`);
  } catch (err) {
    if (errno(err) === 'ENOENT') return 'skip';
    return { ok: false, reason: `it cannot be read: ${message(err)}` };
  }
}

const HEADER = ['STATE', 'NAMES', 'NOT AFTER', 'DAYS', 'KEY', 'ISSUER', 'APP', 'REASON'] as const;
/** More names than this are summed up as "+N more"; --json has them all. */
const NAMES_SHOWN = 3;

/** One line per certificate, columns aligned; the reason, of any length, last. */
export function formatStatusTable(report: StatusReport): string {
  if (report.certificates.length === 0) return `no certificates stored in ${escapeControl(report.storageDir)}\n`;
  const rows = report.certificates.map((r) =>
    [
      r.state,
      r.names.length === 0 ? r.name : r.names.slice(0, NAMES_SHOWN).join(',') + (r.names.length > NAMES_SHOWN ? ` +${r.names.length - NAMES_SHOWN} more` : ''),
      r.notAfter?.replace(/\.\d{3}Z$/, 'Z') ?? '-',
      r.daysLeft === null ? '-' : String(r.daysLeft),
      r.keyType ?? '-',
      r.issuer ?? '-',
      r.appId === null ? '-' : `${r.appId} port ${r.portIndex ?? '?'}`,
      r.reason,
    ].map(escapeControl),
  );
  const table = [[...HEADER], ...rows];
  const widths = HEADER.map((_, i) => Math.max(...table.map((cells) => cells[i]?.length ?? 0)));
  const days = HEADER.indexOf('DAYS');
  return table
    .map((cells) =>
      cells
        .map((cell, i) => (i === cells.length - 1 ? cell : i === days ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
        .join('  '),
    )
    .join('\n')
    .concat('\n');
}

/** The report as JSON: `storageDir`, `generatedAt` and `certificates`, one object per row. */
export function formatStatusJson(report: StatusReport): string {
  const { storageDir, generatedAt, certificates } = report;
  return `${JSON.stringify({ storageDir, generatedAt, certificates }, null, 2)}\n`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function errno(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
