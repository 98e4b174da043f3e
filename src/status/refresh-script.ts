/**
 * The status page keeps itself current: it says how old it is ("generated …, 40 s ago") and reloads
 * itself once a minute. Quietly: not in a background tab (it reloads when shown again), not while
 * someone types in or picks from the filter, not while text is selected to be copied. The filter
 * survives a reload because filter-script.ts keeps it in the URL's fragment. Without JavaScript a
 * `<noscript>` refresh does the reloading (there is no filter to lose then).
 *
 * The age counts from when the page was loaded (a monotonic clock), not from the generation time
 * in the page, so a browser whose clock is off still says the right age; the daemon builds the
 * page when asked, so the two differ by the time the page took to arrive.
 */
export const REFRESH_SECONDS = 60;

export const REFRESH_SCRIPT = `(() => {
  const age = document.getElementById('age');
  const link = document.getElementById('reload');
  if (!age || !link) return;
  const filter = document.getElementById('filter');
  const loaded = performance.now();
  let reloading = false;
  const reload = () => {
    reloading = true;
    location.reload();
  };
  const busy = () => {
    const active = document.activeElement;
    if (filter && active && filter.contains(active)) return true;
    const selection = getSelection();
    return selection !== null && !selection.isCollapsed;
  };
  const tick = () => {
    const seconds = Math.floor((performance.now() - loaded) / 1000);
    age.textContent = ', ' + (seconds < 120 ? seconds + ' s' : Math.floor(seconds / 60) + ' min') + ' ago';
    if (!reloading && seconds >= ${REFRESH_SECONDS} && document.visibilityState === 'visible' && !busy()) reload();
  };
  link.addEventListener('click', (event) => {
    event.preventDefault();
    reload();
  });
  document.addEventListener('visibilitychange', tick);
  setInterval(tick, 1000);
  tick();
})();`;
