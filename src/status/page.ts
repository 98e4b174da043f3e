/**
 * The `/status` page: the daemon's view for people, as one self-contained HTML document (no scripts,
 * no external assets: clusters are often offline) that reads on a phone. `/status.json` serves the
 * same StatusView, so what a person sees and what a script reads cannot disagree.
 */
import type { CertificateState, StatusRow } from './report.js';

export interface ComponentState {
  /** ok: working; warn: degraded or waiting; bad: failing. */
  level: 'ok' | 'warn' | 'bad';
  summary: string;
}

export interface LbStatus extends ComponentState {
  /** The marathon-lb URL with any credentials masked. */
  url: string;
}

export interface StatusView {
  generatedAt: string;
  version: string;
  marathon: ComponentState & { urls: string[]; eventStream: string; lastSyncAt: string | null };
  account: ComponentState & { directory: string };
  lbs: LbStatus[];
  certificates: StatusRow[];
}

const STATE_LEVEL: Record<CertificateState, 'ok' | 'warn' | 'bad' | 'muted'> = {
  valid: 'ok',
  'renew due': 'warn',
  'expiring soon': 'bad',
  expired: 'bad',
  unusable: 'bad',
  retired: 'muted',
  unmanaged: 'muted',
};

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function day(iso: string | null): string {
  return iso === null ? '—' : iso.slice(0, 10);
}

function dateTime(iso: string | null): string {
  return iso === null ? '—' : `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}

function daysLeft(row: StatusRow): string {
  if (row.daysLeft === null) return '—';
  if (row.daysLeft < 0) return `expired ${-row.daysLeft} d ago`;
  return `${row.daysLeft} d`;
}

function component(title: string, state: ComponentState, detail: string): string {
  return `<section class="card ${state.level}"><h2>${escape(title)}</h2><p class="summary">${escape(state.summary)}</p>${detail}</section>`;
}

function certificateRow(row: StatusRow): string {
  const level = STATE_LEVEL[row.state];
  const app = row.appId === null ? '—' : `${row.appId}${row.portIndex === null ? '' : ` port ${row.portIndex}`}`;
  const others = row.names.filter((n) => n !== row.name);
  const cells: Array<[string, string]> = [
    ['Name', `<strong>${escape(row.name)}</strong>${others.length === 0 ? '' : `<br><span class="names">${escape(others.join(', '))}</span>`}`],
    ['State', `<span class="badge ${level}">${escape(row.state)}</span><br><span class="reason">${escape(row.reason)}</span>`],
    ['Days left', escape(daysLeft(row))],
    ['Not after', escape(day(row.notAfter))],
    ['Next renewal', escape(dateTime(row.nextRenewalAt))],
    ['App', escape(app)],
    ['Issuer', escape(row.issuer ?? '—')],
    ['Last error', row.lastError === null ? '—' : `<span class="error">${escape(row.lastError)}</span>`],
  ];
  // One wrapper per cell: on a phone each cell is a two-column grid (label, value), and the value must stay one item.
  return `<tr class="${level}">${cells.map(([label, html]) => `<td data-label="${label}"><div>${html}</div></td>`).join('')}</tr>`;
}

const STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #6e7781; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 80rem; padding: 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1rem; margin: 0 0 .25rem; }
.meta { color: var(--muted); margin: 0 0 1rem; }
.cards { display: grid; gap: .75rem; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); margin-bottom: 1.25rem; }
.card { border: 1px solid #8884; border-left: .4rem solid var(--muted); border-radius: .4rem; padding: .6rem .8rem; }
.card.ok { border-left-color: var(--ok); } .card.warn { border-left-color: var(--warn); } .card.bad { border-left-color: var(--bad); }
.card p { margin: .2rem 0; } .summary { font-weight: 600; } .detail { color: var(--muted); font-size: .9rem; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #8884; padding: .45rem .5rem; text-align: left; vertical-align: top; }
tr.bad td:first-child { box-shadow: inset .3rem 0 var(--bad); } tr.warn td:first-child { box-shadow: inset .3rem 0 var(--warn); }
tr.ok td:first-child { box-shadow: inset .3rem 0 var(--ok); } tr.muted { color: var(--muted); }
.badge { border-radius: 1rem; color: #fff; display: inline-block; font-size: .8rem; font-weight: 600; padding: 0 .55rem; }
.badge.ok { background: var(--ok); } .badge.warn { background: var(--warn); } .badge.bad { background: var(--bad); } .badge.muted { background: var(--muted); }
.names, .reason { color: var(--muted); font-size: .85rem; } .error { color: var(--bad); font-size: .85rem; overflow-wrap: anywhere; }
@media (max-width: 48rem) {
  thead { display: none; } table, tbody, tr, td { display: block; width: auto; }
  tr { border: 1px solid #8884; border-radius: .4rem; margin-bottom: .75rem; }
  td { border: 0; display: grid; gap: .5rem; grid-template-columns: 7rem 1fr; }
  td::before { color: var(--muted); content: attr(data-label); font-size: .85rem; }
}`;

export function renderStatusPage(view: StatusView): string {
  const counts = new Map<string, number>();
  for (const row of view.certificates) counts.set(row.state, (counts.get(row.state) ?? 0) + 1);
  const tally = [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
  const lbCards = view.lbs.map((lb) => component(`marathon-lb ${lb.url}`, lb, ''));
  const cards = [
    component('Marathon', view.marathon, `<p class="detail">${escape(view.marathon.urls.join(', '))}<br>event stream: ${escape(view.marathon.eventStream)}; last sync: ${escape(dateTime(view.marathon.lastSyncAt))}</p>`),
    component('ACME account', view.account, `<p class="detail">${escape(view.account.directory)}</p>`),
    ...lbCards,
  ];
  const table =
    view.certificates.length === 0
      ? '<p>No certificates stored yet.</p>'
      : `<table><thead><tr><th>Name</th><th>State</th><th>Days left</th><th>Not after</th><th>Next renewal</th><th>App</th><th>Issuer</th><th>Last error</th></tr></thead><tbody>${view.certificates.map(certificateRow).join('')}</tbody></table>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>marathon-acme status</title>
<style>${STYLE}</style>
</head>
<body>
<h1>marathon-acme status</h1>
<p class="meta">${escape(`${view.certificates.length} certificates${tally === '' ? '' : ` (${tally})`}, most urgent first · generated ${dateTime(view.generatedAt)} · version ${view.version}`)} · <a href="status.json">status.json</a></p>
<div class="cards">${cards.join('')}</div>
${table}
</body>
</html>
`;
}
