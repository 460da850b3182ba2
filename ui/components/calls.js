// Recent calls of a function with their reports: from GET /v1/calls when the node offers it,
// else the calls made from this page (kept for the session, per function).

import { api } from '../api.js';
import { fill, formatMs, formatTime, h } from '../dom.js';

const LIMIT = 20;
const madeHere = new Map(); // function -> [{time, status, report}], newest first

/** Remember a call made from the page. */
export function recordLocalCall(name, call) {
  const list = madeHere.get(name) ?? [];
  list.unshift(call);
  madeHere.set(name, list.slice(0, LIMIT));
}

/** CallRecord (GET /v1/calls) -> the row shape. */
function fromRecord(r) {
  return {
    id: r.id,
    time: r.finishedAt ?? r.createdAt,
    status: r.result?.status ?? (r.state === 'failed' ? (r.error?.code ?? 'failed') : r.state),
    report: r.report,
    error: r.error,
  };
}

/** A failed call's error: its code (Tern's, or http_5xx for the function's own) and message. */
function errorCell(error) {
  if (!error) return h('td', { class: 'muted' }, '–');
  return h(
    'td',
    { class: 'error call-error', dataset: { testid: 'call-error', code: error.code } },
    h('code', {}, error.code),
    error.message ? h('span', { class: 'message' }, ` ${error.message}`) : null,
  );
}

function rowFor(call) {
  const r = call.report;
  const failed = typeof call.status !== 'number' || call.status >= 400;
  return h(
    'tr',
    { dataset: { testid: 'call-row', call: call.id ?? '' } },
    h('td', {}, formatTime(call.time)),
    h('td', { class: failed ? 'error' : 'ok' }, call.status),
    h('td', {}, r ? h('span', { class: `tag ${r.cold ? 'cold' : 'warm'}` }, r.cold ? 'cold' : 'warm') : '–'),
    ...['queueMs', 'initMs', 'runMs', 'totalMs'].map((k) => h('td', { class: 'num' }, r ? formatMs(r[k]) : '–')),
    h(
      'td',
      {},
      r?.node ?? '–',
      r?.offloaded ? h('span', { class: 'badge' }, `offloaded ×${r.hops?.length ?? 1}`) : null,
    ),
    h('td', { class: 'mono' }, r?.instance || '–'),
    errorCell(call.error),
  );
}

export function callsPanel(name, signal) {
  const body = h('tbody');
  const source = h('span', { class: 'muted small' });
  const table = h(
    'table',
    { dataset: { testid: 'calls-table' } },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Time', 'Status', 'Start', 'Queue', 'Init', 'Run', 'Total', 'Node', 'Instance', 'Error'].map((t) =>
          h('th', {}, t),
        ),
      ),
    ),
    body,
  );
  const empty = h('p', { class: 'muted' }, 'No calls yet.');
  const panel = h(
    'section',
    { class: 'card calls' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Recent calls'), source),
    h('div', { class: 'table-wrap' }, table),
    empty,
  );

  async function refresh() {
    const records = await api.calls(name, LIMIT, { signal }).catch(() => undefined);
    const calls = records ? records.map(fromRecord) : (madeHere.get(name) ?? []);
    source.textContent = records ? 'from the node' : 'made from this page (the node lists no calls)';
    fill(body, calls.map(rowFor));
    empty.hidden = calls.length > 0;
    table.hidden = calls.length === 0;
  }

  return { el: panel, refresh };
}
