/**
 * What each marathon-lb serves, as the status rows and the status view show it: the delivery
 * check's records (src/delivery/) turned into one entry per LB for each stored certificate, a note
 * for the row's reason when an LB does not serve it, and the per-LB overview. Pure.
 */
import { summariseLb, type LbSummary } from '../delivery/lb-summary.js';
import type { DeliveryRecord, DeliveryStatus } from '../delivery/types.js';
import { iso, when } from './wording.js';

/** The delivery check's records, as the daemon holds them or as delivery.json kept them. */
export interface DeliveryInput {
  /** The TLS port the check connects to; 0: the check is off. */
  checkPort: number;
  records: readonly DeliveryRecord[];
  /** The LBs in the order the page shows them (the `--lb` list); default: as they first appear in the records. */
  lbs?: readonly string[] | undefined;
}

/** One LB's answer for one certificate. Times are ISO 8601; null where nothing is known. */
export interface RowDelivery {
  /** The `--lb` URL as displayed (credentials masked). */
  lb: string;
  status: DeliveryStatus;
  /** Not served for longer than the grace after the signal, retries included: a delivery failure. */
  failing: boolean;
  checkedAt: string | null;
  lastServedAt: string | null;
  /** What the LB served instead, or why it could not be checked. */
  detail: string | null;
}

/** The delivery part of /status.json, and of `marathon-acme status --json`. */
export interface DeliveryView {
  /** 0: the check is off. */
  checkPort: number;
  /** The most recent check of any LB and name; null before the first. */
  lastCheckedAt: string | null;
  lbs: LbSummary[];
}

export class DeliveryIndex {
  /** The LBs every stored certificate gets an entry for, in display order; none when the check is off. */
  readonly lbs: readonly string[];
  private readonly byName = new Map<string, Map<string, DeliveryRecord>>();

  constructor(input: DeliveryInput | undefined) {
    if (input === undefined || input.checkPort === 0) {
      this.lbs = [];
      return;
    }
    for (const record of input.records) {
      let forName = this.byName.get(record.name);
      if (forName === undefined) {
        forName = new Map();
        this.byName.set(record.name, forName);
      }
      forName.set(record.lb, record);
    }
    this.lbs = lbOrder(input);
  }

  /** One entry per LB, `unchecked` where the check has not looked at the name there yet. */
  forName(name: string): RowDelivery[] {
    const records = this.byName.get(name);
    return this.lbs.map((lb) => {
      const r = records?.get(lb);
      if (r === undefined) return { lb, status: 'unchecked', failing: false, checkedAt: null, lastServedAt: null, detail: null };
      return {
        lb,
        status: r.status,
        failing: r.failing,
        checkedAt: r.checkedAt === undefined ? null : iso(r.checkedAt),
        lastServedAt: r.lastServedAt === undefined ? null : iso(r.lastServedAt),
        detail: r.detail ?? null,
      };
    });
  }
}

/**
 * For the row's reason: each delivery failure, and each LB that answered with a wrong certificate
 * at its last check (not yet a failure: reloads take a while). An unreachable LB is told on its card,
 * not in every one of its thousands of rows.
 */
export function deliveryNote(entries: readonly RowDelivery[]): string {
  let note = '';
  for (const d of entries) {
    if (d.failing) {
      const last = d.lastServedAt === null ? 'never seen served there' : `last served there at ${when(Date.parse(d.lastServedAt))}`;
      note += `; delivery failure: ${d.lb} ${answer(d)}, ${last}; the reload signal is sent again`;
    } else if (d.status === 'stale' || d.status === 'other') {
      note += `; ${d.lb} ${answer(d)} at its last check; checked again shortly`;
    }
  }
  return note;
}

function answer(d: RowDelivery): string {
  const detail = d.detail === null ? '' : ` (${d.detail})`;
  switch (d.status) {
    case 'stale':
      return `serves an older certificate${detail}`;
    case 'other':
      return `serves another certificate${detail}`;
    case 'unreachable':
      return `cannot be reached on its TLS port${detail}`;
    case 'served':
      return 'serves it';
    case 'unchecked':
      return 'has not been checked';
  }
}

/** The per-LB overview from the records alone (offline: whether a signal is owed is not known there). */
export function deliveryView(input: DeliveryInput): DeliveryView {
  let last: number | undefined;
  for (const r of input.records) if (r.checkedAt !== undefined && (last === undefined || r.checkedAt > last)) last = r.checkedAt;
  return {
    checkPort: input.checkPort,
    lastCheckedAt: last === undefined ? null : iso(last),
    lbs: lbOrder(input).map((lb) => summariseLb(lb, input.records, undefined, input.checkPort > 0)),
  };
}

/** The given LBs, then any other LB the records name, in the order they first appear. */
function lbOrder(input: DeliveryInput): string[] {
  const lbs = [...(input.lbs ?? [])];
  const known = new Set(lbs);
  for (const { lb } of input.records) {
    if (known.has(lb)) continue;
    known.add(lb);
    lbs.push(lb);
  }
  return lbs;
}
