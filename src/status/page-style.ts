/** The status page's stylesheet: light and dark, a table on a desktop, one card per row on a phone. */
export const STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #6e7781; --renew: #0969da; --line: #8884; }
[hidden] { display: none !important; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 100rem; padding: 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
.meta { color: var(--muted); margin: 0 0 1rem; overflow-wrap: anywhere; }
.cards { display: grid; gap: .75rem; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); margin-bottom: 1rem; }
.card, .panel { border: 1px solid var(--line); border-left: .4rem solid var(--muted); border-radius: .4rem; padding: .6rem .8rem; }
.card.ok, .panel.ok { border-left-color: var(--ok); } .card.warn, .panel.warn { border-left-color: var(--warn); } .card.bad, .panel.bad { border-left-color: var(--bad); }
.card p { margin: .2rem 0; } .summary { font-weight: 600; overflow-wrap: anywhere; } .detail { color: var(--muted); font-size: .9rem; overflow-wrap: anywhere; }
.counts { display: flex; flex-wrap: wrap; gap: .2rem .8rem; list-style: none; margin: .3rem 0 0; padding: 0; }
.counts .bad { color: var(--bad); font-weight: 600; } .counts .warn { color: var(--warn); font-weight: 600; } .counts .zero { color: var(--muted); }
.panel { margin-bottom: 1rem; } .panel p { margin: .2rem 0; }
svg.chart { display: block; font-size: 11px; margin: .4rem 0; overflow: visible; }
svg.chart text { fill: currentColor; } svg.chart text.muted { fill: var(--muted); }
svg.chart .renew { fill: var(--renew); } svg.chart .expire { fill: var(--bad); }
svg.chart .axis { stroke: currentColor; } svg.chart .grid { stroke: var(--muted); stroke-dasharray: 3 3; }
svg.chart .month { stroke: var(--line); } svg.chart .tick { stroke: var(--muted); }
.filter { align-items: center; display: flex; flex-wrap: wrap; gap: .5rem 1rem; margin: 0 0 .75rem; }
.filter input, .filter select { font: inherit; max-width: 100%; } .filter input { width: 18rem; }
.filter output { color: var(--muted); }
table { border-collapse: collapse; table-layout: fixed; width: 100%; }
col.c-name { width: 19%; } col.c-cert { width: 10rem; } col.c-next { width: 6.5rem; } col.c-app { width: 10%; } col.c-lb { width: 7rem; }
th, td { border-bottom: 1px solid var(--line); overflow-wrap: break-word; padding: .4rem .5rem; text-align: left; vertical-align: top; }
th { background: Canvas; } th.d { font-size: .85rem; overflow-wrap: anywhere; }
#certificates .head { position: sticky; top: 0; z-index: 1; }
/* Off-screen chunks are laid out when scrolled to; a filtered table (few rows) and a printout lay out everything. */
.chunk { content-visibility: auto; contain-intrinsic-size: auto 22000px; }
#certificates.filtered .chunk { content-visibility: visible; }
@media print { .chunk { content-visibility: visible; } }
thead.repeat th { border: 0; font-size: 0; height: 0; line-height: 0; overflow: hidden; padding: 0; }
tr.bad td:first-child { box-shadow: inset .3rem 0 var(--bad); } tr.warn td:first-child { box-shadow: inset .3rem 0 var(--warn); }
tr.ok td:first-child { box-shadow: inset .3rem 0 var(--ok); } tr.muted { color: var(--muted); }
.badge { border-radius: 1rem; color: #fff; display: inline-block; font-size: .8rem; font-weight: 600; padding: 0 .55rem; }
.badge.ok { background: var(--ok); } .badge.warn { background: var(--warn); } .badge.bad { background: var(--bad); } .badge.muted { background: var(--muted); }
.names, .reason, .note { color: var(--muted); display: block; font-size: .85rem; }
.error { color: var(--bad); display: block; font-size: .85rem; }
td.d { font-size: .9rem; } td.d.stale, td.d.other { color: var(--warn); } td.d.unreachable, td.d.unchecked { color: var(--muted); }
td.d.failing { background: color-mix(in srgb, var(--bad) 14%, transparent); color: var(--bad); }
@media (max-width: 48rem) {
  thead, colgroup { display: none; } table, tbody, tr, td { display: block; width: auto; }
  .chunk { contain-intrinsic-size: auto 75000px; }
  tr { border: 1px solid var(--line); border-radius: .4rem; margin-bottom: .75rem; }
  /* Label left, value right: the cell's leading text is placed next to the label, its elements below that. */
  td { border: 0; display: grid; gap: 0 .6rem; grid-template-columns: 7rem minmax(0, 1fr); padding: .3rem .6rem; }
  td::before { color: var(--muted); font-size: .85rem; grid-row: span 9; overflow-wrap: anywhere; }
  td > * { grid-column: 2; } td > .badge { justify-self: start; } td:empty { display: none; }
  .filter input { width: 100%; }
}`;
