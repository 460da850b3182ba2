// One workflow: its state machine drawn, a run form, its recent runs; a selected run colours the
// graph and lists each state's report (time, status, function, cold or warm, error).

import { ApiError, api } from '../api.js';
import { confirmDialog } from '../confirm.js';
import { stateGraph, statusesOf } from '../components/state-graph.js';
import { every, fill, flash, formatDateTime, formatMs, h } from '../dom.js';

const REFRESH_MS = 2000;

function statesTable(report) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { dataset: { testid: 'wf-run-states' } },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['State', 'Type', 'Status', 'Start', 'Time', 'Function', 'Call', 'Error'].map((c) => h('th', {}, c)),
        ),
      ),
      h(
        'tbody',
        {},
        report.states.map((s) =>
          h(
            'tr',
            { dataset: { testid: 'wf-state-row', state: s.name, status: s.status } },
            h('td', {}, s.name),
            h('td', {}, s.type),
            h(
              'td',
              {},
              h('span', { class: `pill wf-${s.status}` }, s.status),
              s.retries ? ` ${s.retries} retries` : '',
            ),
            h('td', { class: 'num' }, formatMs(s.startMs)),
            h('td', { class: 'num' }, formatMs(s.ms)),
            h('td', {}, s.function ?? ''),
            h(
              'td',
              {},
              s.call ? `${s.call.cold ? 'cold' : 'warm'} on ${s.call.node}, ${formatMs(s.call.totalMs)}` : '',
            ),
            h('td', {}, s.error ? `${s.error}: ${s.cause ?? ''}` : ''),
          ),
        ),
      ),
    ),
    report.statesOmitted ? h('p', { class: 'muted small' }, `${report.statesOmitted} more states not listed`) : null,
  );
}

function runDetail(run) {
  const r = run.report;
  return h(
    'div',
    { dataset: { testid: 'wf-run-detail', run: run.id } },
    h(
      'p',
      {},
      h('b', {}, run.state),
      ` · ${run.async ? 'async' : 'sync'} · started ${formatDateTime(run.startedAt)}`,
      r
        ? ` · total ${formatMs(r.totalMs)}, tasks ${formatMs(r.tasksMs)}, engine and waits ${formatMs(r.overheadMs)}`
        : '',
      r?.resumed ? ' · resumed after a restart' : '',
    ),
    run.error ? h('p', { class: 'error' }, `${run.error.error}: ${run.error.cause}`) : null,
    run.output !== undefined ? h('pre', { class: 'output' }, JSON.stringify(run.output, null, 2)) : null,
    r ? statesTable(r) : null,
  );
}

function runsList(runs, selected, onSelect) {
  if (runs.length === 0) return h('p', { class: 'muted' }, 'No runs yet.');
  return h(
    'ul',
    { class: 'wf-runs', dataset: { testid: 'wf-runs' } },
    runs.map((r) =>
      h(
        'li',
        { class: r.id === selected ? 'selected' : '' },
        h(
          'a',
          { href: '#', dataset: { testid: 'wf-run', id: r.id }, onclick: (e) => (e.preventDefault(), onSelect(r.id)) },
          h('span', { class: `pill wf-${r.state}` }, r.state),
          ` ${formatDateTime(r.startedAt)} ${r.totalMs !== undefined ? formatMs(r.totalMs) : ''} ${r.async ? '(async)' : ''}`,
        ),
      ),
    ),
  );
}

function runForm(name, onRun) {
  const input = h('textarea', { rows: 4, spellcheck: false, dataset: { testid: 'wf-input' } }, '{}');
  const form = h(
    'form',
    { class: 'card' },
    h('h2', {}, 'Run'),
    input,
    h('button', { type: 'submit', dataset: { testid: 'wf-run-submit' } }, 'Run'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const reply = await api.runWorkflow(name, input.value);
    if (reply.status >= 400) flash(`Run failed (${reply.status}): ${reply.body.slice(0, 300)}`, 'error');
    onRun(reply.run);
  });
  return form;
}

export default {
  title: ({ name }) => `Workflow ${name}`,
  render(view, { name }, signal) {
    const graphBox = h('section', { class: 'card wf-graph-box' });
    const runsBox = h('section', { class: 'card' });
    const detailBox = h('section', { class: 'card' });
    let definition;
    let selected;
    const remove = h('button', { type: 'button', class: 'danger', dataset: { testid: 'wf-delete' } }, 'Delete');
    remove.addEventListener('click', async () => {
      if (
        !(await confirmDialog({
          title: `Delete workflow ${name}?`,
          message: 'Runs in progress finish; new runs get 404.',
        }))
      )
        return;
      await api.removeWorkflow(name);
      location.hash = '#/workflows';
    });

    const refresh = async () => {
      try {
        definition ??= (await api.workflow(name, { signal })).definition;
      } catch (e) {
        if (e instanceof ApiError && e.status === 404)
          return fill(view, h('section', { class: 'card' }, h('h1', {}, `No workflow “${name}”`)));
        throw e;
      }
      const runs = await api.workflowRuns(name, { signal });
      selected ??= runs[0]?.id;
      const run = selected ? await api.workflowRun(name, selected, { signal }).catch(() => undefined) : undefined;
      fill(graphBox, h('h2', {}, 'State machine'), stateGraph(definition, statusesOf(run?.report)));
      fill(
        runsBox,
        h('h2', {}, 'Recent runs'),
        runsList(runs, selected, (id) => ((selected = id), void refresh())),
      );
      fill(detailBox, h('h2', {}, 'Run'), run ? runDetail(run) : h('p', { class: 'muted' }, 'Pick a run.'));
    };
    view.append(
      h(
        'div',
        { class: 'page-head' },
        h('a', { href: '#/workflows', class: 'back' }, '← Workflows'),
        h('h1', { dataset: { testid: 'wf-title' } }, name),
        h('span', { class: 'spacer' }),
        remove,
      ),
      graphBox,
      h(
        'div',
        { class: 'grid two' },
        runForm(name, (id) => ((selected = id ?? selected), void refresh())),
        runsBox,
      ),
      detailBox,
    );
    every(REFRESH_MS, refresh, signal);
  },
};
