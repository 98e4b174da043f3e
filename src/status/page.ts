/**
 * The `/status` page: the daemon's view for people, as one self-contained HTML document (no external
 * assets: clusters are often offline) that reads on a phone and with thousands of certificates.
 * What needs attention comes first (the problem counts, then the rows in urgency order), then the
 * next 90 days as a picture; small inline scripts filter the rows and reload the page once a minute,
 * and without them the page is complete. `/status.json` serves the same StatusView, so what a
 * person sees and what a script reads cannot disagree.
 */
import { renderChart } from './chart-svg.js';
import { dayCounts } from './chart.js';
import type { DeliveryView } from './delivery-rows.js';
import { FILTER_SCRIPT } from './filter-script.js';
import { count, dateTime, escape, pageTimes, worst, type Level } from './html.js';
import { STYLE } from './page-style.js';
import { renderTable, rowFlags, rowLevel, tableStyle } from './page-table.js';
import { REFRESH_SCRIPT, REFRESH_SECONDS } from './refresh-script.js';
import { CERTIFICATE_STATES, type StatusRow } from './report.js';
import type { BudgetView, CaStatus } from './budget-view.js';
import type { Role } from '../ha/election.js';

export interface ComponentState {
  /** ok: working; warn: degraded or waiting; bad: failing. */
  level: 'ok' | 'warn' | 'bad';
  summary: string;
}

export interface LbStatus extends ComponentState {
  /** The marathon-lb URL with any credentials masked. */
  url: string;
}

/** Which part this instance plays among the instances on one storage directory. */
export interface InstanceView {
  role: Role;
  /**
   * Who leads, as this instance knows it (the storage lock's description of its holder, or the
   * leader's identity from ZooKeeper); null while unknown.
   */
  leader: string | null;
  /** The ZooKeeper connection state with --zk; null without. */
  zookeeper: string | null;
}

export interface StatusView {
  generatedAt: string;
  version: string;
  /** Shown by the running daemon; absent from the offline `status` command's view. */
  instance?: InstanceView;
  marathon: ComponentState & { urls: string[]; eventStream: string; lastSyncAt: string | null };
  account: ComponentState & { directory: string };
  lbs: LbStatus[];
  /** What each marathon-lb serves (per-LB counts); null when the daemon runs no delivery check. */
  delivery: DeliveryView | null;
  /** What is left of the client-side rate budget (null before the daemon has recorded its limits). */
  /** The CAs orders go to, primary first (budget-view.ts). */
  cas: CaStatus[];
  /** Problems first: see buildStatus. */
  certificates: StatusRow[];
}

function card(title: string, level: Level, summary: string, detail: string): string {
  return `<section class="card ${level}"><h2>${escape(title)}</h2><p class="summary">${escape(pageTimes(summary))}</p>${detail}</section>`;
}

function lbCard(lb: LbStatus, delivery: DeliveryView | null): string {
  const summary = delivery?.lbs.find((s) => s.lb === lb.url);
  if (delivery === null || summary === undefined) return card(`marathon-lb ${lb.url}`, lb.level, lb.summary, '');
  if (delivery.checkPort === 0) return card(`marathon-lb ${lb.url}`, worst(lb.level, summary.level), lb.summary, '<p class="detail">delivery check off</p>');
  const counts: Array<[string, number, Level]> = [
    ['served', summary.served, 'ok'],
    ['stale', summary.stale, summary.stale > 0 ? 'warn' : 'ok'],
    ['other', summary.other, summary.other > 0 ? 'warn' : 'ok'],
    ['unreachable', summary.unreachable, summary.unreachable > 0 ? 'warn' : 'ok'],
    ['failing', summary.failing, summary.failing > 0 ? 'bad' : 'ok'],
  ];
  const list = `<ul class="counts" data-lb="${escape(lb.url)}">${counts.map(([name, n, level]) => `<li class="${n === 0 ? 'zero' : level}" data-${name}="${n}">${count(n)} ${name}</li>`).join('')}</ul>`;
  const checked = `<p class="detail">delivery check on port ${delivery.checkPort}, last ${delivery.lastCheckedAt === null ? 'never' : dateTime(delivery.lastCheckedAt)}</p>`;
  return card(`marathon-lb ${lb.url}`, worst(lb.level, summary.level), lb.summary, list + checked);
}

/** What needs attention, counted, in the order the rows come: [singular, plural, level]. */
const PROBLEMS = {
  expired: ['certificate expired', 'certificates expired', 'bad'],
  failing: ['failing order', 'failing orders', 'bad'],
  delivery: ['delivery failure', 'delivery failures', 'bad'],
  unusable: ['unusable file', 'unusable files', 'bad'],
  soon: ['certificate expiring soon', 'certificates expiring soon', 'bad'],
  wrong: ['certificate not served yet by every LB', 'certificates not served yet by every LB', 'warn'],
  due: ['renewal due', 'renewals due', 'warn'],
  pending: ['name not issued yet', 'names not issued yet', 'warn'],
} as const satisfies Record<string, readonly [string, string, Level]>;

function problems(rows: readonly StatusRow[]): string {
  const tally = new Map<keyof typeof PROBLEMS, number>();
  const add = (what: keyof typeof PROBLEMS): void => {
    tally.set(what, (tally.get(what) ?? 0) + 1);
  };
  for (const row of rows) {
    const flags = rowFlags(row);
    if (row.state === 'expired') add('expired');
    if (flags.includes('order-failing')) add('failing');
    if (flags.includes('delivery-failure')) add('delivery');
    else if (row.delivery.some((d) => d.status === 'stale' || d.status === 'other')) add('wrong');
    if (row.state === 'unusable') add('unusable');
    if (row.state === 'expiring soon') add('soon');
    if (row.state === 'renew due') add('due');
    if (row.state === 'pending') add('pending');
  }
  if (tally.size === 0) {
    return `<section class="panel ok"><h2>No problems</h2><p>Every certificate is valid${rows.some((r) => r.delivery.length > 0) ? ' and no LB is known to serve a wrong one' : ''}.</p></section>`;
  }
  const found = (Object.keys(PROBLEMS) as Array<keyof typeof PROBLEMS>).filter((k) => tally.has(k));
  const level = found.some((k) => PROBLEMS[k][2] === 'bad') ? 'bad' : 'warn';
  const items = found
    .map((k) => {
      const n = tally.get(k) ?? 0;
      const [one, many, itemLevel] = PROBLEMS[k];
      return `<li class="${itemLevel}" data-problem="${k}" data-count="${n}">${count(n)} ${n === 1 ? one : many}</li>`;
    })
    .join('');
  return `<section class="panel ${level}"><h2>Needs attention</h2><ul class="counts">${items}</ul><p class="detail">The table below lists them in this order, worst first.</p></section>`;
}

function timeline(rows: readonly StatusRow[], now: number): string {
  const days = dayCounts(rows, now);
  const busiest = (key: 'renewals' | 'expiring'): string => {
    const top = days.reduce((a, b) => (b[key] > a[key] ? b : a), days[0] ?? { day: '', renewals: 0, expiring: 0 });
    return top[key] === 0 ? 'none' : `${count(top[key])} on ${top.day}`;
  };
  const due = rows.filter((r) => r.location === 'certs' && r.nextRenewalAt !== null && Date.parse(r.nextRenewalAt) <= now).length;
  const caption = days.some((d) => d.renewals > 0 || d.expiring > 0)
    ? `Most renewals on one day: ${busiest('renewals')}${due > 0 ? ` (today includes ${count(due)} already due)` : ''}. Most certificates expiring on one day: ${busiest('expiring')}. A day is a UTC day; point at a bar for its numbers.`
    : `Nothing expires and no renewal is scheduled in the next ${days.length} days.`;
  return `<section class="panel timeline"><h2>The next ${days.length} days</h2>${renderChart(days)}<p class="detail">${caption}</p></section>`;
}

function filterForm(rows: readonly StatusRow[]): string {
  const states = new Map<string, number>();
  let problemRows = 0;
  for (const row of rows) {
    states.set(`state:${row.state}`, (states.get(`state:${row.state}`) ?? 0) + 1);
    for (const flag of rowFlags(row)) states.set(flag, (states.get(flag) ?? 0) + 1);
    const level = rowLevel(row);
    if (level === 'bad' || level === 'warn') problemRows++;
  }
  const choices: Array<[string, string]> = [['', `everything (${count(rows.length)})`]];
  if (problemRows > 0) choices.push(['problems', `problems only (${count(problemRows)})`]);
  const flagNames: Record<string, string> = { 'order-failing': 'failing orders', 'delivery-failure': 'delivery failures' };
  for (const [flag, label] of Object.entries(flagNames)) {
    const n = states.get(flag);
    if (n !== undefined) choices.push([`flag:${flag}`, `${label} (${count(n)})`]);
  }
  for (const state of CERTIFICATE_STATES) {
    const n = states.get(`state:${state}`);
    if (n !== undefined) choices.push([`state:${state}`, `${state} (${count(n)})`]);
  }
  const options = choices.map(([value, label]) => `<option value="${escape(value)}">${escape(label)}</option>`).join('');
  return `<form id="filter" class="filter" role="search" hidden><label>Filter <input type="search" id="filter-text" placeholder="name, app, state or LB answer" autocomplete="off"></label><label>Show <select id="filter-state">${options}</select></label><output id="filter-count" aria-live="polite"></output></form>`;
}

function describeCount(rows: readonly StatusRow[]): string {
  const files = rows.filter((r) => r.location !== null).length;
  const names = rows.length - files;
  return `${count(files)} certificate${files === 1 ? '' : 's'}${names === 0 ? '' : `, ${count(names)} name${names === 1 ? '' : 's'} without one`}`;
}

/** One card per CA: its rate budget, and since when it has been unavailable; "Rate budget" alone with one CA. */
function caCard(ca: CaStatus, several: boolean): string {
  const title = several ? `CA ${ca.directory === null ? '(earlier version)' : hostOf(ca.directory)}${ca.primary ? ' (primary)' : ''}` : 'Rate budget';
  const down = ca.unavailableSince === null ? '' : `<br>unavailable since ${escape(dateTime(ca.unavailableSince))}`;
  const where = several && ca.directory !== null ? `${escape(ca.directory)}<br>` : '';
  // One CA whose limits no daemon has recorded yet: nothing to say.
  if (ca.rateBudget === null && !several && ca.unavailableSince === null) return '';
  if (ca.rateBudget === null) return card(title, ca.unavailableSince === null ? 'ok' : 'warn', 'rate budget not recorded yet', `<p class="detail">${where}${down}</p>`);
  return budgetCard(title, ca.rateBudget, ca.unavailableSince !== null, `${where}${down}`);
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function budgetCard(title: string, budget: BudgetView, unavailable: boolean, extra: string): string {
  const limits = budget.limits;
  if (limits === null) return card(title, unavailable ? 'warn' : 'ok', 'no rate budget', `<p class="detail">${extra}${escape(budget.source)}</p>`);
  const orders = limits.newOrders;
  const perDomain = limits.certificatesPerDomain;
  const fullness = Math.max(orders.used / orders.limit, perDomain.used / perDomain.limit);
  const fullest = perDomain.fullest.map((d) => `${d.domain} ${count(d.used)}`).join(', ');
  const detail = `${extra}${escape(budget.source)}<br>certificates per registered domain in ${perDomain.windowDays} days: ${count(perDomain.used)} of ${count(perDomain.limit)} at most${fullest === '' ? '' : ` (${escape(fullest)})`}`;
  return card(title, fullness >= 1 ? 'bad' : fullness >= 0.8 || unavailable ? 'warn' : 'ok', `${count(orders.used)} of ${count(orders.limit)} new orders in ${orders.windowHours} h`, `<p class="detail">${detail}</p>`);
}

function instanceCard(instance: InstanceView): string {
  const summary =
    instance.role === 'leader'
      ? 'leader: this instance syncs, orders and signals'
      : `${instance.role}: answers challenges; ${instance.leader === null ? 'no leader known yet' : `the leader is ${instance.leader}`}`;
  const detail = instance.zookeeper === null ? 'leadership by the storage lock' : `ZooKeeper: ${instance.zookeeper}`;
  return card('This instance', instance.role === 'candidate' ? 'warn' : 'ok', summary, `<p class="detail">${escape(detail)}</p>`);
}

export function renderStatusPage(view: StatusView): string {
  const rows = view.certificates;
  const now = Date.parse(view.generatedAt);
  const lbColumns = view.delivery === null || view.delivery.checkPort === 0 ? [] : view.delivery.lbs.map((s) => s.lb);
  const counts = new Map<string, number>();
  for (const row of rows) counts.set(row.state, (counts.get(row.state) ?? 0) + 1);
  const tally = CERTIFICATE_STATES.filter((s) => counts.has(s)).map((s) => `${count(counts.get(s) ?? 0)} ${s}`).join(', ');
  const cards = [
    ...(view.instance === undefined ? [] : [instanceCard(view.instance)]),
    card('Marathon', view.marathon.level, view.marathon.summary, `<p class="detail">${escape(view.marathon.urls.join(', '))}<br>event stream: ${escape(view.marathon.eventStream)}; last sync: ${escape(dateTime(view.marathon.lastSyncAt))}</p>`),
    card('ACME account', view.account.level, view.account.summary, `<p class="detail">${escape(view.account.directory)}</p>`),
    ...view.lbs.map((lb) => lbCard(lb, view.delivery)),
    ...view.cas.map((ca) => caCard(ca, view.cas.length > 1)).filter((c) => c !== ''),
  ];
  const problemsPanel = rows.length === 0 ? '' : problems(rows);
  const body =
    rows.length === 0
      ? '<p>No certificates stored, and no app is known to want one.</p>'
      : `${timeline(rows, now)}${filterForm(rows)}\n${renderTable(rows, lbColumns, now)}\n<script>${FILTER_SCRIPT}</script>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>marathon-acme status</title>
<noscript><meta http-equiv="refresh" content="${REFRESH_SECONDS}"></noscript>
<style>${STYLE}
${tableStyle(lbColumns)}</style>
</head>
<body>
<h1>marathon-acme status</h1>
<p class="meta">${escape(`${describeCount(rows)}${tally === '' ? '' : ` (${tally})`}, problems first · generated ${dateTime(view.generatedAt)}`)}<span id="age"></span> · ${escape(`version ${view.version}`)} · <a href="status.json">status.json</a> · <a href="status" id="reload" title="The page reloads itself every minute, keeping the filter; not while you type in the filter or have text selected.">reload</a></p>
${problemsPanel}<div class="cards">${cards.join('')}</div>
${body}
<script>${REFRESH_SCRIPT}</script>
</body>
</html>
`;
}
