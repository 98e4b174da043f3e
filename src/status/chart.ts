/**
 * The numbers behind the status page's 90-day picture: per day, how many certificates expire and
 * how many renewals are scheduled, so that a renewal wall (hundreds on one day) or a gap shows.
 * Pure: rows and the time in, day counts out; chart-svg.ts draws them.
 */
import type { StatusRow } from './report.js';
import { DAY } from './wording.js';

export const CHART_DAYS = 90;

export interface DayCount {
  /** The UTC day, `YYYY-MM-DD`. */
  day: string;
  /** Certificates whose notAfter falls on this day. */
  expiring: number;
  /** Renewals scheduled on this day; on the first day also every renewal already due. */
  renewals: number;
}

export type ChartRow = Pick<StatusRow, 'location' | 'notAfter' | 'nextRenewalAt'>;

/**
 * `days` UTC days from the one `now` falls in. Expiries count the files HAProxy serves (certs/ and
 * unmanaged-certs/; retired ones are not served); a certificate that expired before today is not in
 * the picture (it is at the top of the table). A renewal that is due already counts on the first day,
 * since the daemon does it at its next check.
 */
export function dayCounts(rows: readonly ChartRow[], now: number, days: number = CHART_DAYS): DayCount[] {
  const start = Math.floor(now / DAY) * DAY;
  const counts: DayCount[] = Array.from({ length: days }, (_, i) => ({ day: new Date(start + i * DAY).toISOString().slice(0, 10), expiring: 0, renewals: 0 }));
  const bucket = (iso: string): number => Math.floor((Date.parse(iso) - start) / DAY);
  for (const row of rows) {
    if (row.location === 'retired-certs' || row.location === null) continue;
    if (row.notAfter !== null) {
      const day = counts[bucket(row.notAfter)];
      if (day !== undefined) day.expiring++;
    }
    if (row.nextRenewalAt !== null) {
      const day = counts[Math.max(0, bucket(row.nextRenewalAt))];
      if (day !== undefined) day.renewals++;
    }
  }
  return counts;
}
