// One function: spec and status, latency and cold-start charts, invoke form, recent calls, live logs.

import { ApiError, api } from '../api.js';
import { deleteFunction, policies } from '../actions.js';
import { lineChart } from '../charts.js';
import { callsPanel, recordLocalCall } from '../components/calls.js';
import { invokeForm } from '../components/invoke.js';
import { logPanel } from '../components/logs.js';
import { every, fill, formatDateTime, formatMs, formatRate, h } from '../dom.js';
import { WINDOW_MS, sampler } from '../metrics.js';

const REFRESH_MS = 2000;

function facts(pairs) {
  return h(
    'dl',
    { class: 'facts' },
    pairs
      .filter(([, v]) => v !== undefined && v !== null && v !== '')
      .map(([k, v]) => [h('dt', {}, k), h('dd', { dataset: { key: k } }, v)]),
  );
}

function specCard(fn) {
  const { spec } = fn;
  const p = policies(spec);
  const env = Object.keys(spec.env ?? {});
  return h(
    'section',
    { class: 'card', dataset: { testid: 'function-spec' } },
    h('h2', {}, 'Spec'),
    spec.description ? h('p', {}, spec.description) : null,
    facts([
      ['Runtime', spec.runtime],
      ['Handler', spec.handler ? h('code', {}, spec.handler) : '–'],
      ['Version', h('code', { title: fn.version }, fn.version.slice(0, 16))],
      ['Deployed', formatDateTime(fn.deployedAt)],
      ['Memory', p.memory],
      ['Timeout', formatMs(spec.timeoutMs)],
      ['Concurrency', `${p.concurrency} per instance`],
      ['Single-use', p.singleUse],
      ['Keepalive', formatMs(spec.keepaliveMs)],
      ['Instances', `min ${spec.minInstances}, max ${spec.maxInstances}`],
      ['Network', spec.network ? 'yes' : 'no'],
      ['Private', spec.private ? 'yes (calls need the token)' : 'no'],
      ['Offload', spec.offload],
      ['CoAP paths', spec.triggers?.coap?.length ? spec.triggers.coap.join(', ') : undefined],
      ['Env', env.length ? env.join(', ') : undefined],
    ]),
  );
}

function statusCard(status, rate, calls) {
  const { instances } = status;
  const c = calls ?? { errors: 0, recentCalls: 0, recentErrors: 0 };
  const recent = c.recentCalls ? `${Math.round((c.recentErrors / c.recentCalls) * 100)}%` : '–';
  return h(
    'section',
    { class: 'card', dataset: { testid: 'function-status' } },
    h('h2', {}, 'Status'),
    h(
      'div',
      { class: 'stats' },
      [
        ['idle', instances.idle],
        ['busy', instances.busy],
        ['starting', instances.starting],
        ['queued', status.queued],
        ['calls', status.invocations],
        ['errors', c.errors],
        ['recent errors', recent],
        ['calls/s', formatRate(rate)],
        ['memory', `${status.memoryMiB} MiB`],
      ].map(([label, value]) =>
        h(
          'div',
          {
            class: `stat${label.includes('error') && c.recentErrors ? ' failing' : ''}`,
            dataset: { testid: `stat-${label.replace('/', '-per-').replace(' ', '-')}` },
          },
          h('b', {}, value),
          h('span', {}, label),
        ),
      ),
    ),
  );
}

function notFound(view, name) {
  fill(
    view,
    h(
      'section',
      { class: 'card' },
      h('h1', {}, `No function “${name}”`),
      h('p', {}, 'It was deleted or never deployed. ', h('a', { href: '#/functions' }, 'Back to functions'), '.'),
    ),
  );
}

export default {
  title: ({ name }) => name,
  render(view, { name }, signal) {
    const specBox = h('div', { class: 'spec-box' });
    const statusBox = h('div');
    const latency = lineChart({
      title: 'Latency',
      testid: 'chart-latency',
      windowMs: WINDOW_MS,
      format: (v) => formatMs(v),
      empty: 'no calls in the last minutes',
    });
    const cold = lineChart({
      title: 'Calls and cold starts',
      testid: 'chart-cold',
      windowMs: WINDOW_MS,
      format: (v) => formatRate(v),
      empty: 'no calls in the last minutes',
    });
    const metricsNote = h('p', { class: 'muted small', hidden: true });
    const calls = callsPanel(name, signal);
    const deleteButton = h('button', { type: 'button', class: 'danger', dataset: { testid: 'fn-delete' } }, 'Delete');
    let current;

    deleteButton.addEventListener('click', async () => {
      if (await deleteFunction(name)) location.hash = '#/functions';
    });

    const drawCharts = () => {
      const points = sampler.series(name);
      latency.update([
        { label: 'mean', color: 'var(--accent)', points: points.map((p) => ({ t: p.t, v: p.avgMs })) },
        { label: 'p95', color: 'var(--warn)', points: points.map((p) => ({ t: p.t, v: p.p95Ms })) },
      ]);
      cold.update([
        { label: 'calls/s', color: 'var(--accent)', points: points.map((p) => ({ t: p.t, v: p.rate })) },
        { label: 'cold starts/s', color: 'var(--cold)', points: points.map((p) => ({ t: p.t, v: p.coldRate })) },
      ]);
      metricsNote.hidden = sampler.state.ok;
      metricsNote.textContent = `Charts unavailable: ${sampler.state.error ?? ''}`;
      if (current) fill(statusBox, statusCard(current.status, sampler.recentRate(name), current.calls));
    };

    let built = false;
    let shownVersion;
    const build = (fn) => {
      built = true;
      view.append(
        h(
          'div',
          { class: 'page-head' },
          h('a', { href: '#/functions', class: 'back' }, '← Functions'),
          h('h1', { dataset: { testid: 'function-name' } }, fn.name),
          h('span', { class: `tag rt-${fn.spec.runtime}` }, fn.spec.runtime),
          h('span', { class: 'spacer' }),
          deleteButton,
        ),
        statusBox,
        h(
          'div',
          { class: 'grid two' },
          specBox,
          h(
            'div',
            {},
            h('section', { class: 'card' }, latency.el),
            h('section', { class: 'card' }, cold.el),
            metricsNote,
          ),
        ),
        h(
          'div',
          { class: 'grid two' },
          invokeForm(fn, (call) => {
            recordLocalCall(name, call);
            void refresh().catch(() => {});
          }),
          logPanel(name, signal),
        ),
        calls.el,
      );
    };

    /** Describe the function and redraw; the first answer builds the page, a 404 shows "not found". */
    async function refresh() {
      try {
        current = await api.describe(name, { signal });
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 404)) throw e;
        built = false;
        shownVersion = undefined;
        return notFound(view, name);
      }
      if (!built) {
        view.replaceChildren();
        build(current);
      }
      if (shownVersion !== current.version) fill(specBox, specCard(current));
      shownVersion = current.version;
      drawCharts();
      await calls.refresh();
    }
    every(REFRESH_MS, refresh, signal);
    sampler.addEventListener('sample', drawCharts);
    signal.addEventListener('abort', () => sampler.removeEventListener('sample', drawCharts), { once: true });
  },
};
