/**
 * The body of a notification POST: pure, and part of the interface operators build on, so its shape
 * only grows (new fields), it never changes what an existing field means; `version` counts breaking
 * changes. `text` alone makes it a valid Slack/Mattermost incoming-webhook message; `events` carries
 * the same facts structured, every field always present (null when it does not apply).
 */
import type { ConditionKind } from './conditions.js';
import { CONDITION_KINDS } from './conditions.js';
import type { DeliveryStatus } from '../delivery/types.js';
import type { EventState, NotifyEvent } from './dedup.js';

export const BODY_SOURCE = 'marathon-acme';
export const BODY_VERSION = 1;

export interface NotificationBody {
  /**
   * A header line, then one line per event, most serious first, cut off with "… and N more". `&`, `<`
   * and `>` are escaped as Slack asks, so that no detail can turn into a link or an @channel.
   */
  text: string;
  source: typeof BODY_SOURCE;
  version: typeof BODY_VERSION;
  /** How many of `events` are firing and resolved. */
  firing: number;
  resolved: number;
  events: EventBody[];
}

/** One event; times are ISO 8601 UTC. */
export interface EventBody {
  /** The condition's stable key, e.g. `failure:shop.example`: a receiver can pair firing and resolved by it. */
  condition: string;
  kind: ConditionKind;
  state: EventState;
  /** The event's line of `text`, without the state marker and not escaped. */
  text: string;
  name: string;
  appId: string | null;
  lb: string | null;
  failures: number | null;
  problem: { type: string | null; detail: string } | null;
  nextAttemptAt: string | null;
  notAfter: string | null;
  delivery: { status: DeliveryStatus; detail: string | null; lastServedAt: string | null } | null;
  /** When the condition was first seen with this kind. */
  since: string;
  /** When this change was seen. */
  at: string;
}

export interface BodyLimits {
  /** Event lines in `text` before "… and N more". */
  maxTextLines: number;
}

/** Details come from CAs and TLS peers: long ones are cut, in the text more than in the fields. */
const TEXT_DETAIL_CHARS = 300;
const FIELD_DETAIL_CHARS = 1_000;

export function notificationBody(events: readonly NotifyEvent[], limits: BodyLimits): NotificationBody {
  const sorted = [...events].sort(compareEvents);
  const bodies = sorted.map(eventBody);
  const firing = bodies.filter((e) => e.state === 'firing').length;
  const resolved = bodies.length - firing;
  const lines = bodies.slice(0, limits.maxTextLines).map((e) => `${e.state === 'firing' ? '[FIRING]' : '[RESOLVED]'} ${e.text}`);
  const more = bodies.length - lines.length;
  if (more > 0) lines.push(`… and ${more} more`);
  const header = `${BODY_SOURCE}: ${[firing > 0 ? `${firing} firing` : '', resolved > 0 ? `${resolved} resolved` : ''].filter((s) => s !== '').join(', ')}`;
  return { text: escapeForChat([header, ...lines].join('\n')), source: BODY_SOURCE, version: BODY_VERSION, firing, resolved, events: bodies };
}

/** Firing before resolved, then most serious kind first, then by name and LB. */
function compareEvents(a: NotifyEvent, b: NotifyEvent): number {
  if (a.state !== b.state) return a.state === 'firing' ? -1 : 1;
  const kind = CONDITION_KINDS.indexOf(a.condition.kind) - CONDITION_KINDS.indexOf(b.condition.kind);
  if (kind !== 0) return kind;
  return compareText(a.condition.name, b.condition.name) || compareText(a.condition.lb ?? '', b.condition.lb ?? '');
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function eventBody(event: NotifyEvent): EventBody {
  const c = event.condition;
  return {
    condition: c.key,
    kind: c.kind,
    state: event.state,
    text: event.state === 'firing' ? firingText(event) : resolvedText(event),
    name: c.name,
    appId: c.appId ?? null,
    lb: c.lb === undefined ? null : maskUserinfo(c.lb),
    failures: c.failures ?? null,
    problem: c.problem === undefined ? null : { type: c.problem.type ?? null, detail: clip(maskUserinfo(c.problem.detail), FIELD_DETAIL_CHARS) },
    nextAttemptAt: iso(c.nextAttemptAt),
    notAfter: iso(c.notAfter),
    delivery:
      c.delivery === undefined
        ? null
        : {
            status: c.delivery.status,
            detail: c.delivery.detail === undefined ? null : clip(maskUserinfo(c.delivery.detail), FIELD_DETAIL_CHARS),
            lastServedAt: iso(c.delivery.lastServedAt),
          },
    since: new Date(event.since).toISOString(),
    at: new Date(event.at).toISOString(),
  };
}

function firingText({ condition: c }: NotifyEvent): string {
  const subject = `${c.name}${c.appId === undefined ? '' : ` (app ${c.appId})`}`;
  switch (c.kind) {
    case 'issue-failing':
    case 'renewal-failing': {
      const what = c.kind === 'issue-failing' ? `Issuing a certificate for ${subject}` : `Renewing the certificate for ${subject}`;
      const next = c.nextAttemptAt === undefined ? '' : ` Next attempt ${readable(c.nextAttemptAt)}.`;
      const expiry = c.kind === 'renewal-failing' && c.notAfter !== undefined ? ` The current certificate expires ${readable(c.notAfter)}.` : '';
      return `${what} failed ${c.failures ?? 0} times in a row: ${problemText(c.problem)}.${next}${expiry}`;
    }
    case 'expiring':
      return `The certificate for ${subject} expires ${readable(c.notAfter)} with less than 1/5 of its lifetime left, and it is not renewed yet.`;
    case 'expired':
      return `The certificate for ${subject} expired ${readable(c.notAfter)}.`;
    case 'delivery-failing': {
      const d = c.delivery;
      const seen = d?.detail === undefined ? '' : ` (${clip(maskUserinfo(d.detail), TEXT_DETAIL_CHARS)})`;
      const last = d?.lastServedAt === undefined ? 'never seen served' : `last seen served ${readable(d.lastServedAt)}`;
      return `marathon-lb ${maskUserinfo(c.lb ?? '?')} does not serve the current certificate for ${subject}: ${deliveryText(d?.status)}${seen}; ${last}.`;
    }
  }
}

function resolvedText({ condition: c }: NotifyEvent): string {
  switch (c.kind) {
    case 'issue-failing':
      return `Issuing a certificate for ${c.name} is no longer failing.`;
    case 'renewal-failing':
      return `Renewing the certificate for ${c.name} is no longer failing.`;
    case 'expiring':
      return `The certificate for ${c.name} is no longer close to expiry (renewed or removed).`;
    case 'expired':
      return `The certificate for ${c.name} is no longer expired (renewed or removed).`;
    case 'delivery-failing':
      return `marathon-lb ${maskUserinfo(c.lb ?? '?')} no longer fails to serve the certificate for ${c.name}.`;
  }
}

function problemText(problem: { type: string | undefined; detail: string } | undefined): string {
  if (problem === undefined) return 'no reason given';
  const detail = clip(maskUserinfo(problem.detail), TEXT_DETAIL_CHARS);
  return problem.type === undefined ? detail : `${problem.type}: ${detail}`;
}

function deliveryText(status: DeliveryStatus | undefined): string {
  switch (status) {
    case 'stale':
      return 'it serves an older certificate';
    case 'other':
      return 'it serves a different certificate';
    case 'unreachable':
      return 'its TLS port cannot be reached';
    case 'unchecked':
      return 'it has not been checked yet';
    case 'served':
    case undefined:
      return 'its answer was not the stored certificate';
  }
}

/** Slack's three control characters; Mattermost's Markdown shows the entities as the characters. */
function escapeForChat(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** CA and TLS details may quote URLs; credentials in them are never sent on. */
export function maskUserinfo(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1***@');
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

/** `2026-12-01 10:00 UTC`: minutes are precise enough for a person, and shorter to read. */
function readable(ms: number | undefined): string {
  if (ms === undefined) return 'at an unknown time';
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
