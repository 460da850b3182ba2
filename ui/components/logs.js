// A function's logs, followed live over the NDJSON stream; reconnects (bounded backoff) if it drops.

import { ApiError, api } from '../api.js';
import { formatTime, h } from '../dom.js';

const MAX_LINES = 1000;
const RETRY_MS = [1000, 2000, 5000, 10_000];

export function logPanel(name, signal) {
  const list = h('ol', { class: 'log-lines', dataset: { testid: 'log-lines' }, 'aria-live': 'off' });
  const state = h('span', { class: 'log-state', dataset: { testid: 'log-state' } }, 'connecting…');
  const clear = h(
    'button',
    { type: 'button', class: 'secondary small', onclick: () => list.replaceChildren() },
    'Clear',
  );
  const panel = h(
    'section',
    { class: 'card logs', dataset: { testid: 'logs' } },
    h('div', { class: 'card-head' }, h('h2', {}, 'Logs'), state, clear),
    list,
  );

  let last; // the last entry shown: resume after it when the stream reconnects
  const seenAtLast = new Set(); // lines sharing `last.time`, so a resume with since=time skips them

  function show(entry) {
    const key = `${entry.instance}\u0000${entry.call ?? ''}\u0000${entry.stream}\u0000${entry.line}`;
    if (last && entry.time < last.time) return;
    if (last && entry.time === last.time && seenAtLast.has(key)) return;
    if (!last || entry.time !== last.time) seenAtLast.clear();
    seenAtLast.add(key);
    last = entry;

    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
    list.append(
      h(
        'li',
        {
          class: `log-line ${entry.stream}`,
          dataset: { testid: 'log-line', call: entry.call ?? '' },
        },
        h('time', { datetime: entry.time }, formatTime(entry.time)),
        h('span', { class: 'instance' }, entry.instance),
        // The call id, shortened; the whole id is its title and data-call (to match a recent call's).
        entry.call
          ? h(
              'span',
              { class: 'call', title: `call ${entry.call}`, dataset: { testid: 'log-call', call: entry.call } },
              entry.call.slice(0, 8),
            )
          : null,
        h('span', { class: 'text' }, entry.line),
      ),
    );
    while (list.children.length > MAX_LINES) list.firstElementChild.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function setState(text, kind) {
    state.textContent = text;
    state.dataset.state = kind;
  }

  async function follow() {
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        await api.followLogs(name, {
          tail: 200,
          since: last?.time,
          signal,
          onOpen: () => setState('following', 'live'),
          onLine: show,
        });
        attempt = -1; // a stream that ended cleanly reconnects at once, counting from zero
        if (signal.aborted) return;
        setState('stream ended, reconnecting…', 'wait');
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof ApiError && [401, 403, 404].includes(e.status))
          return setState(e.status === 404 ? 'function not found' : 'not authorised', 'off');
        setState(`disconnected (${e.message}), retrying…`, 'wait');
      }
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, RETRY_MS[Math.min(Math.max(attempt, 0), RETRY_MS.length - 1)]);
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  }

  void follow();
  return panel;
}
