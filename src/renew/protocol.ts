/**
 * How `marathon-acme renew` asks the running daemon, through the storage directory: the daemon's
 * HTTP server changes nothing (README, Security model), and whoever may write the storage directory
 * may already replace every certificate in it, so writing there is the right permission to ask.
 *
 *   requests/renew-<time>-<random>.json         the request, written whole (temporary file, rename)
 *   requests/renew-<time>-<random>.taken.json   the same file once the daemon took it (a rename, so a
 *                                               request is either withdrawn or taken, never both)
 *   requests/renew-<time>-<random>.result.json  the daemon's answer; the command reads and removes it
 *
 * Pure: names, parsing and formatting. The file operations are in request-files.ts.
 */
import { normaliseHostname } from '../domains/hostname.js';
import type { AcmeProblem } from '../state/state.js';
import type { ForcedRenewal } from '../sync/forced-renewal.js';

export const REQUESTS_DIR = 'requests';
const VERSION = 1;
/** More names than any storage directory holds; a bigger request is not one of ours. */
const MAX_NAMES = 100_000;

export type RequestFileKind = 'request' | 'taken' | 'result';

const FILE_NAME = /^(renew-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9a-f]{16})(\.taken|\.result)?\.json$/;

export interface RenewRequestFile {
  /** Certificate names (file names in certs/ without `.pem`); empty with `all`. */
  names: string[];
  all: boolean;
  requestedAt: number;
  /** Who asked, for the daemon's log. */
  requestedBy: { pid: number; hostname: string };
}

/** What became of one name. */
export type RenewOutcome = ForcedRenewal;

export interface RenewResult {
  answeredAt: number;
  /** Set when the request itself could not be acted on (malformed, another version); then no outcomes. */
  rejected: string | undefined;
  outcomes: RenewOutcome[];
}

/** `renew-20260101T120000.000Z-0123456789abcdef`: sortable by time, unique by the random part. */
export function newRequestId(now: number, randomHex: string): string {
  return `renew-${new Date(now).toISOString().replace(/[-:]/g, '')}-${randomHex}`;
}

export function requestFileName(id: string, kind: RequestFileKind): string {
  return kind === 'request' ? `${id}.json` : `${id}.${kind}.json`;
}

/** The request id and what the file is, or undefined for any other file name. */
export function classifyRequestFile(fileName: string): { id: string; kind: RequestFileKind } | undefined {
  const match = FILE_NAME.exec(fileName);
  if (match === null) return undefined;
  const id = match[1] ?? '';
  const kind = match[2] === '.taken' ? 'taken' : match[2] === '.result' ? 'result' : 'request';
  return { id, kind };
}

export function formatRequest(request: RenewRequestFile): string {
  return `${JSON.stringify({
    version: VERSION,
    names: request.names,
    all: request.all,
    requestedAt: new Date(request.requestedAt).toISOString(),
    requestedBy: request.requestedBy,
  }, null, 2)}\n`;
}

/** Checked as strictly as anything else that decides what is ordered: only well-formed names. */
export function parseRequest(text: string): { ok: true; request: RenewRequestFile } | { ok: false; reason: string } {
  const raw = parseObject(text);
  if (raw === undefined) return { ok: false, reason: 'it is not a JSON object' };
  if (raw['version'] !== VERSION) return { ok: false, reason: `it is version ${JSON.stringify(raw['version'])}, this daemon understands version ${VERSION}` };
  const { names, all } = raw;
  if (typeof all !== 'boolean') return { ok: false, reason: '"all" is not true or false' };
  if (!Array.isArray(names) || names.length > MAX_NAMES || !names.every((n): n is string => typeof n === 'string')) {
    return { ok: false, reason: '"names" is not a list of names' };
  }
  if (all === (names.length > 0)) return { ok: false, reason: 'it must name certificates or ask for all of them, not both or neither' };
  for (const name of names) {
    const normal = normaliseHostname(name);
    if (!normal.ok || normal.name !== name) return { ok: false, reason: `${JSON.stringify(name)} is not a certificate name` };
  }
  const requestedAt = typeof raw['requestedAt'] === 'string' ? Date.parse(raw['requestedAt']) : NaN;
  const by = raw['requestedBy'];
  const pid = typeof by === 'object' && by !== null && 'pid' in by && typeof by.pid === 'number' ? by.pid : 0;
  const hostname = typeof by === 'object' && by !== null && 'hostname' in by && typeof by.hostname === 'string' ? by.hostname : 'unknown';
  return { ok: true, request: { names: [...new Set(names)], all, requestedAt: Number.isFinite(requestedAt) ? requestedAt : 0, requestedBy: { pid, hostname } } };
}

export function formatResult(result: RenewResult): string {
  return `${JSON.stringify({
    version: VERSION,
    answeredAt: new Date(result.answeredAt).toISOString(),
    ...(result.rejected === undefined ? {} : { rejected: result.rejected }),
    outcomes: result.outcomes.map((o) => {
      if (o.outcome === 'renewed') return { name: o.name, outcome: o.outcome, notAfter: isoOrNull(o.notAfter) };
      if (o.outcome === 'failed') return { name: o.name, outcome: o.outcome, problem: { type: o.problem.type ?? null, detail: o.problem.detail, status: o.problem.status ?? null }, retryAt: isoOrNull(o.retryAt) };
      return { name: o.name, outcome: o.outcome };
    }),
  }, null, 2)}\n`;
}

export function parseResult(text: string): RenewResult | undefined {
  const raw = parseObject(text);
  if (raw === undefined || raw['version'] !== VERSION || !Array.isArray(raw['outcomes'])) return undefined;
  const outcomes: RenewOutcome[] = [];
  for (const item of raw['outcomes'] as unknown[]) {
    if (typeof item !== 'object' || item === null) return undefined;
    const o = item as Record<string, unknown>;
    const name = o['name'];
    if (typeof name !== 'string') return undefined;
    if (o['outcome'] === 'renewed') outcomes.push({ name, outcome: 'renewed', notAfter: dateOrUndefined(o['notAfter']) });
    else if (o['outcome'] === 'not-managed') outcomes.push({ name, outcome: 'not-managed' });
    else if (o['outcome'] === 'failed') outcomes.push({ name, outcome: 'failed', problem: problemOf(o['problem']), retryAt: dateOrUndefined(o['retryAt']) });
    else return undefined;
  }
  const rejected = raw['rejected'];
  return { answeredAt: dateOrUndefined(raw['answeredAt']) ?? 0, rejected: typeof rejected === 'string' ? rejected : undefined, outcomes };
}

function problemOf(value: unknown): AcmeProblem {
  const p = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  return {
    type: typeof p['type'] === 'string' ? p['type'] : undefined,
    detail: typeof p['detail'] === 'string' ? p['detail'] : 'no detail given',
    status: typeof p['status'] === 'number' ? p['status'] : undefined,
  };
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isoOrNull(at: number | undefined): string | null {
  return at === undefined ? null : new Date(at).toISOString();
}

function dateOrUndefined(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const at = Date.parse(value);
  return Number.isFinite(at) ? at : undefined;
}
