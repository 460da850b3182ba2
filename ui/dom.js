// Tiny DOM and formatting helpers shared by the pages.

/**
 * Create an element: h('a', { href: '#/x', dataset: { testid: 'link' } }, 'text', child).
 * Attributes starting with "on" become listeners; null/undefined/false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'class') el.className = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace an element's content. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Run `fn` now and every `ms` until `signal` aborts; a slow run never overlaps the next. */
export function every(ms, fn, signal) {
  let timer;
  const tick = async () => {
    if (signal.aborted) return;
    try {
      await fn();
    } catch (e) {
      if (!signal.aborted) console.warn(e);
    }
    if (!signal.aborted) timer = setTimeout(tick, ms);
  };
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  void tick();
}

export function formatMs(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '–';
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms >= 1000) return `${+(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 2)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  return `${+ms.toFixed(2)} ms`;
}

export function formatRate(perSecond) {
  if (perSecond === undefined || perSecond === null) return '–';
  if (perSecond === 0) return '0/s';
  return perSecond >= 10 ? `${perSecond.toFixed(0)}/s` : `${perSecond.toFixed(2)}/s`;
}

export function formatTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleTimeString([], { hour12: false });
}

export function formatDateTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString([], { hour12: false });
}

/** A transient message at the top of the page. */
export function flash(message, kind = 'info') {
  const box = document.getElementById('flash');
  if (!box) return;
  const item = h(
    'div',
    { class: `flash ${kind}`, role: kind === 'error' ? 'alert' : 'status', dataset: { testid: 'flash' } },
    message,
  );
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}
