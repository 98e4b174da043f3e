/**
 * What the daemon remembers between runs, beyond the certificates themselves: failures and when to
 * try again, which app port a certificate serves, when it was last wanted, and the recent orders the
 * client-side rate budget counts. Pure: parsing is tolerant
 * (a damaged file must not stop certificates from being renewed), serialising is deterministic.
 */
import type { FailureClass } from '../ca/fallback-policy.js';
import { caStatesToJson, isObject, parseCaStates, parseTime, rateLimitsToJson, type CaState } from './ca-state.js';

export interface AcmeProblem {
  /** The ACME problem type without the `urn:ietf:params:acme:error:` prefix when it has one. */
  type: string | undefined;
  detail: string;
  status: number | undefined;
}

export interface FailureState {
  failures: number;
  lastError: AcmeProblem;
  /** Epoch ms before which the name is not ordered again. */
  nextAttemptAt: number;
  lastFailureAt: number;
  /** Preflights failed in a row (absent: the last attempt passed its preflight or had none). */
  preflightFailures?: number | undefined;
  /** Epoch ms of the last order sent although the preflight failed (advisory mode: one a day). */
  orderedAnywayAt?: number | undefined;
  /** The directory URL of the CA the failed attempt went to (absent in files from before several CAs). */
  directory?: string | undefined;
  /** What the failure says about that CA (fallback-policy.ts). */
  kind?: FailureClass | undefined;
  /** CA directory → epoch ms until which that CA asked not to be sent this name again (a long rate limit). */
  caWaits?: Record<string, number> | undefined;
}

export interface CertOwner {
  appId: string;
  portIndex: number;
}

export interface CertState {
  failure?: FailureState | undefined;
  /** The app port the certificate was last issued for. */
  owner?: CertOwner | undefined;
  /** Epoch ms of the last successful sync in which some app wanted this certificate. */
  lastWantedAt?: number | undefined;
  /** When the current certificate is to be renewed, decided once and kept (see renewal-schedule.ts). */
  renewal?: RenewalState | undefined;
  /** Which CA issued the certificate with this serial (unknown for certificates stored before this was kept). */
  issuedBy?: IssuedBy | undefined;
}

export interface IssuedBy {
  /** The ACME directory URL of the CA that issued it. */
  directory: string;
  serial: string;
}

export interface RenewalState {
  /** The certificate this decision is for; a new certificate needs a new decision. */
  serial: string;
  renewAt: number;
  source: 'ari' | 'lifetime' | 'emergency';
  reason: string;
  /** The CA's suggested window the time was drawn from, so an unchanged window is not drawn again. */
  window?: { start: number; end: number } | undefined;
  ariNextPollAt?: number | undefined;
  explanationUrl?: string | undefined;
}

export interface DaemonState {
  certificates: Map<string, CertState>;
  /** By directory URL, primary first: each CA's rate budget, ledger and health (ca-state.ts). */
  cas: Map<string, CaState>;
}

export const STATE_FILE = 'state.json';
const VERSION = 1;

export function emptyState(): DaemonState {
  return { certificates: new Map(), cas: new Map() };
}

export function serializeState(state: DaemonState): string {
  const certificates: Record<string, unknown> = {};
  for (const name of [...state.certificates.keys()].sort()) {
    const cert = state.certificates.get(name);
    const entry: Record<string, unknown> = {};
    const f = cert?.failure;
    if (f !== undefined) {
      entry['failure'] = {
        failures: f.failures,
        lastError: { type: f.lastError.type ?? null, detail: f.lastError.detail, status: f.lastError.status ?? null },
        nextAttemptAt: new Date(f.nextAttemptAt).toISOString(),
        lastFailureAt: new Date(f.lastFailureAt).toISOString(),
        ...(f.preflightFailures === undefined ? {} : { preflightFailures: f.preflightFailures }),
        ...(f.orderedAnywayAt === undefined ? {} : { orderedAnywayAt: new Date(f.orderedAnywayAt).toISOString() }),
        ...(f.directory === undefined ? {} : { directory: f.directory }),
        ...(f.kind === undefined ? {} : { kind: f.kind }),
        ...(f.caWaits === undefined ? {} : { caWaits: Object.fromEntries(Object.entries(f.caWaits).map(([dir, until]) => [dir, new Date(until).toISOString()])) }),
      };
    }
    if (cert?.owner !== undefined) entry['owner'] = { appId: cert.owner.appId, portIndex: cert.owner.portIndex };
    if (cert?.lastWantedAt !== undefined) entry['lastWantedAt'] = new Date(cert.lastWantedAt).toISOString();
    const r = cert?.renewal;
    if (r !== undefined) {
      entry['renewal'] = {
        serial: r.serial,
        renewAt: new Date(r.renewAt).toISOString(),
        source: r.source,
        reason: r.reason,
        window: r.window === undefined ? null : { start: new Date(r.window.start).toISOString(), end: new Date(r.window.end).toISOString() },
        ariNextPollAt: r.ariNextPollAt === undefined ? null : new Date(r.ariNextPollAt).toISOString(),
        explanationUrl: r.explanationUrl ?? null,
      };
    }
    if (cert?.issuedBy !== undefined) entry['issuedBy'] = { directory: cert.issuedBy.directory, serial: cert.issuedBy.serial };
    if (Object.keys(entry).length > 0) certificates[name] = entry;
  }
  // The primary's ledger and limits also stay where earlier versions read them, so that a rollback
  // keeps counting what was spent at the primary.
  const primary = state.cas.values().next().value;
  const legacy = primary === undefined ? {} : { budget: primary.budget, ...(primary.rateLimits === undefined ? {} : { rateLimits: rateLimitsToJson(primary.rateLimits) }) };
  return `${JSON.stringify({ version: VERSION, certificates, ...legacy, cas: caStatesToJson(state.cas) }, null, 2)}\n`;
}

/** Never throws: whatever cannot be understood is dropped, and `problems` says what was dropped. */
export function parseState(text: string): { state: DaemonState; problems: string[] } {
  const state = emptyState();
  const problems: string[] = [];
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { state, problems: ['the file is not JSON'] };
  }
  if (!isObject(raw) || !isObject(raw['certificates'])) {
    return { state, problems: ['the file has no "certificates" object'] };
  }
  state.cas = parseCaStates(raw, problems);
  for (const [name, value] of Object.entries(raw['certificates'])) {
    const failure = isObject(value) ? parseFailure(value['failure']) : undefined;
    const owner = isObject(value) ? parseOwner(value['owner']) : undefined;
    const lastWantedAt = isObject(value) ? parseTime(value['lastWantedAt']) : undefined;
    const renewal = isObject(value) ? parseRenewal(value['renewal']) : undefined;
    const issuedBy = isObject(value) ? parseIssuedBy(value['issuedBy']) : undefined;
    if (
      !isObject(value) ||
      (failure === undefined && value['failure'] !== undefined) ||
      (owner === undefined && value['owner'] !== undefined) ||
      (lastWantedAt === undefined && value['lastWantedAt'] !== undefined) ||
      (renewal === undefined && value['renewal'] !== undefined) ||
      (issuedBy === undefined && value['issuedBy'] !== undefined)
    ) {
      problems.push(`entry ${JSON.stringify(name)} is not understood`);
    }
    if (failure !== undefined || owner !== undefined || lastWantedAt !== undefined || renewal !== undefined || issuedBy !== undefined) {
      state.certificates.set(name, { failure, owner, lastWantedAt, renewal, issuedBy });
    }
  }
  return { state, problems };
}

function parseFailure(value: unknown): FailureState | undefined {
  if (!isObject(value)) return undefined;
  const failures = value['failures'];
  const nextAttemptAt = parseTime(value['nextAttemptAt']);
  const lastFailureAt = parseTime(value['lastFailureAt']);
  const lastError = value['lastError'];
  if (typeof failures !== 'number' || !Number.isSafeInteger(failures) || failures < 1) return undefined;
  if (nextAttemptAt === undefined || lastFailureAt === undefined || !isObject(lastError)) return undefined;
  const type = lastError['type'];
  const detail = lastError['detail'];
  const status = lastError['status'];
  // Written by newer versions only; a value that cannot be used just starts the preflight count afresh.
  const preflightFailures = value['preflightFailures'];
  const orderedAnywayAt = parseTime(value['orderedAnywayAt']);
  return {
    failures,
    nextAttemptAt,
    lastFailureAt,
    lastError: {
      type: typeof type === 'string' ? type : undefined,
      detail: typeof detail === 'string' ? detail : '',
      status: typeof status === 'number' ? status : undefined,
    },
    ...(typeof preflightFailures === 'number' && Number.isSafeInteger(preflightFailures) && preflightFailures >= 1 ? { preflightFailures } : {}),
    ...(orderedAnywayAt === undefined ? {} : { orderedAnywayAt }),
    ...(typeof value['directory'] === 'string' ? { directory: value['directory'] } : {}),
    ...(isFailureClass(value['kind']) ? { kind: value['kind'] } : {}),
    ...parseCaWaits(value['caWaits']),
  };
}

function isFailureClass(value: unknown): value is FailureClass {
  return value === 'validation' || value === 'rate-limited' || value === 'unavailable' || value === 'other';
}

function parseCaWaits(value: unknown): { caWaits?: Record<string, number> } {
  if (!isObject(value)) return {};
  const waits: Record<string, number> = {};
  for (const [dir, until] of Object.entries(value)) {
    const t = parseTime(until);
    if (t !== undefined) waits[dir] = t;
  }
  return Object.keys(waits).length === 0 ? {} : { caWaits: waits };
}

function parseRenewal(value: unknown): RenewalState | undefined {
  if (!isObject(value)) return undefined;
  const { serial, source, reason } = value;
  const renewAt = parseTime(value['renewAt']);
  if (typeof serial !== 'string' || renewAt === undefined || typeof reason !== 'string') return undefined;
  if (source !== 'ari' && source !== 'lifetime' && source !== 'emergency') return undefined;
  const w = value['window'];
  const start = isObject(w) ? parseTime(w['start']) : undefined;
  const end = isObject(w) ? parseTime(w['end']) : undefined;
  const explanationUrl = value['explanationUrl'];
  return {
    serial,
    renewAt,
    source,
    reason,
    window: start !== undefined && end !== undefined ? { start, end } : undefined,
    ariNextPollAt: parseTime(value['ariNextPollAt']),
    explanationUrl: typeof explanationUrl === 'string' ? explanationUrl : undefined,
  };
}

function parseIssuedBy(value: unknown): IssuedBy | undefined {
  if (!isObject(value)) return undefined;
  const { directory, serial } = value;
  return typeof directory === 'string' && typeof serial === 'string' ? { directory, serial } : undefined;
}

function parseOwner(value: unknown): CertOwner | undefined {
  if (!isObject(value)) return undefined;
  const { appId, portIndex } = value;
  if (typeof appId !== 'string' || typeof portIndex !== 'number' || !Number.isSafeInteger(portIndex) || portIndex < 0) return undefined;
  return { appId, portIndex };
}
