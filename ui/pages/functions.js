// Functions: every deployed function with its policies, instances and live call rate; deploy an archive.

import { api } from '../api.js';
import { deleteFunction, nameFromFile, policies } from '../actions.js';
import { sparkline } from '../charts.js';
import { every, flash, formatMs, formatRate, h } from '../dom.js';
import { sampler } from '../metrics.js';

const REFRESH_MS = 2000;
const COLUMNS = [
  'Function',
  'Runtime',
  'Memory',
  'Timeout',
  'Concurrency',
  'Single-use',
  'Keepalive',
  'Min–max',
  'Instances',
  'Calls',
  'Errors',
  'Call rate',
  '',
];

function instancesCell({ instances, queued }) {
  return h(
    'td',
    { class: 'instances', dataset: { testid: 'function-instances' } },
    h('span', { class: 'pill idle', title: 'idle' }, `${instances.idle} idle`),
    h('span', { class: 'pill busy', title: 'busy' }, `${instances.busy} busy`),
    instances.starting
      ? h('span', { class: 'pill starting', title: 'starting' }, `${instances.starting} starting`)
      : null,
    queued ? h('span', { class: 'pill queued', title: 'queued calls' }, `${queued} queued`) : null,
  );
}

/**
 * Errors (calls that answered 5xx or that Tern failed: timeout, crash, queue full…): the count since
 * the node started, and the share of the recent calls, red when any recent call failed.
 */
export function errorsCell(calls) {
  const c = calls ?? { calls: 0, errors: 0, recentCalls: 0, recentErrors: 0 };
  const rate = c.recentCalls ? c.recentErrors / c.recentCalls : 0;
  const percent = `${Math.round(rate * 100)}%`;
  return h(
    'td',
    {
      class: `num errors${c.recentErrors ? ' failing' : ''}`,
      title: `${c.errors} of ${c.calls} calls failed since the node started; ${c.recentErrors} of the last ${c.recentCalls}`,
      dataset: { testid: 'function-errors', errors: String(c.errors), rate: String(rate) },
    },
    c.errors ? h('b', {}, String(c.errors)) : '0',
    c.recentCalls ? h('span', { class: 'rate' }, ` · ${percent} recent`) : null,
  );
}

function rateCell(name) {
  const rate = sampler.recentRate(name);
  const trend = sampler.series(name).map((p) => p.rate ?? 0);
  return h(
    'td',
    { class: 'num', dataset: { testid: 'function-rate' } },
    h(
      'div',
      { class: 'rate-box' },
      trend.length > 1 ? sparkline(trend.slice(-60)) : null,
      h('span', {}, formatRate(rate)),
    ),
  );
}

function row(fn, onDeleted) {
  const { spec, status } = fn;
  const p = policies(spec);
  return h(
    'tr',
    { dataset: { testid: 'function-row', name: fn.name } },
    h(
      'td',
      {},
      h(
        'a',
        { href: `#/functions/${encodeURIComponent(fn.name)}`, class: 'fn-link', dataset: { testid: 'function-link' } },
        fn.name,
      ),
      spec.private ? h('span', { class: 'badge', title: 'invocations need the token' }, 'private') : null,
    ),
    h('td', {}, h('span', { class: `tag rt-${spec.runtime}` }, spec.runtime)),
    h('td', { class: 'num' }, p.memory),
    h('td', { class: 'num' }, formatMs(spec.timeoutMs)),
    h('td', { class: 'num' }, p.concurrency),
    h('td', {}, p.singleUse),
    h('td', { class: 'num' }, formatMs(spec.keepaliveMs)),
    h('td', { class: 'num' }, p.instances),
    instancesCell(status),
    h('td', { class: 'num', dataset: { testid: 'function-invocations' } }, status.invocations),
    errorsCell(fn.calls),
    rateCell(fn.name),
    h(
      'td',
      {},
      h(
        'button',
        {
          type: 'button',
          class: 'danger small',
          dataset: { testid: 'function-delete' },
          onclick: async () => (await deleteFunction(fn.name)) && onDeleted(),
        },
        'Delete',
      ),
    ),
  );
}

/** The deploy form: an archive file and a name defaulting to the file's base name. */
function deployForm(onDeployed) {
  const file = h('input', {
    type: 'file',
    id: 'deploy-file',
    name: 'archive',
    accept: '.tar.gz,.tgz,.zip,application/gzip,application/zip',
    required: true,
    dataset: { testid: 'deploy-file' },
  });
  const name = h('input', {
    type: 'text',
    id: 'deploy-name',
    name: 'name',
    required: true,
    pattern: '[a-z0-9][a-z0-9\\-]{0,62}',
    placeholder: 'from the file name',
    spellcheck: 'false',
    dataset: { testid: 'deploy-name' },
  });
  const submit = h('button', { type: 'submit', dataset: { testid: 'deploy-submit' } }, 'Deploy');
  const result = h('p', { class: 'deploy-result', role: 'status', dataset: { testid: 'deploy-result' } });
  let nameEdited = false;

  name.addEventListener('input', () => (nameEdited = name.value !== ''));
  file.addEventListener('change', () => {
    const chosen = file.files?.[0];
    if (chosen && !nameEdited) name.value = nameFromFile(chosen.name);
  });

  const form = h(
    'form',
    { class: 'card deploy', dataset: { testid: 'deploy-form' } },
    h('h2', {}, 'Deploy a function'),
    h(
      'p',
      { class: 'hint' },
      'A .tar.gz or .zip of the function folder, with function.toml at its root. The same name updates it.',
    ),
    h(
      'div',
      { class: 'row' },
      h('label', { for: 'deploy-file' }, 'Archive', file),
      h('label', { for: 'deploy-name' }, 'Name', name),
      submit,
    ),
    result,
  );

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return show('Choose a .tar.gz or .zip archive.', 'error');
    if (!name.checkValidity()) return show('The name must be 1–63 characters of a-z, 0-9 and "-".', 'error');
    submit.disabled = true;
    show(`Deploying ${name.value}…`, 'pending');
    try {
      const { created, fn } = await api.deploy(name.value, chosen);
      show(`${created ? 'Deployed' : 'Updated'} ${fn.name} (version ${fn.version.slice(0, 12)}).`, 'ok');
      form.reset();
      nameEdited = false;
      onDeployed(fn);
    } catch (err) {
      show(`Deploy failed: ${err.message}`, 'error');
    } finally {
      submit.disabled = false;
    }
  });

  function show(message, kind) {
    result.textContent = message;
    result.className = `deploy-result ${kind}`;
    result.dataset.state = kind;
  }
  return form;
}

export default {
  title: 'Functions',
  render(view, _params, signal) {
    const body = h('tbody');
    const table = h(
      'table',
      { class: 'functions', dataset: { testid: 'functions-table' } },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          COLUMNS.map((c) => h('th', {}, c)),
        ),
      ),
      body,
    );
    const empty = h(
      'p',
      { class: 'muted empty', hidden: true, dataset: { testid: 'functions-empty' } },
      'No functions yet: deploy one above, or with `tern deploy DIR`.',
    );
    const metricsNote = h('p', { class: 'muted small', hidden: true });
    const rows = new Map(); // name -> {json, tr}: rebuild a row only when its function changed

    const drawRows = (functions) => {
      const wanted = functions.map((fn) => {
        const json = JSON.stringify(fn);
        let entry = rows.get(fn.name);
        if (entry?.json !== json) rows.set(fn.name, (entry = { json, tr: row(fn, refresh) }));
        return entry.tr;
      });
      for (const name of rows.keys()) if (!functions.some((fn) => fn.name === name)) rows.delete(name);
      const same = wanted.length === body.children.length && wanted.every((tr, i) => body.children[i] === tr);
      if (!same) body.replaceChildren(...wanted);
      empty.hidden = functions.length > 0;
    };
    const drawRates = () => {
      for (const [name, { tr }] of rows) tr.querySelector('[data-testid=function-rate]')?.replaceWith(rateCell(name));
      metricsNote.hidden = sampler.state.ok;
      metricsNote.textContent = `Live call rate unavailable: ${sampler.state.error ?? ''}`;
    };
    const refresh = async () => {
      try {
        drawRows((await api.functions({ signal })).sort((a, b) => a.name.localeCompare(b.name)));
      } catch (e) {
        if (!signal.aborted) flash(`Cannot list functions: ${e.message}`, 'error');
      }
    };

    view.append(
      h('div', { class: 'page-head' }, h('h1', {}, 'Functions')),
      deployForm(() => void refresh()),
      h('section', { class: 'card' }, h('div', { class: 'table-wrap' }, table), empty, metricsNote),
    );

    every(REFRESH_MS, refresh, signal);
    const onSample = () => drawRates();
    sampler.addEventListener('sample', onSample);
    signal.addEventListener('abort', () => sampler.removeEventListener('sample', onSample), { once: true });
  },
};
