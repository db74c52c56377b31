// CarePath dashboard: live updates. Every element with data-fragment is fetched again (its URL
// answers that part of the page as HTML) when the stream says something changed; changes that come
// close together are taken in one fetch. A form being filled in is never replaced under the user: the
// refresh waits while a field has focus or holds what the user typed. window.carepathMetrics records how long each refresh took, for
// the browser tests and docs/performance.md.
(() => {
  'use strict';
  const parts = () => [...document.querySelectorAll('[data-fragment]')];
  const live = document.getElementById('live');
  const metrics = (window.carepathMetrics = { updates: [], changes: 0 });
  if (parts().length === 0) return;

  let timer = null;
  let pending = false;
  // Someone is filling in a form in it: focus in a field, or a field changed from what the page gave.
  const edited = (el) =>
    [...el.querySelectorAll('input:not([type=hidden]), textarea')].some((f) => (f.type === 'checkbox' ? f.checked !== f.defaultChecked : f.value !== f.defaultValue)) ||
    [...el.querySelectorAll('select')].some((s) => [...s.options].some((o) => o.selected !== o.defaultSelected));
  const busy = (el) => (el.contains(document.activeElement) && document.activeElement.matches('input, textarea, select')) || edited(el);

  async function refresh() {
    timer = null;
    for (const el of parts()) {
      if (busy(el)) {
        pending = true;
        continue;
      }
      const started = performance.now();
      try {
        const res = await fetch(el.dataset.fragment, { headers: { accept: 'text/html' }, credentials: 'same-origin' });
        if (res.status === 401 || res.redirected) {
          location.reload();
          return;
        }
        if (!res.ok) continue;
        el.innerHTML = await res.text();
        metrics.updates.push({ ms: performance.now() - started, at: Date.now() });
        if (live) live.textContent = `${live.dataset.updated} ${new Date().toLocaleTimeString()}`;
      } catch {
        /* the next change tries again */
      }
    }
  }
  const schedule = () => {
    metrics.changes += 1;
    if (!timer) timer = setTimeout(refresh, 250);
  };
  document.addEventListener('focusout', () => {
    if (pending) {
      pending = false;
      setTimeout(() => {
        if (!parts().some(busy)) schedule();
      }, 0);
    }
  });

  const source = new EventSource('/app/stream');
  source.addEventListener('ready', () => {
    if (live) live.textContent = live.dataset.live;
    live?.classList.remove('lost');
  });
  source.addEventListener('change', schedule);
  source.addEventListener('error', () => {
    if (live) live.textContent = live.dataset.lost;
    live?.classList.add('lost');
  });
})();
