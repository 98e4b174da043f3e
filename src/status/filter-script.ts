/**
 * The status page's filter: a text box (name, app, state, what an LB serves) and a choice of state
 * or problem, applied in the browser without a round trip. The form is rendered `hidden` and this
 * script shows it, so without JavaScript the page is the full table and nothing that does not work.
 *
 * The filter is kept in the URL's fragment (`#filter=shop&show=problems`), so that the page's own
 * reload (refresh-script.ts) and a shared link show the same rows; a choice the new page no longer
 * offers falls back to everything.
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
  const remember = () => {
    const params = new URLSearchParams();
    if (text.value !== '') params.set('filter', text.value);
    if (pick.value !== '') params.set('show', pick.value);
    const fragment = params.toString();
    history.replaceState(history.state, '', fragment === '' ? location.pathname + location.search : '#' + fragment);
  };
  let queued = false;
  let saving;
  const later = () => {
    // Written after a pause in typing: Safari refuses more than 100 replaceState calls in 10 s.
    clearTimeout(saving);
    saving = setTimeout(remember, 300);
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; apply(); });
  };
  const now = () => {
    clearTimeout(saving);
    apply();
    remember();
  };
  const saved = new URLSearchParams(location.hash.slice(1));
  if (saved.has('filter') || saved.has('show')) {
    text.value = saved.get('filter') ?? '';
    const show = saved.get('show') ?? '';
    pick.value = Array.from(pick.options).some((option) => option.value === show) ? show : '';
  }
  form.hidden = false;
  form.addEventListener('submit', (event) => event.preventDefault());
  text.addEventListener('input', later);
  // Fires as the box loses the focus, before the page may reload itself: the fragment is current then.
  text.addEventListener('change', now);
  pick.addEventListener('change', now);
  // The fragment, or a reload or "back" restoring the form, can bring the last filter back.
  if (text.value !== '' || pick.value !== '') apply();
})();`;
