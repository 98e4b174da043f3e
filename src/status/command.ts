/**
 * `marathon-acme status <storage-dir>`: reads the storage directory and prints what is stored, the
 * names that failed without a certificate (state.json) and what each marathon-lb served at the last
 * delivery check (delivery.json), as a table or as JSON. Read-only: unlike the daemon's start it
 * creates nothing, moves no unusable file and writes no state.json, so it is safe next to a running
 * daemon and on a volume mounted read-only. The daemon builds /status from the same function.
 */
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseBundle, type BundleResult } from '../certs/bundle.js';
import { CertStore, RETIRED, StorageError, UNMANAGED } from '../certs/store.js';
import { DELIVERY_FILE, readDeliveryFile } from '../delivery/delivery-file.js';
import { escapeControl } from '../log-format.js';
import { parseState, STATE_FILE, type DaemonState } from '../state/state.js';
import { deliveryView, type DeliveryInput, type DeliveryView } from './delivery-rows.js';
import { count } from './html.js';
import { buildStatus, type StatusLocation, type StatusRow, type StoredFile } from './report.js';
import type { WantedCertificate } from './wanted-rows.js';
import { caStatusList, caSummaries, type CaStatus } from './budget-view.js';
import { issuedBy } from './wording.js';
import { errorText } from '../util/error-text.js';

/** What the daemon knows beyond the storage directory; offline there is none of it. */
export interface LiveSources {
  /** The certificates apps want, from the last successful sync. */
  wanted?: readonly WantedCertificate[] | undefined;
  /** The delivery check's current records; without them delivery.json is read. */
  delivery?: DeliveryInput | undefined;
}

export interface StatusReport {
  storageDir: string;
  generatedAt: string;
  /** Per-LB delivery counts from the records; null when there are none (no check, no delivery.json). */
  delivery: DeliveryView | null;
  /** What is left of the client-side rate budget; null before a daemon wrote its limits to state.json. */
  /** The CAs orders go to, primary first, with what is left of each one's rate budget. */
  cas: CaStatus[];
  certificates: StatusRow[];
  /** What could not be taken into account (a damaged state.json); for stderr, not part of the report. */
  warnings: string[];
}

/** Far larger than any bundle (a few KiB); such a file is not read into memory. */
const MAX_FILE_BYTES = 1024 * 1024;
/** Files HAProxy reads next to a certificate, not as certificates. */
const SIDE_FILE = /\.(key|ocsp|issuer|sctl)$/;

/** Throws StorageError, with a message for the operator, when the directory cannot be read. */
export async function readStatus(storageDir: string, now: number, live: LiveSources = {}): Promise<StatusReport> {
  await checkRoot(storageDir);
  const store = new CertStore(storageDir);
  const files: StoredFile[] = [];
  // A directory the daemon never started on has no certs/ yet: nothing is stored, which is no error.
  if (await isDirectory(join(storageDir, 'certs'))) {
    const { certs, corrupt, duplicates } = await store.list();
    // Under the name each file serves: `certs/Example.com.pem` is example.com's (see file-names.ts).
    for (const cert of [...certs, ...duplicates]) files.push({ location: 'certs', file: `certs/${cert.file}.pem`, name: cert.name, content: { ok: true, bundle: cert.bundle } });
    for (const bad of corrupt) files.push({ location: 'certs', file: `certs/${bad.file}.pem`, name: bad.name, content: { ok: false, reason: bad.reason } });
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
    warnings.push(`${errorText(err)}; renewal times, failures and app ports are not shown`);
  }
  const delivery = live.delivery ?? (await readDelivery(storageDir, warnings));
  return {
    storageDir,
    generatedAt: new Date(now).toISOString(),
    delivery: delivery === undefined ? null : deliveryView(delivery),
    cas: state === undefined ? [] : caStatusList(state.cas, now),
    certificates: buildStatus({ files, state, now, wanted: live.wanted, delivery }),
    warnings,
  };
}

async function readDelivery(storageDir: string, warnings: string[]): Promise<DeliveryInput | undefined> {
  const content = await readDeliveryFile(storageDir);
  if (content === undefined) return undefined;
  for (const problem of content.problems) warnings.push(`${DELIVERY_FILE}: ${problem}`);
  return { checkPort: content.checkPort, records: content.records };
}

async function checkRoot(dir: string): Promise<void> {
  let info;
  try {
    info = await stat(dir);
  } catch (err) {
    if (errno(err) === 'ENOENT') throw new StorageError(`the storage directory ${dir} does not exist`, { cause: err });
    throw new StorageError(`cannot read the storage directory ${dir}: ${errorText(err)}`, { cause: err });
  }
  if (!info.isDirectory()) throw new StorageError(`the storage directory ${dir} is not a directory`);
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    if (errno(err) === 'ENOENT') return false;
    throw new StorageError(`cannot read ${path}: ${errorText(err)}`, { cause: err });
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
    throw new StorageError(`cannot list ${path}: ${errorText(err)}`, { cause: err });
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
    return { ok: false, reason: `it cannot be read: ${errorText(err)}` };
  }
}

const HEADER = ['STATE', 'NAMES', 'NOT AFTER', 'DAYS', 'KEY', 'ISSUER', 'APP', 'SERVED', 'REASON'] as const;
/** More names than this are summed up as "+N more"; --json has them all. */
const NAMES_SHOWN = 3;

/** `3/3`: how many LBs served the stored certificate at their last check; `-` where none was checked. */
function served(row: StatusRow): string {
  if (row.delivery.length === 0) return '-';
  const n = row.delivery.filter((d) => d.status === 'served').length;
  return `${n}/${row.delivery.length}${row.delivery.some((d) => d.failing) ? ' FAILING' : ''}`;
}

/**
 * One line per certificate or name, columns aligned; the reason, of any length, last. The delivery
 * check, when there was one, follows: per LB its counts and when it was last checked.
 */
export function formatStatusTable(report: StatusReport): string {
  const cas = caSummaries(report.cas).map((line) => escapeControl(line));
  const foot = `${formatDelivery(report.delivery)}${cas.length === 0 ? '' : `\n${cas.join('\n')}\n`}`;
  if (report.certificates.length === 0) return `no certificates stored in ${escapeControl(report.storageDir)}\n${foot}`;
  const rows = report.certificates.map((r) =>
    [
      r.state,
      r.names.length === 0 ? r.name : r.names.slice(0, NAMES_SHOWN).join(',') + (r.names.length > NAMES_SHOWN ? ` +${r.names.length - NAMES_SHOWN} more` : ''),
      r.notAfter?.replace(/\.\d{3}Z$/, 'Z') ?? '-',
      r.daysLeft === null ? '-' : String(r.daysLeft),
      r.keyType ?? '-',
      issuedBy(r.issuer, r.ca) ?? '-',
      r.appId === null ? '-' : `${r.appId} port ${r.portIndex ?? '?'}`,
      served(r),
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
    .concat('\n', foot);
}

function formatDelivery(delivery: StatusReport['delivery']): string {
  if (delivery === null) return '';
  if (delivery.checkPort === 0) return '\ndelivery check: off when delivery.json was written\n';
  const checked = delivery.lastCheckedAt === null ? 'never run yet' : `last check ${delivery.lastCheckedAt.replace(/\.\d{3}Z$/, 'Z')}`;
  const lines = delivery.lbs.map((lb) => {
    const counts = `${count(lb.served)} served, ${count(lb.stale)} stale, ${count(lb.other)} other, ${count(lb.unreachable)} unreachable, ${count(lb.failing)} failing`;
    return `  ${escapeControl(lb.lb)}: ${counts}${lb.level === 'ok' ? '' : ` (${lb.level})`}`;
  });
  return `\ndelivery check (TLS port ${delivery.checkPort}, from ${DELIVERY_FILE}), ${checked}:\n${lines.length === 0 ? '  no records\n' : `${lines.join('\n')}\n`}`;
}

/** The report as JSON: `storageDir`, `generatedAt`, `certificates` (one object per row), `delivery` and `cas`. */
export function formatStatusJson(report: StatusReport): string {
  const { storageDir, generatedAt, certificates, delivery, cas } = report;
  return `${JSON.stringify({ storageDir, generatedAt, certificates, delivery, cas }, null, 2)}\n`;
}

function errno(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
