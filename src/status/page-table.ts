/**
 * The certificates table of the status page: one row per certificate or wanted name, problems
 * first (the order buildStatus gives), with a delivery column per marathon-lb. Markup is kept lean
 * (no per-cell labels or wrappers: the phone layout labels cells from CSS) because a cluster has
 * thousands of rows.
 */
import { issuedBy } from './wording.js';
import type { DeliveryStatus } from '../delivery/types.js';
import type { CertificateState, StatusRow } from './report.js';
import type { RowDelivery } from './delivery-rows.js';
import { cssString, dateTime, day, escape, pageTimes, shortLb, worst, type Level } from './html.js';

export const STATE_LEVEL: Record<CertificateState, Level> = {
  valid: 'ok',
  'renew due': 'warn',
  pending: 'warn',
  'expiring soon': 'bad',
  expired: 'bad',
  unusable: 'bad',
  failing: 'bad',
  retired: 'muted',
  unmanaged: 'muted',
};

/** The fixed columns, in order; one column per LB follows them. */
const COLUMNS = ['Name', 'State', 'Certificate', 'Next renewal', 'App'] as const;
/** Searched by the filter besides the state: name, app, and every LB column. */
const SEARCHED = [0, 4];

const DELIVERY_LEVEL: Record<DeliveryStatus, Level> = { served: 'ok', stale: 'warn', other: 'warn', unreachable: 'ok', unchecked: 'ok' };

export function rowLevel(row: StatusRow): Level {
  let level = STATE_LEVEL[row.state];
  if (row.failures !== null) level = worst(level, 'bad');
  for (const d of row.delivery) level = worst(level, d.failing ? 'bad' : DELIVERY_LEVEL[d.status]);
  return level;
}

/** Row classes besides the level, for the filter's choices. */
export function rowFlags(row: StatusRow): string[] {
  const flags: string[] = [];
  if (row.state === 'failing' || row.failures !== null) flags.push('order-failing');
  if (row.delivery.some((d) => d.failing)) flags.push('delivery-failure');
  return flags;
}

/** Expiry first (what people scan for), then who issued it and the key. */
function certificate(row: StatusRow): string {
  if (row.daysLeft === null) return '—';
  const left = row.daysLeft < 0 ? `expired ${-row.daysLeft} d ago` : `${row.daysLeft} d left`;
  const about = [issuedBy(row.issuer, row.ca), row.keyType].filter((x) => x !== null).join(', ');
  return `${day(row.notAfter)}<span class="note">${left}</span>${about === '' ? '' : `<span class="note">${escape(about)}</span>`}`;
}

function nextRenewal(row: StatusRow, now: number): string {
  if (row.location === null) return row.nextAttemptAt === null ? '—' : `attempt ${dateTime(row.nextAttemptAt)}`;
  if (row.nextRenewalAt !== null && Date.parse(row.nextRenewalAt) <= now) return `<strong>due now</strong><span class="note">since ${dateTime(row.nextRenewalAt)}</span>`;
  return dateTime(row.nextRenewalAt);
}

function deliveryCell(d: RowDelivery | undefined): string {
  if (d === undefined) return '<td></td>';
  const served = d.status === 'served';
  const title = served ? '' : ` title="${escape(`checked ${d.checkedAt === null ? 'never' : dateTime(d.checkedAt)}; last served ${d.lastServedAt === null ? 'never' : dateTime(d.lastServedAt)}`)}"`;
  const detail = served || d.detail === null || d.status === 'unreachable' ? '' : ` <span class="note">${escape(pageTimes(d.detail))}</span>`;
  return `<td class="d ${d.status}${d.failing ? ' failing' : ''}"${title}>${d.failing ? `<strong>${d.status}: failing</strong>` : d.status}${detail}</td>`;
}

function certificateRow(row: StatusRow, lbs: readonly string[], now: number): string {
  const level = rowLevel(row);
  const app = row.appId === null ? '—' : `${row.appId}${row.portIndex === null ? '' : ` port ${row.portIndex}`}`;
  const others = row.names.filter((n) => n !== row.name);
  const error = row.lastError !== null && !row.reason.includes(row.lastError) ? `<span class="error">${escape(pageTimes(row.lastError))}</span>` : '';
  const byLb = new Map(row.delivery.map((d) => [d.lb, d]));
  const cells = [
    `<td><strong>${escape(row.name)}</strong>${others.length === 0 ? '' : `<span class="names">${escape(others.join(', '))}</span>`}</td>`,
    `<td><span class="badge ${STATE_LEVEL[row.state]}">${row.state}</span><span class="reason">${escape(pageTimes(row.reason))}</span>${error}</td>`,
    `<td>${certificate(row)}</td>`,
    `<td>${nextRenewal(row, now)}</td>`,
    `<td>${escape(app)}</td>`,
    ...lbs.map((lb) => deliveryCell(byLb.get(lb))),
  ];
  return `<tr class="${[level, ...rowFlags(row)].join(' ')}">${cells.join('')}</tr>`;
}

/** Phone layout: each cell is labelled by CSS (page-style.ts), the LB columns by rules made for these LBs. */
export function tableStyle(lbs: readonly string[]): string {
  const labels = [...COLUMNS, ...lbs.map(shortLb)];
  return `@media (max-width: 48rem) {\n${labels.map((label, i) => `#certificates td:nth-child(${i + 1})::before { content: ${cssString(label)}; }`).join('\n')}\n}`;
}

/**
 * Rows per table. The rows come as a header table and one table per chunk, each chunk laid out by
 * the browser only when it comes near the screen (content-visibility in page-style.ts): 5,000 rows
 * load in a third of the time. The fixed table layout and one colgroup keep the columns of all
 * tables aligned.
 */
const CHUNK = 250;

/** `now`: the view's time, for what is due already. */
export function renderTable(rows: readonly StatusRow[], lbs: readonly string[], now: number): string {
  const searched = [...SEARCHED, ...lbs.map((_, i) => COLUMNS.length + i)].join(',');
  const head = [...COLUMNS.map((c) => `<th>${c}</th>`), ...lbs.map((lb) => `<th class="d" title="${escape(lb)}">${escape(shortLb(lb))}</th>`)].join('');
  const cols = `<colgroup><col class="c-name"><col class="c-state"><col class="c-cert"><col class="c-next"><col class="c-app">${lbs.map(() => '<col class="c-lb">').join('')}</colgroup>`;
  // Each chunk repeats the header for screen readers (they read a cell with its column's heading), collapsed to nothing on screen.
  const repeat = `<tr>${[...COLUMNS, ...lbs.map(shortLb)].map((c) => `<th>${escape(c)}</th>`).join('')}</tr>`;
  const chunks: string[] = [];
  for (let i = 0; i < rows.length; i += CHUNK) {
    chunks.push(`<div class="chunk"><table>${cols}<thead class="repeat">${repeat}</thead><tbody>\n${rows.slice(i, i + CHUNK).map((r) => certificateRow(r, lbs, now)).join('\n')}\n</tbody></table></div>`);
  }
  return `<div id="certificates" data-search-cells="${searched}"><div class="head"><table>${cols}<thead><tr>${head}</tr></thead></table></div>\n${chunks.join('\n')}\n</div>`;
}
