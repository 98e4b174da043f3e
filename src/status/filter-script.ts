/**
 * The status page's filter: a text box (name, app, state, what an LB serves) and a choice of state
 * or problem, applied in the browser without a round trip. The form is rendered `hidden` and this
 * script shows it, so without JavaScript the page is the full table and nothing that does not work.
 *
 * The rows' container (`#certificates`, one table per chunk of rows) says which cells are searched
 * (`data-search-cells`), besides the row's state (its badge's text); a problem row has the class
 * `bad` or `warn`, and the other choices are row classes (`delivery-failure`, `order-failing`).
 */
export const FILTER_SCRIPT = `(() => {
  const form = document.getElementById('filter');
  const table = document.getElementById('certificates');
  if (!form || !table) return;
  const text = document.getElementById('filter-text');
  const pick = document.getElementById('filter-state');
  const out = document.getElementById('filter-count');
  const cells = table.dataset.searchCells.split(',').map(Number);
  let index;
  const build = () => Array.from(table.querySelectorAll('tbody tr'), (row) => {
    const state = row.querySelector('.badge')?.textContent ?? '';
    return { row, state, words: (state + ' ' + cells.map((i) => row.cells[i]?.textContent ?? '').join(' ')).toLowerCase() };
  });
  const chosen = (entry, choice) => {
    if (choice === '') return true;
    const classes = entry.row.classList;
    if (choice === 'problems') return classes.contains('bad') || classes.contains('warn');
    const colon = choice.indexOf(':');
    const value = choice.slice(colon + 1);
    return choice.slice(0, colon) === 'state' ? entry.state === value : classes.contains(value);
  };
  const apply = () => {
    index ??= build();
    const words = text.value.toLowerCase().split(/\\s+/).filter(Boolean);
    const choice = pick.value;
    // A filtered table is short: every chunk is laid out, so no chunk keeps the height of its hidden rows.
    table.classList.toggle('filtered', words.length > 0 || choice !== '');
    let shown = 0;
    for (const entry of index) {
      const show = chosen(entry, choice) && words.every((w) => entry.words.includes(w));
      if (entry.row.hidden === show) entry.row.hidden = !show;
      if (show) shown++;
    }
    out.textContent = shown === index.length ? '' : shown.toLocaleString('en-US') + ' of ' + index.length.toLocaleString('en-US') + ' shown';
  };
  let queued = false;
  const later = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; apply(); });
  };
  form.hidden = false;
  form.addEventListener('submit', (event) => event.preventDefault());
  text.addEventListener('input', later);
  pick.addEventListener('change', apply);
  // A reload or "back" can bring the last filter back into the form.
  if (text.value !== '' || pick.value !== '') apply();
})();`;
