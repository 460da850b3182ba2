// Hash routing: "#/functions/hello" -> the page whose pattern matches, with its params.
// Each page gets an AbortSignal that aborts when the user leaves it (timers, streams, fetches).

/** Routes: [{pattern: '/functions/:name', page: {title, render(view, params, signal)}}]. */
export function createRouter({ routes, view, fallback, guard }) {
  let current;

  const compiled = routes.map(({ pattern, page }) => {
    const names = [];
    const source = pattern.replace(/:(\w+)/g, (_, name) => {
      names.push(name);
      return '([^/]+)';
    });
    return { regex: new RegExp(`^${source}/?$`), names, page };
  });

  function match(path) {
    for (const { regex, names, page } of compiled) {
      const m = regex.exec(path);
      if (m) return { page, params: Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1])])) };
    }
    return undefined;
  }

  function render() {
    const path = location.hash.replace(/^#/, '') || fallback;
    const redirect = guard?.(path);
    if (redirect && redirect !== path) return go(redirect, { replace: true });
    const found = match(path);
    if (!found) return go(fallback, { replace: true });

    current?.abort();
    current = new AbortController();
    view.replaceChildren();
    document.title = `${typeof found.page.title === 'function' ? found.page.title(found.params) : found.page.title} · Tern`;
    document.dispatchEvent(new CustomEvent('tern:route', { detail: { path } }));
    found.page.render(view, found.params, current.signal);
  }

  function go(path, { replace = false } = {}) {
    const hash = `#${path}`;
    if (location.hash === hash) return render();
    if (replace) {
      history.replaceState(null, '', hash);
      render();
    } else {
      location.hash = hash; // hashchange renders
    }
  }

  window.addEventListener('hashchange', render);
  return { start: render, go, current: () => location.hash.replace(/^#/, '') || fallback };
}
